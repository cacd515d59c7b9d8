"""What a ``user_config`` adds to a request: plain, repeated config, cold config.

Run from the repository root::

    python bench/user_config.py [requests per mode]

It starts a fake provider and the gateway under gunicorn (one worker) on
127.0.0.1, then sends the same chat request three ways over one kept-alive
connection: to an operator model; with the same two-deployment
``user_config`` each time (a cached router); and with a config that differs
every time (validated and built for each request). It prints the median and
95th percentile of the client's latency and of the gateway's own overhead
(``x-litellm-overhead-duration-ms``: time not spent waiting on the upstream).
This is a benchmark, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes import FakeUpstream  # noqa: E402
from tests.gateway_proc import GatewayProcess  # noqa: E402

KEY = "sk-bench"
HELLO = [{"role": "user", "content": "hi"}]
WARMUP = 50


def client_config(base: str, variant: int) -> dict[str, Any]:
    """The seed's shape: a deployment, a fallback, retries and allowed_fails."""
    def deployment(name: str) -> dict[str, Any]:
        return {"model_name": name, "tpm": 240000, "rpm": 1800000,
                "litellm_params": {"model": "openai/gpt-4o-mini", "timeout": 10,
                                   "api_base": f"{base}/v1",
                                   "api_key": f"sk-client-{variant}"}}

    return {"model_list": [deployment("primary"), deployment("backup")],
            "num_retries": 2, "allowed_fails": 3,
            "fallbacks": [{"primary": ["backup"]}]}


def measure(session: requests.Session, url: str, body_for: Callable[[int], dict],
            count: int) -> tuple[list[float], list[float]]:
    """Client latency and gateway overhead, in ms, of ``count`` requests."""
    latencies, overheads = [], []
    for index in range(count):
        started = time.perf_counter()
        response = session.post(url, json=body_for(index), timeout=10)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        overheads.append(float(response.headers["x-litellm-overhead-duration-ms"]))
    return latencies, overheads


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"{statistics.median(ordered):7.3f} {p95:7.3f}"


def run(count: int) -> None:
    with FakeUpstream("bench", keep_calls=False) as fake:
        config = {
            "model_list": [{"model_name": "plain", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": f"{fake.base}/v1",
                "api_key": "sk-operator"}}],
            "general_settings": {"master_key": KEY, "allow_user_config": True},
            "litellm_settings": {"user_url_allowed_hosts": [fake.host_port]},
        }
        with GatewayProcess(config, workers=1) as gateway, requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {KEY}"
            url = f"{gateway.url}/v1/chat/completions"
            repeated = client_config(fake.base, 0)
            fresh = itertools.count(1)
            modes = {
                "plain": lambda i: {"model": "plain", "messages": HELLO},
                "user_config, repeated": lambda i: {
                    "model": "primary", "messages": HELLO, "user_config": repeated},
                "user_config, cold": lambda i: {
                    "model": "primary", "messages": HELLO,
                    "user_config": client_config(fake.base, next(fresh))},
            }
            report(http, url, modes, count)


def report(http: requests.Session, url: str,
           modes: dict[str, Callable[[int], dict]], count: int) -> None:
    print(f"{count} requests per mode, one gunicorn worker, ms (median p95)")
    print(f"{'mode':24} {'client latency':>15} {'gateway overhead':>17}")
    for name, body_for in modes.items():
        measure(http, url, body_for, WARMUP)
        latencies, overheads = measure(http, url, body_for, count)
        print(f"{name:24} {summary(latencies):>15} {summary(overheads):>17}")


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
