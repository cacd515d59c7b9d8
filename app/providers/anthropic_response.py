"""Translating Anthropic's answers, whole, streamed or failed, into OpenAI's.

Both the Anthropic adapter and Vertex AI's Claude models use it: their answers
are the same. Thinking comes back as ``reasoning_content``, and in whole
answers also as ``thinking_blocks`` with their signatures, which a client can
send back on its next assistant turn; streams carry the thinking text only.
Citations and server-tool blocks are not translated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from app import errors
from app.providers import openai_shapes, sse
from app.providers.base import (
    Call,
    TextTable,
    build_error,
    class_by_text,
    dumps,
    loads_or_none,
)

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
_BY_TEXT: TextTable = (
    (("prompt is too long", "prompt: length", "exceed context limit"),
     errors.ContextWindowExceeded),
    (("content filtering policy",), errors.ContentPolicyViolation),
    (("credit balance is too low",), errors.PermissionDenied),
)


def finish_reason(value: Any) -> str:
    return FINISH_REASONS.get(str(value), "stop")


def usage_block(usage: Mapping[str, Any]) -> dict:
    """OpenAI usage; Anthropic's input_tokens leaves out the cached parts."""
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    prompt = (int(usage.get("input_tokens") or 0) + cache_read
              + int(usage.get("cache_creation_input_tokens") or 0))
    return openai_shapes.usage(prompt, int(usage.get("output_tokens") or 0),
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
            calls.append(openai_shapes.tool_call(
                block.get("id") or "", block.get("name") or "", arguments))
        elif kind in ("thinking", "redacted_thinking"):
            reasoning.append(block.get("thinking") or "")
            thinking.append(block)
    text = "".join(texts) if texts or not calls else None
    message = openai_shapes.assistant_message(text, calls, "".join(reasoning))
    if thinking:
        message["thinking_blocks"] = thinking
    return openai_shapes.completion(call, message,
                                    finish_reason(payload.get("stop_reason")),
                                    usage_block(payload.get("usage") or {}))


def check_answer(payload: Mapping[str, Any]) -> None:
    """A 200 answer may still be an ``error`` object; raise it."""
    if payload.get("type") == "error":
        raise in_band_error(payload)


class StreamTranslator:
    """Turns the events of one Anthropic stream into OpenAI chunks."""

    def __init__(self, call: Call) -> None:
        self.chunks = openai_shapes.Chunks(call)
        self.usage: dict[str, Any] = {}
        self.handlers: dict[str, Callable[[dict], list[dict]]] = {
            "message_start": self.message_start,
            "content_block_start": self.block_start,
            "content_block_delta": self.block_delta,
            "message_delta": self.message_delta,
            "error": self.error,
        }

    def run(self, raw: Iterable[bytes]) -> Iterator[dict]:
        for event in sse.events(raw):
            payload = loads_or_none(event.data.encode())
            if not isinstance(payload, dict):
                raise errors.BadGateway("Anthropic sent a malformed stream event.")
            kind = payload.get("type") or event.name
            if kind == "message_stop":
                self.chunks.tokens = usage_block(self.usage)
                yield from self.chunks.close()
                return
            handler = self.handlers.get(kind)
            yield from handler(payload) if handler else ()
        raise errors.BadGateway("The Anthropic stream ended before message_stop.")

    def message_start(self, payload: dict) -> list[dict]:
        self.usage.update((payload.get("message") or {}).get("usage") or {})
        return [self.chunks.delta({"role": "assistant", "content": ""})]

    def block_start(self, payload: dict) -> list[dict]:
        block = payload.get("content_block") or {}
        if block.get("type") == "tool_use":
            index = self.chunks.tool_index(int(payload.get("index") or 0))
            call = openai_shapes.tool_call(block.get("id") or "",
                                           block.get("name") or "", "")
            return [self.chunks.delta({"tool_calls": [{"index": index, **call}]})]
        if block.get("type") == "text" and block.get("text"):
            return [self.chunks.delta({"content": block["text"]})]
        return []

    def block_delta(self, payload: dict) -> list[dict]:
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self.chunks.delta({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self.chunks.delta({"reasoning_content": delta["thinking"]})]
        index = self.chunks.known_tool(int(payload.get("index") or 0))
        if kind == "input_json_delta" and delta.get("partial_json") \
                and index is not None:
            fragment = {"index": index,
                        "function": {"arguments": delta["partial_json"]}}
            return [self.chunks.delta({"tool_calls": [fragment]})]
        return []

    def message_delta(self, payload: dict) -> list[dict]:
        self.usage.update(payload.get("usage") or {})
        stop = (payload.get("delta") or {}).get("stop_reason")
        return [self.chunks.finish(finish_reason(stop))]

    def error(self, payload: dict) -> list[dict]:
        raise in_band_error(payload)


def error_class(status: int | None, payload: Any) -> type[errors.GatewayError]:
    """The class for an Anthropic error: its message, then its type, then status."""
    inner = payload.get("error") if isinstance(payload, Mapping) else None
    inner = inner if isinstance(inner, Mapping) else {}
    by_text = class_by_text(str(inner.get("message") or ""), _BY_TEXT)
    if by_text is not None and (status is None or 400 <= status < 500):
        return by_text
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
