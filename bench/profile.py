"""Profile the gateway's hot path with py-spy while the benchmark's load runs.

``python bench/profile.py [--kind plain|api_base|user_config]
[--concurrency 8] [--seconds 5] [--workers 1]`` starts the fake upstream and
the gateway as ``bench/run.py`` does, pins the gateway to CPU 0 and
everything else to the other CPUs (so the samples show the gateway's own
work, not time it spent waiting for a core), samples every worker with
py-spy under load, and prints the functions that cost the most, by their own
time and with what they call. Raw samples go to
``bench/results/profile-<kind>.txt`` (git ignores them; any flame-graph tool
that reads py-spy's ``raw`` format draws them).

py-spy is a development tool, not a dependency: ``pip install py-spy``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stats  # noqa: E402
from bench.run import FULL, Bench, chat_body, start  # noqa: E402
from bench.servers import REPO_ROOT  # noqa: E402

OUT_DIR = REPO_ROOT / "bench" / "results"
# Frames where a greenlet or the hub waits: not the gateway's own work.
IDLE = ("gevent/hub.py", "gevent/_hub_primitives", "poll.poll", "select.py",
        "_wait (gevent", "acquire_with_timeout")


def body_for(bench: Bench, kind: str) -> str:
    return {
        "plain": chat_body("fast"),
        "api_base": chat_body("fast", api_base=f"{bench.origin}/v1"),
        "user_config": bench.user_config_body(),
    }[kind]


def pin(pids: list[int], cpus: set[int]) -> None:
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            pass


def record(pids: list[int], seconds: float, out: Path) -> list[Path]:
    """One py-spy per worker, all sampling at once."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    files, procs = [], []
    out.parent.mkdir(parents=True, exist_ok=True)
    for pid in pids:
        path = out.with_suffix(f".{pid}.txt")
        files.append(path)
        procs.append(subprocess.Popen(
            [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250",
             "-f", "raw", "--nonblocking", "-o", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for proc in procs:
        proc.wait(timeout=seconds + 30)
    return files


def frame_name(frame: str) -> str:
    """``function (path:line)`` shortened to ``function (module file)``."""
    name, _, where = frame.partition(" (")
    path = where.split(":")[0]
    short = "/".join(path.split("/")[-2:])
    return f"{name} ({short})"


LIBRARIES = frozenset({
    "gunicorn", "flask", "werkzeug", "requests", "urllib3", "gevent", "greenlet",
    "marshmallow", "orjson", "jinja2", "yaml", "charset_normalizer", "idna",
    "certifi", "click", "itsdangerous", "blinker", "markupsafe",
})


def package(frame: str) -> str:
    """Who owns a frame: the gateway, a library, or the standard library
    (py-spy writes paths relative to the directory they were imported from)."""
    path = frame.partition(" (")[2].split(":")[0]
    top = path.split("/")[0].removesuffix(".py")
    if top == "app":
        return "app (the gateway)"
    if top in LIBRARIES:
        return top
    return f"stdlib {top}" if top else "native code"


def summarise(files: list[Path], top: int) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = idle = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            if any(marker in frames[-1] for marker in IDLE):
                idle += int(count)
                continue
            total += int(count)
            own[frame_name(frames[-1])] += int(count)
            packages[package(frames[-1])] += int(count)
            for name in {frame_name(f) for f in frames}:
                inclusive[name] += int(count)
    lines = [f"{total} busy samples ({idle} idle samples left out)", "",
             "own time by package:"]
    lines += [f"{100 * n / total:5.1f}%  {p}" for p, n in packages.most_common(15)]
    lines += ["", "own time:"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "with what it calls:"]
    lines += [f"{100 * n / total:5.1f}%  {f}"
              for f, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def profile(args: argparse.Namespace) -> str:
    bench = Bench(FULL)
    bench.gateway.workers = args.workers
    try:
        start(bench)
        pin(bench.gateway_pids(), {0})
        pin([os.getpid(), bench.fake.pid or 0], set(range(1, os.cpu_count() or 2)))
        target = bench.gateway_target(body_for(bench, args.kind))
        spec = {"kind": "closed", **target, "concurrency": args.concurrency,
                "duration_s": args.seconds + 2}
        load = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", orjson.dumps(spec).decode()],
            cwd=REPO_ROOT, stdout=subprocess.PIPE)
        time.sleep(1)
        out = OUT_DIR / f"profile-{args.kind}"
        files = record(bench.gateway.worker_pids(), args.seconds, out)
        result = stats.closed_summary(orjson.loads(load.communicate(timeout=60)[0]))
    finally:
        bench.gateway.stop()
        bench.fake.stop()
    head = (f"{args.kind} at concurrency {args.concurrency}: {result['rps']} req/s, "
            f"p50 {result['p50']} ms, {result['failures']} failures")
    return head + "\n" + summarise(files, args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", default="plain",
                        choices=("plain", "api_base", "user_config"))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--top", type=int, default=30)
    print(profile(parser.parse_args()))


if __name__ == "__main__":
    main()
