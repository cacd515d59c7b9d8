"""Router state: failure counts, cooldowns, in-flight counts, latency and usage.

The router reads and writes it only through :class:`RouterState`, so a shared
store (Redis) can replace :class:`InProcessState` without touching the router.
The in-process store is per gunicorn worker: with several workers each keeps
its own counts, so a deployment is cooled by the worker that saw it fail, and
``least-busy`` sees only that worker's requests. It is bounded (least
recently used keys are forgotten), which keeps the many ``user_config``
deployments that clients invent from exhausting memory.

Failures are counted over a sliding minute and are not cleared when a
cooldown starts: a deployment that fails again right after its cooldown is
cooled again at once (one probe per cooldown, like a circuit breaker's
half-open state). A success clears the count.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

FAILURE_WINDOW_S = 60.0
USAGE_WINDOW_S = 60.0
LATENCY_WEIGHT = 0.3


class Usage(NamedTuple):
    """Requests and tokens counted in the current minute, and when it ends."""

    requests: int
    tokens: int
    resets_at: float


class RouterState(Protocol):
    def cooldown_until(self, key: str, now: float) -> float | None: ...

    def record_failure(self, key: str, now: float, *, allowed_fails: int,
                       cooldown_time: float, immediate: bool) -> float | None: ...

    def record_success(self, key: str, now: float, latency: float) -> None: ...

    def begin(self, key: str, now: float) -> None: ...

    def end(self, key: str) -> None: ...

    def add_tokens(self, key: str, now: float, tokens: int) -> None: ...

    def in_flight(self, key: str) -> int: ...

    def latency(self, key: str) -> float | None: ...

    def usage(self, key: str, now: float) -> Usage: ...


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    cool_until: float = 0.0
    in_flight: int = 0
    latency: float | None = None
    window_start: float | None = None
    requests: int = 0
    tokens: int = 0


class InProcessState:
    """A bounded, per-worker :class:`RouterState`."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            if len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return entry

    def cooldown_until(self, key: str, now: float) -> float | None:
        entry = self._entries.get(key)
        if entry is None or entry.cool_until <= now:
            return None
        return entry.cool_until

    def record_failure(self, key: str, now: float, *, allowed_fails: int,
                       cooldown_time: float, immediate: bool) -> float | None:
        """Count a failure; return the cooldown's end if this one starts or
        extends a cooldown. A cooldown is never shortened."""
        with self._lock:
            entry = self._entry(key)
            entry.failures.append(now)
            while entry.failures and entry.failures[0] <= now - FAILURE_WINDOW_S:
                entry.failures.popleft()
            if not immediate and len(entry.failures) <= allowed_fails:
                return None
            entry.cool_until = max(entry.cool_until, now + cooldown_time)
            return entry.cool_until

    def record_success(self, key: str, now: float, latency: float) -> None:
        with self._lock:
            entry = self._entry(key)
            entry.failures.clear()
            previous = entry.latency
            entry.latency = latency if previous is None else (
                LATENCY_WEIGHT * latency + (1 - LATENCY_WEIGHT) * previous)

    def begin(self, key: str, now: float) -> None:
        with self._lock:
            entry = self._entry(key)
            entry.in_flight += 1
            self._roll_window(entry, now)
            entry.requests += 1

    def end(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.in_flight > 0:
                entry.in_flight -= 1

    def add_tokens(self, key: str, now: float, tokens: int) -> None:
        with self._lock:
            entry = self._entry(key)
            self._roll_window(entry, now)
            entry.tokens += tokens

    def in_flight(self, key: str) -> int:
        entry = self._entries.get(key)
        return entry.in_flight if entry else 0

    def latency(self, key: str) -> float | None:
        entry = self._entries.get(key)
        return entry.latency if entry else None

    def usage(self, key: str, now: float) -> Usage:
        entry = self._entries.get(key)
        start = entry.window_start if entry else None
        if entry is None or start is None or now - start >= USAGE_WINDOW_S:
            return Usage(0, 0, now + USAGE_WINDOW_S)
        return Usage(entry.requests, entry.tokens, start + USAGE_WINDOW_S)

    @staticmethod
    def _roll_window(entry: _Entry, now: float) -> None:
        start = entry.window_start
        if start is None or now - start >= USAGE_WINDOW_S:
            entry.window_start, entry.requests, entry.tokens = now, 0, 0
