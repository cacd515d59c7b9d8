"""The benchmark's table, its targets, the machine it ran on, and its JSON file."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

import orjson

from bench.servers import REPO_ROOT

# name -> (what is compared, the bound, "max" or "min")
TARGETS = {
    "throughput_c32_rps": ("requests/s at concurrency 32, 0 ms upstream", 1400, "min"),
    "added_c1_p50_ms": ("added latency at concurrency 1, p50 (ms)", 1.2, "max"),
    "added_c1_p99_ms": ("added latency at concurrency 1, p99 (ms)", 3.0, "max"),
    "streams_held": ("streams held at once, none failed", 1000, "min"),
    "beside_streams_p99_ms": ("plain request p99 beside the streams (ms)", 50, "max"),
    "user_config_over_plain_ms": ("user_config over plain, p50 (ms)", 0.3, "max"),
    "api_base_over_plain_ms": ("clientside api_base over plain, p50 (ms)", 0.3, "max"),
    "peak_rss_mb": ("peak RSS of the largest worker (MB)", 60, "max"),
    "ready_s": ("start to first answered request (s)", 1.0, "max"),
}


def machine() -> dict:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "packages": {name: version(name) for name in
                     ("gunicorn", "gevent", "flask", "requests", "orjson")},
        "commit": git_commit(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=5).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "app", "config"],
                               cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.strip() + ("+changes" if dirty.strip() else "")


def measured(results: dict) -> dict[str, float | None]:
    """The figure each target is judged on, for the parts that ran."""
    found: dict[str, float | None] = {
        "peak_rss_mb": max(results["memory"]["peak_rss_mb"], default=None),
        "ready_s": results["startup"]["ready_s"],
    }
    if "throughput" in results:
        rows = {(r["upstream_ms"], r["concurrency"]): r for r in results["throughput"]}
        found["throughput_c32_rps"] = rows[(0, 32)]["gateway"]["rps"]
        found["added_c1_p50_ms"] = rows[(0, 1)]["added_ms"]["p50"]
        found["added_c1_p99_ms"] = rows[(0, 1)]["added_ms"]["p99"]
    if "streams" in results:
        streams = results["streams"]
        clean = streams["errors"] == 0 and streams["unfinished"] == 0
        found["streams_held"] = streams["held_at_once"] if clean else 0
        found["beside_streams_p99_ms"] = streams["beside"]["p99"]
    if "features" in results:
        for name in ("user_config", "api_base"):
            over = results["features"][name]["over_plain_ms"]["p50"]
            found[f"{name}_over_plain_ms"] = over
    return found


def judged(results: dict) -> list[dict]:
    """Each target that the run measured, in the table's order, met or not.

    A run that opened fewer streams than the target (``--quick``) cannot
    meet the streams target, so it is shown but not judged.
    """
    figures, found = measured(results), []
    for key, (what, bound, kind) in TARGETS.items():
        if key not in figures:
            continue
        value = figures[key]
        met: bool | None = value is not None and (
            value >= bound if kind == "min" else value <= bound)
        if key == "streams_held" and results["streams"]["streams"] < bound:
            met = None
        found.append({"target": key, "what": what, "bound": bound, "kind": kind,
                      "measured": value, "met": met})
    return found


def header_check(results: dict) -> dict | None:
    """The overhead header against the measured difference, at concurrency 1.

    The header times the gateway from its route to its response, less the
    dispatcher's exchange (so the HTTP client's own work counts as upstream
    time); the measured difference also holds gunicorn's parsing and
    writing, Flask's dispatch and a second loopback hop. So the header must
    not exceed the difference, and the rest is what it leaves out.
    """
    if "throughput" not in results:
        return None
    row = next(r for r in results["throughput"]
               if r["upstream_ms"] == 0 and r["concurrency"] == 1)
    header = row["gateway"].get("header_ms", {}).get("p50")
    measured_p50 = row["added_ms"]["p50"]
    if header is None or measured_p50 is None:
        return {"header_p50_ms": header, "added_p50_ms": measured_p50,
                "consistent": False}
    return {"header_p50_ms": header, "added_p50_ms": measured_p50,
            "outside_header_ms": round(measured_p50 - header, 3),
            "consistent": header <= measured_p50}


def finish(results: dict) -> dict:
    return {"machine": machine(), **results, "header_check": header_check(results),
            "targets": judged(results)}


def save(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def throughput_table(rows: list[dict]) -> list[str]:
    lines = [
        "| upstream | conc | direct rps | gateway rps | gateway p50 / p95 / p99 ms "
        "| added p50 / p95 / p99 ms | header p50 ms | gateway CPU ms/req "
        "| cores: workers / others | failures |",
        "|---:|---:|---:|---:|---|---|---:|---:|---|---:|",
    ]
    for row in rows:
        via, add = row["gateway"], row["added_ms"]
        header = via.get("header_ms", {}).get("p50")
        lines.append(
            f"| {row['upstream_ms']} ms | {row['concurrency']} "
            f"| {row['direct']['rps']:.0f} | {via['rps']:.0f} "
            f"| {fmt(via['p50'])} / {fmt(via['p95'])} / {fmt(via['p99'])} "
            f"| {fmt(add['p50'])} / {fmt(add['p95'])} / {fmt(add['p99'])} "
            f"| {fmt(header)} | {fmt(via['cpu']['gateway_cpu_ms_per_request'])} "
            f"| {worker_cores(via['cpu'])} / {fmt(via['cpu']['other_cores'])} "
            f"| {via['failures'] + row['direct']['failures']} |")
    return lines


def worker_cores(cpu: dict) -> str:
    """Cores each worker kept busy (the master, listed first, is left out)."""
    return " + ".join(fmt(c) for c in cpu["process_cores"][1:])


def feature_table(found: dict) -> list[str]:
    lines = ["| request (concurrency 1) | p50 ms | p99 ms | header p50 ms "
             "| gateway CPU ms/req | over plain: p50 / header / CPU ms |",
             "|---|---:|---:|---:|---:|---|"]
    for name, row in found.items():
        over = row.get("over_plain_ms")
        added = (f"{fmt(over['p50'])} / {fmt(over['header_p50'])} / "
                 f"{fmt(over['cpu'])}" if over else "-")
        lines.append(f"| {name} | {fmt(row['p50'])} | {fmt(row['p99'])} "
                     f"| {fmt(row['header_ms']['p50'])} "
                     f"| {fmt(row['gateway_cpu_ms_per_request'])} | {added} |")
    return lines


def streams_lines(streams: dict) -> list[str]:
    first, beside = streams["first_chunk_ms"], streams["beside"]
    return [
        f"Streams: {streams['streams']} of {streams['chunks']} chunks every "
        f"{streams['interval_ms']} ms, opened over {streams['ramp_s']:g} s: "
        f"{streams['held_at_once']} held at once, {streams['errors']} failed, "
        f"{streams['unfinished']} unfinished; first chunk p50 {fmt(first['p50'])} / "
        f"p99 {fmt(first['p99'])} ms.",
        f"Plain requests beside them (concurrency 1): {beside['requests']} answered, "
        f"p50 {fmt(beside['p50'])} / p99 {fmt(beside['p99'])} ms, "
        f"{beside['failures']} failed; gateway "
        f"{streams['cpu_while_held']['gateway_cores']} cores busy meanwhile.",
        "Workers while holding them: " + ", ".join(
            f"{w['sockets']} sockets and {w['rss_mb']} MB"
            for w in streams["workers_while_held"]) + ".",
    ]


def verdict(met: bool | None) -> str:
    return "not judged (short run)" if met is None else "yes" if met else "NO"


def target_table(targets: list[dict]) -> list[str]:
    lines = ["| target | bound | measured | met |", "|---|---:|---:|:---:|"]
    for t in targets:
        sign = "≥" if t["kind"] == "min" else "≤"
        lines.append(f"| {t['what']} | {sign} {t['bound']:g} "
                     f"| {fmt(t['measured'])} | {verdict(t['met'])} |")
    return lines


def header_line(check: dict) -> str:
    verdict = ("a lower bound, as it should be" if check["consistent"]
               else "NOT below the measured difference")
    return (f"Overhead header at concurrency 1: p50 {fmt(check['header_p50_ms'])} ms "
            f"against {fmt(check['added_p50_ms'])} ms measured: {verdict}; "
            f"the rest is gunicorn, Flask, the HTTP client and a second hop.")


def log_summary(log: dict) -> str:
    counts = ", ".join(f"{log[level]} {level}" for level in
                       ("WARNING", "ERROR", "CRITICAL"))
    samples = "; ".join(log["samples"])
    return counts + (f" (e.g. {samples})" if samples else "")


def table(results: dict) -> str:
    m, memory = results["machine"], results["memory"]
    parts = [
        f"Machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}; "
        f"gunicorn {m['packages']['gunicorn']}, gevent {m['packages']['gevent']}, "
        f"{memory['workers']} workers; commit {m['commit']}; "
        f"{results['plan']} run in {results['run_s']:g} s.",
        f"CPU speed check (a fixed Python loop, lower is faster): "
        f"{results['speed_check_ms']['before']} ms before the run, "
        f"{results['speed_check_ms']['after']} ms after.",
        "",
    ]
    if "throughput" in results:
        parts += [*throughput_table(results["throughput"]), "",
                  header_line(results["header_check"]), ""]
    if "features" in results:
        parts += [*feature_table(results["features"]), ""]
    if "streams" in results:
        parts += streams_lines(results["streams"])
    parts += [
        f"Ready {results['startup']['ready_s']:.3f} s after start; peak RSS per "
        f"worker {memory['peak_rss_mb']} MB; gateway log: "
        f"{log_summary(results['gateway_log'])}.",
        "",
        *target_table(results["targets"]),
    ]
    return "\n".join(parts)
