"""OpenAI's answer shapes, built for adapters whose upstream speaks another.

Whole answers, stream chunks (one id and ``created`` per stream, with the
bookkeeping every provider's stream needs), usage and embeddings (base64 when
the client asked). Building them in one place keeps the ids, the echoed model
name and the usage block alike across providers. Chat shapes only: legacy
completions are reshaped from them by :mod:`completions`.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from app import errors
from app.providers.base import Call, new_id, now


def usage(prompt: int, completion: int, total: int | None = None, *,
          cached: int | None = None, reasoning: int | None = None) -> dict:
    """OpenAI's usage block; the details appear only when the provider told."""
    block: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else prompt + completion,
    }
    if cached:
        block["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning:
        block["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return block


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


def choice(message: dict[str, Any], finish: str, index: int = 0) -> dict[str, Any]:
    return {"index": index, "message": message, "logprobs": None,
            "finish_reason": finish}


def chat_response(call: Call, choices: list[dict], usage_block: dict) -> dict:
    """A ``chat.completion`` answering ``call``, echoing the requested model."""
    return {"id": new_id("chatcmpl"), "object": "chat.completion",
            "created": now(), "model": call.requested_model, "choices": choices,
            "usage": usage_block}


def completion(call: Call, message: dict[str, Any], finish: str,
               usage_block: dict) -> dict:
    """A ``chat.completion`` with one choice."""
    return chat_response(call, [choice(message, finish)], usage_block)


class Chunks:
    """Builds the chunks of one streamed answer, all with one id and ``created``.

    It also keeps what every provider's stream tracks: which tool-call index a
    provider's block or call number maps to, whether the answer finished, and
    the usage to send last when the client asked for it.
    """

    def __init__(self, call: Call) -> None:
        self.call = call
        self.id = new_id("chatcmpl")
        self.created = now()
        self.tokens = usage(0, 0)
        self.finished = False
        self._tool_indexes: dict[Any, int] = {}

    def tool_index(self, key: Any) -> int:
        """OpenAI's tool-call index for a provider's key, numbered from 0."""
        return self._tool_indexes.setdefault(key, len(self._tool_indexes))

    def known_tool(self, key: Any) -> int | None:
        return self._tool_indexes.get(key)

    @property
    def tool_calls(self) -> int:
        return len(self._tool_indexes)

    def delta(self, delta: dict[str, Any], finish: str | None = None,
              index: int = 0) -> dict:
        return self._chunk([{"index": index, "delta": delta, "logprobs": None,
                             "finish_reason": finish}])

    def finish(self, reason: str, index: int = 0) -> dict:
        self.finished = True
        return self.delta({}, reason, index)

    def close(self) -> Iterator[dict]:
        """End the stream: a cut-short answer raises; else the usage chunk if asked."""
        if not self.finished:
            raise errors.BadGateway(
                f"The {self.call.provider} stream ended before the answer did.")
        if self.call.include_usage:
            yield self.usage_chunk()

    def usage_chunk(self) -> dict:
        """The closing chunk ``stream_options.include_usage`` asks for."""
        chunk = self._chunk([])
        chunk["usage"] = self.tokens
        return chunk

    def _chunk(self, choices: list[dict[str, Any]]) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk",
                "created": self.created, "model": self.call.requested_model,
                "choices": choices}


def embeddings(call: Call, vectors: Iterable[list[float]], prompt_tokens: int) -> dict:
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


def estimate_tokens(texts: Iterable[str]) -> int:
    """About four characters a token, for providers that report no usage."""
    return sum(max(1, (len(text) + 3) // 4) for text in texts)
