"""Cohere Chat v2's typed server-sent events, relayed as OpenAI chunks.

Each event's JSON names its ``type``: ``message-start``, ``content-delta``
(text, or a reasoning model's ``thinking``), ``tool-plan-delta``,
``tool-call-start``/``-delta``/``-end``, citations, and ``message-end``, which
carries the finish reason, the usage and, when generation failed, an ``error``.
There is no ``[DONE]``; a stream that closes before ``message-end`` was cut.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from app import errors
from app.providers import sse
from app.providers.base import Call, loads_or_none
from app.providers.openai_shapes import Chunks, usage

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
FAILED: dict[str, type[errors.GatewayError]] = {
    "ERROR": errors.UpstreamServerError,
    "TIMEOUT": errors.UpstreamTimeout,
}


def finish_reason(value: Any, error: str) -> str:
    """OpenAI's finish reason; a failed generation raises instead."""
    reason = str(value or "")
    if reason in FAILED or error:
        cls = FAILED.get(reason, errors.UpstreamServerError)
        raise cls(error or f"Cohere's generation ended with {reason}.")
    return FINISH_REASONS.get(reason, "stop")


def tokens(raw: Any) -> dict[str, Any]:
    """Usage from ``usage.tokens``, falling back to the billed units."""
    raw = raw if isinstance(raw, Mapping) else {}
    counted = raw.get("tokens") or raw.get("billed_units") or {}
    return usage(int(counted.get("input_tokens") or 0),
                 int(counted.get("output_tokens") or 0))


def message_delta(event: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((event.get("delta") or {}).get("message")) or {}


class CohereStream:
    """Turns one Chat v2 event stream into the chunks of one answer."""

    def __init__(self, call: Call) -> None:
        self.chunks = Chunks(call)
        self.handlers: dict[str, Callable[[Mapping[str, Any]], Iterator[dict]]] = {
            "message-start": self.message_start,
            "content-delta": self.content_delta,
            "tool-plan-delta": self.tool_plan_delta,
            "tool-call-start": self.tool_call_start,
            "tool-call-delta": self.tool_call_delta,
            "message-end": self.message_end,
        }

    def relay(self, raw: Iterable[bytes]) -> Iterator[dict]:
        for event in sse.events(raw):
            payload = loads_or_none(event.data.encode())
            if not isinstance(payload, Mapping):
                raise errors.BadGateway("Cohere sent a malformed stream event.")
            handler = self.handlers.get(str(payload.get("type") or event.name))
            if handler is not None:
                yield from handler(payload)
        yield from self.chunks.close()

    def message_start(self, event: Mapping[str, Any]) -> Iterator[dict]:
        yield self.chunks.delta({"role": "assistant", "content": ""})

    def content_delta(self, event: Mapping[str, Any]) -> Iterator[dict]:
        content = message_delta(event).get("content") or {}
        if content.get("text"):
            yield self.chunks.delta({"content": content["text"]})
        elif content.get("thinking"):
            yield self.chunks.delta({"reasoning_content": content["thinking"]})

    def tool_plan_delta(self, event: Mapping[str, Any]) -> Iterator[dict]:
        plan = message_delta(event).get("tool_plan")
        if plan:
            yield self.chunks.delta({"reasoning_content": plan})

    def tool_call_start(self, event: Mapping[str, Any]) -> Iterator[dict]:
        started = message_delta(event).get("tool_calls") or {}
        function = started.get("function") or {}
        index = self.chunks.tool_index(event.get("index"))
        yield self.chunks.delta({"tool_calls": [{
            "index": index, "id": started.get("id"), "type": "function",
            "function": {"name": function.get("name"),
                         "arguments": function.get("arguments") or ""},
        }]})

    def tool_call_delta(self, event: Mapping[str, Any]) -> Iterator[dict]:
        function = (message_delta(event).get("tool_calls") or {}).get("function") or {}
        fragment = function.get("arguments")
        if fragment:
            index = self.chunks.tool_index(event.get("index"))
            yield self.chunks.delta({"tool_calls": [{
                "index": index, "function": {"arguments": fragment}}]})

    def message_end(self, event: Mapping[str, Any]) -> Iterator[dict]:
        delta = event.get("delta") or {}
        error = str(delta.get("error") or "")
        finish = finish_reason(delta.get("finish_reason"), error)
        self.chunks.tokens = tokens(delta.get("usage"))
        yield self.chunks.finish(finish)
