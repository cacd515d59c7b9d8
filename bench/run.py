"""Benchmark the gateway against a fake upstream on loopback; print and save a table.

Run from the repo root: ``python bench/run.py`` (about 100 s) or
``python bench/run.py --quick`` (about 30 s, fewer and shorter streams). It
starts ``bench/fake_upstream.py`` and the gateway under gunicorn with the
shipped worker settings, measures with ``bench/loadgen.py`` (each load in its
own process), prints the table and writes it to ``bench/results/latest.json``.

Every step is bounded in time; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, stats  # noqa: E402
from bench.cpu import Meter, speed_check_ms  # noqa: E402
from bench.servers import (  # noqa: E402
    CLIENT_KEY,
    HOST,
    MASTER_KEY,
    OPERATOR_KEY,
    REPO_ROOT,
    FakeUpstream,
    Gateway,
    StreamShape,
    bench_config,
    memory_kb,
)

CONCURRENCIES = (1, 8, 32, 128)
MESSAGES = [{"role": "user", "content": "Say ok."}]
RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"
SLACK_S = 15.0


@dataclass(frozen=True)
class Plan:
    """How long each part runs; ``--quick`` shortens all of them."""

    name: str
    closed_s: float  # per round: three rounds at 0 ms, two at 50 ms
    slow_s: float
    feature_s: float  # per variant and round
    streams: int
    stream_chunks: int
    stream_interval_ms: int
    ramp_s: float


FULL = Plan("full", 1.0, 1.0, 0.5, 1000, 30, 1000, 3.0)
QUICK = Plan("quick", 0.5, 0.5, 0.25, 200, 5, 1000, 1.0)
FEATURE_ROUNDS = 6


def chat_body(model: str, **extra: object) -> str:
    body = {"model": model, "messages": MESSAGES, "max_tokens": 5, **extra}
    return orjson.dumps(body).decode()


class Bench:
    """The running fake and gateway, and the requests the runs send them."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.fake = FakeUpstream()
        shape = StreamShape(plan.stream_chunks, plan.stream_interval_ms)
        self.gateway = Gateway(bench_config(self.fake.port, shape))
        self.origin = f"http://{HOST}:{self.fake.port}"
        self.meter = Meter(self.gateway_pids, lambda: self.fake.pid)

    def gateway_pids(self) -> list[int]:
        master = self.gateway.proc.pid if self.gateway.proc else None
        return ([master] if master else []) + self.gateway.worker_pids()

    def closed(self, target: dict, concurrency: int, duration_s: float) -> dict:
        """A closed-loop run with its CPU accounting."""
        spec = {"kind": "closed", **target, "concurrency": concurrency,
                "duration_s": duration_s}
        first = self.meter.sample()
        summary = stats.closed_summary(load(spec, duration_s))
        summary["cpu"] = Meter.between(first, self.meter.sample(),
                                       summary["requests"])
        return summary

    def gateway_target(self, body: str) -> dict:
        return {"port": self.gateway.port, "path": "/v1/chat/completions",
                "body": body, "headers": {"Authorization": f"Bearer {MASTER_KEY}"}}

    def direct_target(self, prefix: str, body: str) -> dict:
        return {"port": self.fake.port, "path": f"{prefix}/v1/chat/completions",
                "body": body, "headers": {"Authorization": f"Bearer {OPERATOR_KEY}"}}

    def user_config_body(self) -> str:
        entry = {"model_name": "mine", "litellm_params": {
            "model": "openai/bench", "api_base": f"{self.origin}/v1",
            "api_key": CLIENT_KEY}}
        return chat_body("mine", user_config={"model_list": [entry]})


def load(spec: dict, limit_s: float) -> dict:
    """One generator process; its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", orjson.dumps(spec).decode()],
        cwd=REPO_ROOT, capture_output=True, timeout=limit_s + SLACK_S, check=True)
    return orjson.loads(done.stdout)


def merge(results: list[dict]) -> dict:
    """One result from several runs of the same load."""
    merged: dict[str, Any] = {"elapsed_s": 0.0, "latencies_ms": [],
                              "overheads_ms": [], "errors": 0, "statuses": {}}
    for result in results:
        merged["elapsed_s"] += result["elapsed_s"]
        merged["latencies_ms"] += result["latencies_ms"]
        merged["overheads_ms"] += result["overheads_ms"]
        merged["errors"] += result["errors"]
        for status, count in result["statuses"].items():
            merged["statuses"][status] = merged["statuses"].get(status, 0) + count
    return merged


def start(bench: Bench) -> dict:
    """Start both servers; the gateway's time to its first answered request."""
    bench.fake.start()
    probe = bench.gateway_target(chat_body("fast"))
    from bench.loadgen import build_request

    raw = build_request(bench.gateway.port, probe["path"], probe["body"].encode(),
                        probe["headers"], close=True)
    ready_s = bench.gateway.start(raw)
    return {"ready_s": round(ready_s, 3)}


def warm_up(bench: Bench) -> None:
    """Fill the pools and the user_config cache before anything is measured."""
    for body in (chat_body("fast"), chat_body("fast", api_base=f"{bench.origin}/v1"),
                 bench.user_config_body()):
        bench.closed(bench.gateway_target(body), 32, 0.5)
    bench.closed(bench.direct_target("", chat_body("fast")), 32, 0.5)


def throughput(bench: Bench, upstream_ms: int, duration_s: float,
               rounds: int) -> list[dict]:
    """Direct and through the gateway, at each concurrency, in alternating
    rounds; requests/s is the median round's, so a moment when the shared
    machine slows down spoils one round, not the figure."""
    prefix, model = ("", "fast") if upstream_ms == 0 else ("/d/50", "slow")
    rows = []
    for concurrency in CONCURRENCIES:
        targets = {"direct": bench.direct_target(prefix, chat_body(model)),
                   "gateway": bench.gateway_target(chat_body(model))}
        runs: dict[str, list[dict]] = {"direct": [], "gateway": []}
        spans: dict[str, list] = {"direct": [], "gateway": []}
        for _ in range(rounds):
            for name, target in targets.items():
                spec = {"kind": "closed", **target, "concurrency": concurrency,
                        "duration_s": duration_s}
                first = bench.meter.sample()
                runs[name].append(load(spec, duration_s))
                spans[name].append((first, bench.meter.sample()))
        found = {name: rounds_summary(runs[name], spans[name]) for name in runs}
        rows.append({"upstream_ms": upstream_ms, "concurrency": concurrency,
                     **found, "added_ms": stats.added(found["gateway"],
                                                      found["direct"])})
    return rows


def rounds_summary(runs: list[dict], spans: list) -> dict:
    """Latency over all rounds, the median round's rate, CPU over all."""
    summary = stats.closed_summary(merge(runs))
    rates = [len(run["latencies_ms"]) / run["elapsed_s"] for run in runs]
    summary["rps"] = round(stats.percentile(rates, 50) or 0.0, 1)
    summary["rps_rounds"] = [round(rate, 1) for rate in rates]
    summary["cpu"] = Meter.over(spans, summary["requests"])
    return summary


def features(bench: Bench, duration_s: float) -> dict:
    """Plain, clientside api_base and user_config requests, one at a time."""
    bodies = {
        "plain": chat_body("fast"),
        "api_base": chat_body("fast", api_base=f"{bench.origin}/v1"),
        "user_config": bench.user_config_body(),
    }
    raw: dict[str, list[dict]] = {name: [] for name in bodies}
    cpu = dict.fromkeys(bodies, 0.0)
    names = list(bodies)
    for round_number in range(FEATURE_ROUNDS):
        # Short runs in turn, each round starting with the next variant, so
        # the machine's drifting speed falls on all three alike.
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            body = bodies[name]
            spec = {"kind": "closed", **bench.gateway_target(body),
                    "concurrency": 1, "duration_s": duration_s}
            first = bench.meter.sample()
            raw[name].append(load(spec, duration_s))
            cpu[name] += bench.meter.sample().gateway - first.gateway
    found = {name: stats.closed_summary(merge(runs)) for name, runs in raw.items()}
    for name, row in found.items():
        row["gateway_cpu_ms_per_request"] = round(1000 * cpu[name] / row["requests"], 3)
    for name in ("api_base", "user_config"):
        found[name]["over_plain_ms"] = over_plain(found[name], found["plain"])
    return found


def over_plain(row: dict, plain: dict) -> dict:
    """What a feature adds: by client latency, by the header, by CPU time."""
    return {
        "p50": stats.difference(row["p50"], plain["p50"]),
        "header_p50": stats.difference(row["header_ms"]["p50"],
                                       plain["header_ms"]["p50"]),
        "cpu": stats.difference(row["gateway_cpu_ms_per_request"],
                                plain["gateway_cpu_ms_per_request"]),
    }


def streams(bench: Bench) -> dict:
    """Hold many streams while a separate client sends plain requests."""
    plan = bench.plan
    length_s = plan.stream_chunks * plan.stream_interval_ms / 1000
    limit_s = plan.ramp_s + length_s + 10
    spec = {"kind": "streams", **bench.gateway_target(chat_body("stream", stream=True)),
            "count": plan.streams, "ramp_s": plan.ramp_s,
            "chunks": plan.stream_chunks, "timeout_s": 10.0, "limit_s": limit_s}
    holder = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", orjson.dumps(spec).decode()],
        cwd=REPO_ROOT, stdout=subprocess.PIPE)
    time.sleep(plan.ramp_s + 0.5)
    beside_s = max(1.0, length_s - plan.ramp_s - 1.5)
    holding = worker_load(bench)
    first = bench.meter.sample()
    beside = bench.closed(bench.gateway_target(chat_body("fast")), 1, beside_s)
    held = Meter.between(first, bench.meter.sample(), beside["requests"])
    out, _ = holder.communicate(timeout=limit_s + SLACK_S)
    summary = stream_summary(orjson.loads(out), beside, plan)
    summary["cpu_while_held"] = held
    summary["workers_while_held"] = holding
    return summary


def worker_load(bench: Bench) -> list[dict]:
    """Each worker's open sockets and RSS now (two sockets per relayed stream)."""
    found = []
    for pid in bench.gateway.worker_pids():
        try:
            sockets = sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir()
                          if fd.readlink().name.startswith("socket:"))
        except OSError:
            continue
        rss = memory_kb(pid).get("VmRSS", 0)
        found.append({"pid": pid, "sockets": sockets, "rss_mb": round(rss / 1024, 1)})
    return found


def stream_summary(result: dict, beside: dict, plan: Plan) -> dict:
    return {
        "streams": result["count"], "chunks": plan.stream_chunks,
        "interval_ms": plan.stream_interval_ms, "ramp_s": plan.ramp_s,
        "held_at_once": result["open_peak"], "errors": result["error_count"],
        "unfinished": result["unfinished"], "error_samples": result["errors"][:5],
        "first_chunk_ms": stats.latency_summary(result["ttfc_ms"]),
        "beside": beside,
    }


def memory(bench: Bench) -> dict:
    workers = {pid: memory_kb(pid) for pid in bench.gateway.worker_pids()}
    peak = [m.get("VmHWM", 0) / 1024 for m in workers.values()]
    return {"workers": len(workers), "peak_rss_mb": [round(p, 1) for p in peak],
            "rss_now_mb": [round(m.get("VmRSS", 0) / 1024, 1)
                           for m in workers.values()]}


def log_counts(bench: Bench) -> dict:
    """How many lines the gateway logged at each level above INFO, with samples."""
    lines = bench.gateway.log_text().splitlines()
    found: dict = {level: sum(f" {level} " in line for line in lines)
                   for level in ("WARNING", "ERROR", "CRITICAL")}
    samples = {line.partition("] ")[2][:160] for line in lines
               if " WARNING " in line or " ERROR " in line}
    found["samples"] = sorted(samples)[:3]
    return found


PARTS = ("throughput", "features", "streams")


def measure(bench: Bench, parts: tuple[str, ...] = PARTS) -> dict:
    plan = bench.plan
    results = {"plan": plan.name, "parts": list(parts), "startup": start(bench)}
    warm_up(bench)
    if "throughput" in parts:
        results["throughput"] = (throughput(bench, 0, plan.closed_s, 3)
                                 + throughput(bench, 50, plan.slow_s, 2))
    if "features" in parts:
        results["features"] = features(bench, plan.feature_s)
    if "streams" in parts:
        results["streams"] = streams(bench)
    results["memory"] = memory(bench)
    results["gateway_log"] = log_counts(bench)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a shorter run: 1 s loads, 200 streams of 5 chunks")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable); the JSON then "
                             "judges only the targets it measured")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="where to write the JSON (default %(default)s)")
    args = parser.parse_args()
    bench = Bench(QUICK if args.quick else FULL)
    began, speed_before = time.perf_counter(), speed_check_ms()
    try:
        results = measure(bench, tuple(args.only or PARTS))
    finally:
        bench.gateway.stop()
        bench.fake.stop()
    results["run_s"] = round(time.perf_counter() - began, 1)
    results["speed_check_ms"] = {"before": speed_before, "after": speed_check_ms()}
    results = report.finish(results)
    print(report.table(results))
    report.save(results, args.out)


if __name__ == "__main__":
    main()
