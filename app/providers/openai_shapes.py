"""OpenAI's answer shapes, built for adapters whose upstream speaks another.

Answers, stream chunks (one id and ``created`` per stream, with the bookkeeping
every provider's stream needs), usage and embeddings (base64 when the client
asked), plus the small HTTP helpers the translating adapters share.
"""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import Iterator, Mapping
from typing import Any

from app import errors
from app.providers.base import Call, loads_or_none, new_id, now

logger = logging.getLogger(__name__)


def usage(prompt: int, completion: int, cached: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached:
        result["prompt_tokens_details"] = {"cached_tokens": cached}
    return result


def completion(call: Call, message: dict[str, Any], finish: str,
               tokens: dict[str, Any]) -> dict[str, Any]:
    """The whole answer: ``chat.completion``, or ``text_completion`` for a prompt."""
    if call.endpoint == "completions":
        choice: dict[str, Any] = {"index": 0, "text": message.get("content") or "",
                                  "logprobs": None, "finish_reason": finish}
        kind, prefix = "text_completion", "cmpl"
    else:
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": finish}
        kind, prefix = "chat.completion", "chatcmpl"
    return {"id": new_id(prefix), "object": kind, "created": now(),
            "model": call.requested_model, "choices": [choice], "usage": tokens}


def assistant_message(text: str | None, tool_calls: list[dict[str, Any]],
                      reasoning: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def tool_call(ident: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": ident, "type": "function",
            "function": {"name": name, "arguments": arguments}}


class Chunks:
    """Builds the chunks of one streamed answer, all with one id and ``created``.

    It also keeps what every provider's stream tracks: which tool-call index a
    provider's block or call number maps to, whether the answer finished, and
    the usage to send last when the client asked for it.
    """

    def __init__(self, call: Call) -> None:
        self.call = call
        self.legacy = call.endpoint == "completions"
        self.id = new_id("cmpl" if self.legacy else "chatcmpl")
        self.created = now()
        self.object = "text_completion" if self.legacy else "chat.completion.chunk"
        self.tokens = usage(0, 0)
        self.finished = False
        self._tool_indexes: dict[Any, int] = {}

    def tool_index(self, key: Any) -> int:
        """OpenAI's tool-call index for a provider's key, numbered from 0."""
        return self._tool_indexes.setdefault(key, len(self._tool_indexes))

    @property
    def tool_calls(self) -> int:
        return len(self._tool_indexes)

    def finish(self, reason: str) -> dict:
        self.finished = True
        return self.delta({}, reason)

    def close(self) -> Iterator[dict]:
        """End the stream: a cut-short answer raises; else the usage chunk if asked."""
        if not self.finished:
            raise errors.BadGateway(
                f"The {self.call.provider} stream ended before the answer did.")
        if self.call.include_usage:
            yield self.usage(self.tokens)

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> dict:
        if self.legacy:
            choice = {"index": 0, "text": delta.get("content") or "",
                      "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "delta": delta, "logprobs": None,
                      "finish_reason": finish}
        return self._chunk([choice])

    def usage(self, tokens: dict[str, Any]) -> dict:
        chunk = self._chunk([])
        chunk["usage"] = tokens
        return chunk

    def _chunk(self, choices: list[dict[str, Any]]) -> dict:
        return {"id": self.id, "object": self.object, "created": self.created,
                "model": self.call.requested_model, "choices": choices}


def embeddings(call: Call, vectors: list[list[float]], prompt_tokens: int) -> dict:
    """OpenAI's embeddings list, as floats or as base64 when the client asked."""
    as_base64 = call.body.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": index,
             "embedding": _base64_floats(vector) if as_base64 else vector}
            for index, vector in enumerate(vectors)]
    return {"object": "list", "data": data, "model": call.requested_model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}


def _base64_floats(vector: list[float]) -> str:
    """Little-endian float32, base64-encoded: what OpenAI's SDK decodes."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def json_headers(call: Call, key: str | None = None) -> dict[str, str]:
    """JSON content type, the bearer key if any, then the deployment's extra headers."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    headers.update(call.credentials.get("extra_headers") or {})
    return headers


def json_answer(call: Call, status: int, content: bytes) -> dict[str, Any]:
    """A 2xx body as a JSON object; anything else is the upstream's fault."""
    payload = loads_or_none(content)
    if not isinstance(payload, dict):
        raise errors.BadGateway(
            f"The {call.provider} upstream answered with malformed JSON.",
            upstream_status=status)
    return payload


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A response header by name, whatever the case of the mapping's keys."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, found in headers.items():
        if key.lower() == lowered:
            return found
    return None
