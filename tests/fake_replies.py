"""What a fake upstream answers: one scripted reply, and builders for usual bodies.

A :class:`Reply` is built once when it is scripted, so its wire bytes are
serialised once too: the plain JSON path stays cheap enough to back a benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

CREATED = 1_700_000_000
STREAM_ID = "chatcmpl-fake-stream"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _chunk(data: bytes) -> bytes:
    """Frame ``data`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _has_header(headers: dict[str, str], name: str) -> bool:
    return any(key.lower() == name for key in headers)


@dataclass
class Reply:
    """One scripted answer; at most one of ``json``, ``body``, ``sse``, ``raw_chunks``.

    ``sse`` payloads are sent one event each as ``data: <payload>`` with no
    implicit ``[DONE]``; ``raw_chunks`` are written as they are. Both are sent
    chunked and flushed per item, ``chunk_interval_s`` apart.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    body: bytes | str | None = None
    sse: list[str] | None = None
    raw_chunks: list[bytes] | None = None
    delay_s: float = 0.0
    chunk_interval_s: float = 0.0
    hang: bool = False
    stall_after_chunks: int | None = None
    close_after_chunks: int | None = None

    def __post_init__(self) -> None:
        given = [self.json, self.body, self.sse, self.raw_chunks]
        if sum(item is not None for item in given) > 1:
            raise ValueError("a reply takes one of json, body, sse, raw_chunks")
        if None not in (self.stall_after_chunks, self.close_after_chunks):
            raise ValueError("a stream either stalls or closes, not both")
        self._events = self._encode_events()
        self._payload = self._encode_payload()
        self._head = self._encode_head()

    @property
    def is_stream(self) -> bool:
        return self._events is not None

    def head(self, close: bool) -> bytes:
        """The status line and headers, ready to write."""
        return self._head + (b"Connection: close\r\n\r\n" if close else b"\r\n")

    def payload(self) -> bytes:
        """The whole body of a plain (non-stream) reply."""
        return self._payload

    def wire_events(self) -> list[bytes]:
        """The stream's items, each framed as one HTTP chunk."""
        return self._events or []

    def _encode_events(self) -> list[bytes] | None:
        if self.sse is not None:
            return [_chunk(b"data: %s\n\n" % item.encode()) for item in self.sse]
        if self.raw_chunks is None:
            return None
        if not all(self.raw_chunks):
            raise ValueError("an empty raw chunk would end the stream early")
        return [_chunk(bytes(item)) for item in self.raw_chunks]

    def _encode_payload(self) -> bytes:
        if self.json is not None:
            return _dumps(self.json)
        if isinstance(self.body, str):
            return self.body.encode()
        return self.body or b""

    def _encode_head(self) -> bytes:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Status"
        lines = [f"HTTP/1.1 {self.status} {phrase}"]
        lines += [f"{key}: {value}" for key, value in self.headers.items()]
        lines += self._framing_headers()
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")

    def _framing_headers(self) -> list[str]:
        """Content type and framing, unless the script chose its own type."""
        if self.sse is not None:
            kind = "text/event-stream"
        elif self.raw_chunks is not None:
            kind = "application/octet-stream"
        else:
            kind = "application/json" if self.json is not None else "text/plain"
        lines = []
        if not _has_header(self.headers, "content-type"):
            lines.append(f"Content-Type: {kind}")
        if self.is_stream:
            return lines + ["Transfer-Encoding: chunked", "Cache-Control: no-cache"]
        return lines + [f"Content-Length: {len(self._payload)}"]


def as_reply(spec: Reply | dict[str, Any]) -> Reply:
    """Accept a :class:`Reply` or its keyword form, as the cases write it."""
    if isinstance(spec, Reply):
        return spec
    if isinstance(spec, dict):
        return Reply(**spec)
    raise TypeError(f"a reply is a Reply, a dict or a callable, not {spec!r}")


def _usage(prompt: int, completion: int) -> dict[str, int]:
    total = prompt + completion
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
    }


def chat_ok(text: str = "ok-from-X", model: str = "m") -> dict[str, Any]:
    """A minimal valid ``chat.completion`` body whose content is ``text``."""
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [choice],
        "usage": _usage(1, max(1, len(text.split()))),
    }


def _stream_chunk(model: str, delta: dict[str, Any], finish: str | None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    chunk = {
        "id": STREAM_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [choice],
    }
    return json.dumps(chunk, separators=(",", ":"))


def _split(text: str, parts: int) -> list[str]:
    """Cut ``text`` into ``parts`` consecutive pieces (fewer if it is short)."""
    count = max(1, min(parts, len(text)))
    size = -(-len(text) // count) or 1
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]


def sse_ok(text: str = "ok-from-X", model: str = "m", parts: int = 2) -> list[str]:
    """The ``data:`` payloads of a clean chat stream, ``[DONE]`` last.

    A role chunk, ``parts`` content chunks spelling ``text``, a finish chunk
    with ``finish_reason: "stop"``; every chunk carries the same id.
    """
    events = [_stream_chunk(model, {"role": "assistant", "content": ""}, None)]
    events += [
        _stream_chunk(model, {"content": piece}, None) for piece in _split(text, parts)
    ]
    events.append(_stream_chunk(model, {}, "stop"))
    return events + ["[DONE]"]


def completion_ok(text: str = "ok-from-X", model: str = "m") -> dict[str, Any]:
    """A minimal legacy ``text_completion`` body."""
    choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "choices": [choice],
        "usage": _usage(1, max(1, len(text.split()))),
    }


def embeddings_ok(n: int = 1, dims: int = 3, model: str = "m") -> dict[str, Any]:
    """An embeddings list of ``n`` deterministic vectors of ``dims`` floats."""
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": [
                round(0.001 * (index + 1) * (dim + 1), 6) for dim in range(dims)
            ],
        }
        for index in range(n)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": n, "total_tokens": n},
    }


def error_body(
    message: str, type: str, code: str | int | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope, also usable as an in-band SSE error payload."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def openai_error(
    status: int,
    message: str,
    type: str,
    code: str | int | None = None,
    param: str | None = None,
) -> Reply:
    """A reply carrying OpenAI's error envelope with HTTP ``status``."""
    return Reply(status=status, json=error_body(message, type, code, param))
