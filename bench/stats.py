"""Summaries of one load run: rate, latency percentiles, the overhead header."""

from __future__ import annotations

from collections.abc import Sequence

PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values: Sequence[float]) -> dict[str, float | None]:
    return {f"p{p}": rounded(percentile(values, p)) for p in PERCENTILES}


def closed_summary(result: dict) -> dict:
    """Rate and latency of a closed-loop run, with its failures counted."""
    latencies = result["latencies_ms"]
    ok = result["statuses"].get("200", 0)
    summary = {
        "requests": len(latencies),
        "rps": round(len(latencies) / result["elapsed_s"], 1),
        **latency_summary(latencies),
        "failures": result["errors"] + len(latencies) - ok,
    }
    if result["overheads_ms"]:
        summary["header_ms"] = latency_summary(result["overheads_ms"])
    return summary


def added(gateway: dict, direct: dict) -> dict[str, float | None]:
    """What the gateway adds at each percentile over calling the fake directly."""
    return {f"p{p}": difference(gateway[f"p{p}"], direct[f"p{p}"])
            for p in PERCENTILES}


def difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
