"""Holding back a stream's first event, and relaying the rest.

Retries and fallbacks are only possible before the client has seen a byte,
so the router opens a stream by reading its first event: an error there (or
a stream that ends at once) is an ordinary failed attempt. Once the first
event is known to be content, the relay passes everything on; a failure
after that ends the stream with OpenAI's error object as its last event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app import errors

logger = logging.getLogger(__name__)

Finished = Callable[[errors.GatewayError | None, int], None]


@dataclass
class Opened:
    first: dict
    rest: Iterator[dict]

    def relay(self, finished: Finished) -> Iterator[dict]:
        """All chunks; an error after the start becomes a final error chunk.

        ``finished(error, tokens)`` runs once when the stream ends, however it
        ends (a client that goes away closes the generator).
        """
        failure: errors.GatewayError | None = None
        tokens = 0
        try:
            tokens = usage_tokens(self.first)
            yield self.first
            for chunk in self.rest:
                tokens = usage_tokens(chunk) or tokens
                yield chunk
        except errors.GatewayError as error:
            failure = error
            logger.warning("stream broke off after it started: %s",
                           type(error).__name__)
            yield error.body()
        finally:
            close = getattr(self.rest, "close", None)
            if close is not None:
                close()
            finished(failure, tokens)


def usage_tokens(chunk: dict) -> int:
    usage = chunk.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return usage["total_tokens"]
    return 0


def open_stream(chunks: Iterator[dict]) -> Opened:
    """Read the first event; raise if it is an error or there is none."""
    try:
        first = next(chunks)
    except StopIteration:
        raise errors.BadGateway(
            "The upstream stream ended before sending any content.") from None
    return Opened(first, chunks)
