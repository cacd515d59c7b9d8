"""How long to wait before reusing a deployment: backoff and Retry-After.

Exponential backoff with jitter (a quarter second, doubling, at most eight),
never less than the router's ``retry_after``. An upstream ``retry-after-ms``
or ``Retry-After`` (seconds or an HTTP date) replaces the computed wait; a
hint longer than :data:`MAX_HONOURED_S` is not waited for: the router moves
on to fallbacks instead of holding the client that long.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

BASE_S = 0.25
MAX_BACKOFF_S = 8.0
MAX_HONOURED_S = 60.0


class WaitTooLong(Exception):
    """The upstream asked for a longer pause than the gateway will hold."""


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The upstream's retry hint in seconds, if it sent a readable one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def backoff_seconds(number: int, hint: float | None, minimum: float,
                    rng: random.Random) -> float:
    """The wait before attempt ``number`` (1 for the first retry)."""
    if hint is not None:
        if hint > MAX_HONOURED_S:
            raise WaitTooLong()
        return max(hint, minimum)
    computed = min(MAX_BACKOFF_S, BASE_S * 2 ** max(0, number - 1))
    return max(minimum, computed * (0.5 + rng.random() / 2))
