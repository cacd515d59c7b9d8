"""Ollama's streamed ``/api/chat`` answer: newline-delimited JSON, not SSE.

Every line is one JSON object carrying a fragment of ``message`` (``content``,
``thinking``, whole ``tool_calls``); the last has ``done: true`` with the
``done_reason`` and the token counts. A failure mid-stream arrives as a line
``{"error": "..."}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from app import errors
from app.providers import sse
from app.providers.base import (
    Call,
    TextTable,
    class_by_text,
    dumps,
    loads_or_none,
    new_id,
)
from app.providers.openai_shapes import Chunks, tool_call, usage

_BY_TEXT: TextTable = (
    (("exceeds the context length", "exceeds the available context size",
      "exceeds maximum context length", "input length exceeds"),
     errors.ContextWindowExceeded),
)


def error_class(message: str, default: type[errors.GatewayError]
                ) -> type[errors.GatewayError]:
    """A full context window is told only by Ollama's message."""
    return class_by_text(message, _BY_TEXT) or default


def finish_reason(done_reason: Any, called_tools: bool) -> str:
    """``length`` when cut short; ``tool_calls`` when the answer called a tool."""
    if done_reason == "length":
        return "length"
    return "tool_calls" if called_tools else "stop"


def tokens(payload: Mapping[str, Any]) -> dict[str, Any]:
    return usage(int(payload.get("prompt_eval_count") or 0),
                 int(payload.get("eval_count") or 0))


def openai_tool_calls(items: Any) -> list[dict[str, Any]]:
    """Ollama's tool calls, whose arguments are an object, with JSON-text arguments."""
    calls = []
    for item in items or ():
        function = item.get("function") or {}
        arguments = dumps(function.get("arguments") or {}).decode()
        calls.append(tool_call(item.get("id") or new_id("call"),
                               function.get("name", ""), arguments))
    return calls


class OllamaStream:
    """Turns one NDJSON chat stream into the chunks of one answer."""

    def __init__(self, call: Call) -> None:
        self.chunks = Chunks(call)

    def relay(self, raw: Iterable[bytes]) -> Iterator[dict]:
        yield self.chunks.delta({"role": "assistant", "content": ""})
        for line in sse.lines(raw):
            if not line.strip():
                continue
            payload = loads_or_none(line)
            if not isinstance(payload, Mapping):
                raise errors.BadGateway("Ollama sent a malformed stream line.")
            yield from self.handle(payload)
        yield from self.chunks.close()

    def handle(self, payload: Mapping[str, Any]) -> Iterator[dict]:
        if "error" in payload:
            reported = str(payload["error"])
            raise error_class(reported, errors.UpstreamServerError)(reported)
        message = payload.get("message") or {}
        if message.get("thinking"):
            yield self.chunks.delta({"reasoning_content": message["thinking"]})
        if message.get("content"):
            yield self.chunks.delta({"content": message["content"]})
        for call in openai_tool_calls(message.get("tool_calls")):
            indexed = {"index": self.chunks.tool_index(call["id"]), **call}
            yield self.chunks.delta({"tool_calls": [indexed]})
        if payload.get("done"):
            self.chunks.tokens = tokens(payload)
            called = self.chunks.tool_calls > 0
            yield self.chunks.finish(finish_reason(payload.get("done_reason"), called))
