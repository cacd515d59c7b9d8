"""What a fake upstream records of each request, and of how its reply went."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Headers(Mapping[str, str]):
    """Request headers looked up case-insensitively; repeated names are joined."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            previous = self._items.get(name.lower())
            if previous is not None:
                value = f"{previous[1]}, {value}"
            self._items[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(eq=False)
class Call:
    """One request as the fake saw it, and how its reply went.

    ``at`` is ``time.monotonic()`` on arrival; ``peer_port`` tells connections
    apart (keep-alive reuse); ``status`` is what was sent, if anything;
    ``chunk_times`` says when each stream event was handed to the socket.
    ``stream_closed`` is true when the client went away before the reply was
    complete (seen as a failed write, or as end-of-stream while the fake
    waited); ``ended`` is set once the fake is done with the call.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    json: Any
    at: float
    peer_port: int = 0
    status: int | None = None
    chunk_times: list[float] = field(default_factory=list)
    completed: bool = False
    stream_closed: bool = False
    ended: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def chunks_sent(self) -> int:
        return len(self.chunk_times)

    def wait_ended(self, timeout: float = 5.0) -> bool:
        return self.ended.wait(timeout)


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def parse_call(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    peer_port: int,
) -> Call:
    """A fresh record for a request that has just arrived."""
    url = urlsplit(target)
    query = parse_qs(url.query, keep_blank_values=True)
    return Call(
        method,
        url.path,
        query,
        Headers(headers),
        body,
        _parse_json(body),
        time.monotonic(),
        peer_port,
    )
