"""Holding back a stream's opening events, and relaying the rest.

Retries and fallbacks are only possible before the client has seen a byte,
so the router opens a stream by reading events until one carries content
(text, a tool call, a finish reason): an error before that, or a stream that
ends before it, is an ordinary failed attempt. Role-only openers are held
back with it (at most :data:`MAX_HELD`, so a stream of empty events cannot
grow memory). Once content is known, :class:`Relay` passes everything on; a
failure after that ends the stream with OpenAI's error object as its last
event, and the response writer sends no ``[DONE]`` after it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from app import errors

logger = logging.getLogger(__name__)

MAX_HELD = 16

# finished(error, tokens, complete): complete is False when the client left
Finished = Callable[[errors.GatewayError | None, int, bool], None]


def open_stream(chunks: Iterator[dict]) -> tuple[list[dict], Iterator[dict]]:
    """The held-back opening events and the rest; raise if there is no content.

    On a failure the upstream iterator is closed, which closes its connection.
    """
    held: list[dict] = []
    try:
        for chunk in chunks:
            held.append(chunk)
            if has_content(chunk) or len(held) >= MAX_HELD:
                return held, chunks
    except errors.GatewayError:
        close(chunks)
        raise
    close(chunks)
    raise errors.BadGateway("The upstream stream ended before sending any content.")


def has_content(chunk: dict) -> bool:
    """False for an event that only opens the answer (a role, empty text)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return True  # not a chat or completion chunk: nothing to judge
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason") is not None or choice.get("text"):
            return True
        delta = choice.get("delta")
        if isinstance(delta, dict) and any(
                value for key, value in delta.items() if key != "role"):
            return True
    return False


def usage_tokens(chunk: dict) -> int:
    usage = chunk.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return usage["total_tokens"]
    return 0


def close(chunks: Any) -> None:
    closer = getattr(chunks, "close", None)
    if closer is not None:
        closer()


class Relay:
    """The client's chunks: held-back ones first, then the upstream's.

    ``finished(error, tokens, complete)`` runs exactly once: when the
    upstream ends, when it fails (the error object is then the last chunk),
    or on :meth:`close` (a client that went away: ``complete`` is False),
    even if iteration never began.
    """

    def __init__(self, held: list[dict], rest: Iterator[dict],
                 finished: Finished) -> None:
        self.held = deque(held)
        self.rest = rest
        self.finished: Finished | None = finished
        self.tokens = 0

    def __iter__(self) -> Relay:
        return self

    def __next__(self) -> dict:
        if self.held:
            return self.counted(self.held.popleft())
        if self.finished is None:
            raise StopIteration
        try:
            return self.counted(next(self.rest))
        except StopIteration:
            self.end(None, complete=True)
            raise
        except errors.GatewayError as error:
            logger.warning("stream broke off after it started: %s",
                           type(error).__name__)
            self.end(error, complete=True)
            return error.body()

    def counted(self, chunk: dict) -> dict:
        self.tokens = usage_tokens(chunk) or self.tokens
        return chunk

    def close(self) -> None:
        self.held.clear()
        self.end(None, complete=False)

    def end(self, error: errors.GatewayError | None, *, complete: bool) -> None:
        finished, self.finished = self.finished, None
        if finished is None:
            return
        close(self.rest)
        finished(error, self.tokens, complete)
