"""Who used the CPU during a run: the gateway, the fake, the generator, others.

Requests per second on a 2-core machine shared by the gateway, the fake
upstream and the load generator depend on everything else that runs there.
CPU time per request does much less, so each run also reports the gateway's
CPU milliseconds per request and how many cores the rest of the machine
(processes that are not part of the benchmark) kept busy meanwhile.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    """User plus system CPU seconds of one process (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle, since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


def speed_check_ms(rounds: int = 3) -> float:
    """The best of a few runs of a fixed pure-Python loop: how fast one core
    is right now. The machine is a VM whose speed moves with its neighbours'
    load, which /proc/stat does not show, so each run records this twice."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for number in range(300_000):
            total += number * number % 7
        best = min(best, (time.perf_counter() - started) * 1000)
    return round(best, 1)


def children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Sample:
    at: float
    gateway: float
    fake: float
    generators: float
    machine: float
    by_pid: dict[int, float]


class Meter:
    """Samples CPU counters around a run; ``gateway_pids`` and ``fake_pid``
    are read at each sample, so a restarted worker is still counted."""

    def __init__(self, gateway_pids: Callable[[], Iterable[int]],
                 fake_pid: Callable[[], int | None]) -> None:
        self.gateway_pids = gateway_pids
        self.fake_pid = fake_pid

    def sample(self) -> Sample:
        fake = self.fake_pid()
        by_pid = {pid: process_seconds(pid) for pid in self.gateway_pids()}
        return Sample(
            at=time.perf_counter(),
            gateway=sum(by_pid.values()),
            fake=process_seconds(fake) if fake else 0.0,
            generators=children_seconds(),
            machine=machine_busy_seconds(),
            by_pid=by_pid,
        )

    @staticmethod
    def between(first: Sample, last: Sample, requests: int) -> dict:
        """CPU use between two samples; ``generators`` counts finished children."""
        return Meter.over([(first, last)], requests)

    @staticmethod
    def over(spans: list[tuple[Sample, Sample]], requests: int) -> dict:
        """CPU use over several (first, last) spans of one load, added up."""
        elapsed = sum(last.at - first.at for first, last in spans)
        gateway = sum(last.gateway - first.gateway for first, last in spans)
        fake = sum(last.fake - first.fake for first, last in spans)
        generators = sum(last.generators - first.generators for first, last in spans)
        machine = sum(last.machine - first.machine for first, last in spans)
        by_pid: dict[int, float] = {}
        for first, last in spans:
            for pid, seconds in last.by_pid.items():
                by_pid[pid] = by_pid.get(pid, 0.0) + seconds - first.by_pid.get(pid, 0.0)
        others = max(0.0, machine - gateway - fake - generators)
        return {
            "gateway_cpu_ms_per_request":
                round(1000 * gateway / requests, 3) if requests else None,
            "gateway_cores": round(gateway / elapsed, 2),
            "process_cores": [round(s / elapsed, 2) for s in by_pid.values()],
            "fake_cores": round(fake / elapsed, 2),
            "generator_cores": round(generators / elapsed, 2),
            "other_cores": round(others / elapsed, 2),
        }
