"""OpenAI's request and response shapes, for adapters whose upstream speaks another.

The translating adapters (Bedrock, Cohere, Ollama) share three jobs that have
nothing to do with any one provider: deciding which OpenAI params of a body they
must honour, reading the client's messages, prompt and input into plain values,
and building OpenAI's answers, chunks and usage. This module does those jobs
once, so each adapter holds only its provider's own mapping.
"""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from app import errors
from app.providers.base import OPENAI_PARAMS, Call, loads_or_none, new_id, now

logger = logging.getLogger(__name__)

# Params that ask nothing of the model's answer: accepted and not forwarded.
INERT_PARAMS = frozenset({
    "model", "stream", "stream_options", "user", "safety_identifier",
    "prompt_cache_key", "store",
})

# A param sent with OpenAI's own default asks for nothing a provider must do.
OPENAI_DEFAULTS: dict[str, Any] = {
    "n": 1, "best_of": 1, "logprobs": False, "echo": False,
    "presence_penalty": 0, "frequency_penalty": 0, "parallel_tool_calls": True,
    "logit_bias": {}, "modalities": ["text"], "response_format": {"type": "text"},
}

_MISSING = object()


def refuse(call: Call, name: str, detail: str = "") -> None:
    """Answer 400 for a param the provider cannot honour, unless it may be dropped."""
    if call.drop_params:
        logger.debug("dropping %s for provider %s", name, call.provider)
        return
    message = f"Provider '{call.provider}' does not support the parameter '{name}'"
    raise errors.UnsupportedParam(
        f"{message}{': ' + detail if detail else '.'}"
        " Set drop_params to drop it instead.",
        param=name,
    )


def requested(call: Call, handled: frozenset[str]) -> dict[str, Any]:
    """The body's OpenAI params that the adapter maps, after refusing the rest.

    ``handled`` names the params the adapter translates; any other OpenAI param
    set to something other than OpenAI's default is refused (or dropped).
    """
    known = OPENAI_PARAMS[call.endpoint]
    params: dict[str, Any] = {}
    for name, value in call.body.items():
        if name not in known or value is None or name in INERT_PARAMS:
            continue
        if name in handled:
            params[name] = value
        elif OPENAI_DEFAULTS.get(name, _MISSING) != value:
            refuse(call, name)
    return params


def passthrough(call: Call) -> dict[str, Any]:
    """The provider-specific params of the body: every key OpenAI does not define."""
    known = OPENAI_PARAMS[call.endpoint]
    return {name: value for name, value in call.body.items() if name not in known}


def max_tokens(params: Mapping[str, Any]) -> int | None:
    """The output limit, preferring the newer ``max_completion_tokens``."""
    value = params.get("max_completion_tokens", params.get("max_tokens"))
    return value if isinstance(value, int) else None


def stop_list(params: Mapping[str, Any]) -> list[str] | None:
    stop = params.get("stop")
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def chat_messages(call: Call) -> list[Mapping[str, Any]]:
    """The conversation: the chat messages, or the legacy prompt as one user turn."""
    if call.endpoint == "chat":
        messages = call.body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise errors.InvalidRequest("'messages' must be a non-empty list.",
                                        param="messages")
        return messages
    prompt = call.body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' takes one text prompt per request.",
            param="prompt",
        )
    return [{"role": "user", "content": prompt}]


def content_text(content: Any) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = [part.get("text", "") for part in content
             if isinstance(part, Mapping) and part.get("type") == "text"]
    return "".join(texts)


def data_url(url: str) -> tuple[str, str] | None:
    """Split ``data:<mime>;base64,<data>`` into its MIME type and base64 data."""
    if not url.startswith("data:"):
        return None
    header, comma, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if not comma or encoding != "base64":
        return None
    return mime.lower(), data


def image_data(call: Call, part: Mapping[str, Any]) -> tuple[str, str]:
    """The MIME type and base64 data of an inline image part.

    Adapters do no I/O of their own, so an image given by http(s) URL is refused
    rather than downloaded.
    """
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    parsed = data_url(url) if isinstance(url, str) else None
    if parsed is None:
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' takes images only inline as base64 data "
            "URLs (data:image/png;base64,...).",
            param="messages",
        )
    return parsed


def tool_arguments(tool_call: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of an OpenAI tool call, decoded from their JSON string."""
    function = tool_call.get("function") or {}
    raw = function.get("arguments") or "{}"
    try:
        value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise errors.InvalidRequest(
            "A tool call's 'arguments' must be a JSON object.", param="messages")
    return value


def embedding_inputs(call: Call) -> list[str]:
    """The texts to embed; token-id inputs are OpenAI's alone."""
    value = call.body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts \
            or not all(isinstance(text, str) for text in texts):
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' embeds text: 'input' must be a string "
            "or a non-empty list of strings.",
            param="input",
        )
    return texts


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
