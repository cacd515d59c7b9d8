"""Reading server-sent events from raw upstream bytes.

Upstreams differ in small ways: some name events (Anthropic), some send
keep-alive comments (OpenRouter), a few split one payload over several
``data:`` lines. This reader copes with all of them and yields one
:class:`Event` per blank-line-terminated block.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    name: str
    data: str


def lines(raw: Iterable[bytes]) -> Iterator[bytes]:
    """Split a stream of byte chunks into lines, without their line ends."""
    pending = b""
    for chunk in raw:
        if not chunk:
            continue
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line[:-1] if line.endswith(b"\r") else line
    if pending:
        yield pending


def events(raw: Iterable[bytes]) -> Iterator[Event]:
    """Yield the events of an SSE stream; comments and ids are skipped."""
    name = ""
    data: list[str] = []
    for line in lines(raw):
        if not line:
            if data:
                yield Event(name or "message", "\n".join(data))
            name, data = "", []
            continue
        if line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if data:
        yield Event(name or "message", "\n".join(data))
