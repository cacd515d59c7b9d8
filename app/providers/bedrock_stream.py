"""ConverseStream's binary event stream, relayed as OpenAI chunks.

The stream is AWS's ``application/vnd.amazon.eventstream`` framing, decoded by
botocore (checksums included). Each frame names its event; the JSON payload is
that event's shape. Usage arrives in the ``metadata`` event after
``messageStop``, so the finish chunk goes out at ``messageStop`` and the usage
chunk, when asked for, at the end of the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from app import errors
from app.providers.base import Call, loads_or_none
from app.providers.bedrock_converse import converse_usage, finish_reason
from app.providers.bedrock_errors import stream_error
from app.providers.openai_shapes import Chunks

logger = logging.getLogger(__name__)

Frame = tuple[Mapping[str, Any], Any]


def frames(raw: Iterable[bytes]) -> Iterator[Frame]:
    """Decode raw bytes, split anywhere, into (headers, JSON payload) frames."""
    from botocore.eventstream import EventStreamBuffer, ParserError

    buffer = EventStreamBuffer()
    try:
        for chunk in raw:
            buffer.add_data(chunk)
            for message in buffer:
                yield message.headers, loads_or_none(message.payload)
    except ParserError as exc:
        raise errors.BadGateway("Bedrock sent a malformed event stream.") from exc


class ConverseStream:
    """Turns one ConverseStream's frames into the chunks of one answer."""

    def __init__(self, call: Call) -> None:
        self.chunks = Chunks(call)
        self.handlers: dict[str, Callable[[Mapping[str, Any]], Iterator[dict]]] = {
            "messageStart": self.message_start,
            "contentBlockStart": self.block_start,
            "contentBlockDelta": self.block_delta,
            "messageStop": self.message_stop,
            "metadata": self.metadata,
        }

    def relay(self, raw: Iterable[bytes]) -> Iterator[dict]:
        for headers, payload in frames(raw):
            if headers.get(":message-type") in ("exception", "error"):
                raise stream_error(headers, payload)
            handler = self.handlers.get(str(headers.get(":event-type")))
            if handler is not None and isinstance(payload, Mapping):
                yield from handler(payload)
        yield from self.chunks.close()

    def message_start(self, payload: Mapping[str, Any]) -> Iterator[dict]:
        yield self.chunks.delta({"role": "assistant", "content": ""})

    def block_start(self, payload: Mapping[str, Any]) -> Iterator[dict]:
        use = (payload.get("start") or {}).get("toolUse")
        if not isinstance(use, Mapping):
            return
        index = self.chunks.tool_index(payload.get("contentBlockIndex"))
        yield self.chunks.delta({"tool_calls": [{
            "index": index, "id": use.get("toolUseId"), "type": "function",
            "function": {"name": use.get("name"), "arguments": ""},
        }]})

    def block_delta(self, payload: Mapping[str, Any]) -> Iterator[dict]:
        delta = payload.get("delta") or {}
        if "text" in delta:
            yield self.chunks.delta({"content": delta["text"]})
        elif "toolUse" in delta:
            fragment = (delta["toolUse"] or {}).get("input") or ""
            yield self.chunks.delta({"tool_calls": [{
                "index": self.chunks.tool_index(payload.get("contentBlockIndex")),
                "function": {"arguments": fragment},
            }]})
        elif "reasoningContent" in delta:
            text = (delta["reasoningContent"] or {}).get("text")
            if text:
                yield self.chunks.delta({"reasoning_content": text})

    def message_stop(self, payload: Mapping[str, Any]) -> Iterator[dict]:
        yield self.chunks.finish(finish_reason(payload.get("stopReason")))

    def metadata(self, payload: Mapping[str, Any]) -> Iterator[dict]:
        self.chunks.tokens = converse_usage(payload.get("usage"))
        return iter(())
