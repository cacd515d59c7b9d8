"""Translating Anthropic's answers, whole, streamed or failed, into OpenAI's.

Both the Anthropic adapter and Vertex AI's Claude models use it: their answers
are the same. Thinking comes back as ``reasoning_content``, and in whole
answers also as ``thinking_blocks`` with their signatures, which a client can
send back on its next assistant turn; streams carry the thinking text only.
Citations and server-tool blocks are not translated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from app import errors
from app.providers import shapes, sse
from app.providers.base import Call, build_error, dumps, loads_or_none

logger = logging.getLogger(__name__)

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic's error types (https://docs.claude.com/en/api/errors)
_BY_TYPE: dict[str, type[errors.GatewayError]] = {
    "invalid_request_error": errors.InvalidRequest,
    "request_too_large": errors.InvalidRequest,
    "authentication_error": errors.AuthenticationError,
    "billing_error": errors.PermissionDenied,
    "permission_error": errors.PermissionDenied,
    "not_found_error": errors.NotFound,
    "rate_limit_error": errors.RateLimited,
    "api_error": errors.UpstreamServerError,
    "timeout_error": errors.UpstreamTimeout,
    "overloaded_error": errors.ServiceUnavailable,
}

# Message texts that say more than the type does (lower case).
_CONTEXT_TEXT = ("prompt is too long", "prompt: length", "exceed context limit")
_POLICY_TEXT = ("content filtering policy",)
_BILLING_TEXT = ("credit balance is too low",)


def finish_reason(value: Any) -> str:
    return FINISH_REASONS.get(str(value), "stop")


def usage_block(usage: Mapping[str, Any]) -> dict:
    """OpenAI usage; Anthropic's input_tokens leaves out the cached parts."""
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    prompt = (int(usage.get("input_tokens") or 0) + cache_read
              + int(usage.get("cache_creation_input_tokens") or 0))
    return shapes.usage(prompt, int(usage.get("output_tokens") or 0),
                        cached=cache_read)


def chat_response(call: Call, payload: Mapping[str, Any]) -> dict:
    """A ``chat.completion`` from a Messages API answer."""
    texts, reasoning, calls, thinking = [], [], [], []
    for block in payload.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            arguments = dumps(block.get("input") or {}).decode()
            calls.append(shapes.tool_call(block.get("id") or "",
                                          block.get("name") or "", arguments))
        elif kind in ("thinking", "redacted_thinking"):
            reasoning.append(block.get("thinking") or "")
            thinking.append(block)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if calls:
        message["tool_calls"] = calls
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    if thinking:
        message["thinking_blocks"] = thinking
    choice = {"index": 0, "message": message, "logprobs": None,
              "finish_reason": finish_reason(payload.get("stop_reason"))}
    return shapes.chat_response(call, [choice],
                                usage_block(payload.get("usage") or {}))


class StreamTranslator:
    """Turns the events of one Anthropic stream into OpenAI chunks."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.writer = shapes.ChunkWriter(call)
        self.tools: dict[int, int] = {}  # content block index -> tool call index
        self.usage: dict[str, Any] = {}
        self.done = False

    def run(self, raw: Iterable[bytes]) -> Iterator[dict]:
        for event in sse.events(raw):
            payload = loads_or_none(event.data.encode())
            if not isinstance(payload, dict):
                raise errors.BadGateway("Anthropic sent a malformed stream event.")
            yield from self.handle(payload.get("type") or event.name, payload)
            if self.done:
                return
        raise errors.BadGateway("The Anthropic stream ended before message_stop.")

    def handle(self, kind: str, payload: dict) -> Iterable[dict]:
        handlers = {
            "message_start": self.message_start,
            "content_block_start": self.block_start,
            "content_block_delta": self.block_delta,
            "message_delta": self.message_delta,
            "message_stop": self.message_stop,
            "error": self.error,
        }
        handler = handlers.get(kind)
        return handler(payload) if handler else ()

    def message_start(self, payload: dict) -> list[dict]:
        self.usage.update((payload.get("message") or {}).get("usage") or {})
        return [self.writer.delta({"role": "assistant", "content": ""})]

    def block_start(self, payload: dict) -> list[dict]:
        block = payload.get("content_block") or {}
        if block.get("type") == "tool_use":
            index = self.tools.setdefault(int(payload.get("index") or 0),
                                          len(self.tools))
            call = shapes.tool_call(block.get("id") or "", block.get("name") or "",
                                    "")
            return [self.writer.delta({"tool_calls": [{"index": index, **call}]})]
        if block.get("type") == "text" and block.get("text"):
            return [self.writer.delta({"content": block["text"]})]
        return []

    def block_delta(self, payload: dict) -> list[dict]:
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self.writer.delta({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self.writer.delta({"reasoning_content": delta["thinking"]})]
        index = self.tools.get(int(payload.get("index") or 0))
        if kind == "input_json_delta" and delta.get("partial_json") \
                and index is not None:
            fragment = {"index": index,
                        "function": {"arguments": delta["partial_json"]}}
            return [self.writer.delta({"tool_calls": [fragment]})]
        return []

    def message_delta(self, payload: dict) -> list[dict]:
        self.usage.update(payload.get("usage") or {})
        stop = (payload.get("delta") or {}).get("stop_reason")
        return [self.writer.delta({}, finish=finish_reason(stop))]

    def message_stop(self, payload: dict) -> list[dict]:
        self.done = True
        if self.call.include_usage:
            return [self.writer.usage(usage_block(self.usage))]
        return []

    def error(self, payload: dict) -> list[dict]:
        raise in_band_error(payload)


def error_class(status: int | None, payload: Any) -> type[errors.GatewayError]:
    """The class for an Anthropic error: its message, then its type, then status."""
    inner = payload.get("error") if isinstance(payload, Mapping) else None
    inner = inner if isinstance(inner, Mapping) else {}
    message = str(inner.get("message") or "").lower()
    if status is None or 400 <= status < 500:
        if any(text in message for text in _CONTEXT_TEXT):
            return errors.ContextWindowExceeded
        if any(text in message for text in _POLICY_TEXT):
            return errors.ContentPolicyViolation
        if any(text in message for text in _BILLING_TEXT):
            return errors.PermissionDenied
    by_type = _BY_TYPE.get(str(inner.get("type")))
    if by_type is not None:
        return by_type
    if status is None:
        return errors.UpstreamServerError
    return errors.class_for_upstream_status(status)


def http_error(status: int, headers: Mapping[str, str],
               content: bytes) -> errors.GatewayError:
    payload = loads_or_none(content)
    return build_error(error_class(status, payload), payload, status, headers)


def in_band_error(payload: Mapping[str, Any]) -> errors.GatewayError:
    """The error an ``event: error`` reported inside a 200 stream."""
    cls = error_class(None, payload)
    logger.info("Anthropic stream reported an error (%s)", cls.__name__)
    return build_error(cls, payload, 200, {})
