"""A bounded load test on loopback: 2,000 requests at concurrency 32 through
gunicorn, over a group where one deployment fails 30 % of the time and the
other now and then answers too late. Every request must get a correct
answer (a completion, or an OpenAI error with a proper status) within the
request's deadline plus a small margin, and no worker may crash."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
import requests

from tests.fakes import chat_ok

KEY = "sk-proxy-test"
REQUESTS = 2000
CONCURRENCY = 32
DEADLINE_S = 2.0
MARGIN_S = 1.0
SLOW_TIMEOUT_S = 0.3
ERROR_STATUSES = {429, 500, 502, 503, 504}


class Dice:
    """A seeded random source shared by the fakes' handler threads."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def roll(self) -> float:
        with self.lock:
            return self.rng.random()


def flaky(dice: Dice):
    failure = {"status": 500, "json": {"error": {
        "message": "flaky", "type": "server_error", "param": None, "code": None}}}
    ok = {"json": chat_ok("ok-from-FLAKY")}
    return lambda call: failure if dice.roll() < 0.3 else ok


def sometimes_late(dice: Dice):
    late = {"delay_s": 1.0, "json": chat_ok("ok-from-LATE")}
    ok = {"json": chat_ok("ok-from-LATE")}
    return lambda call: late if dice.roll() < 0.05 else ok


@dataclass
class Outcome:
    status: int
    body: bytes
    elapsed: float


def judge(outcome: Outcome) -> str | None:
    """What is wrong with an answer, or None when it is correct."""
    try:
        body = orjson.loads(outcome.body)
    except orjson.JSONDecodeError:
        return f"not JSON: {outcome.body[:100]!r}"
    if outcome.status == 200:
        text = body["choices"][0]["message"]["content"]
        return None if text in ("ok-from-FLAKY", "ok-from-LATE") else f"body {text}"
    if outcome.status not in ERROR_STATUSES:
        return f"status {outcome.status}"
    error = body.get("error")
    if not isinstance(error, dict) or set(error) != {"message", "type", "param",
                                                       "code"}:
        return f"error shape {body}"
    return None


def test_load_with_flaky_and_late_upstreams(make_gateway, fake_upstream_factory):
    dice = Dice(2024)
    flaky_fake = fake_upstream_factory("FLAKY", keep_calls=False)
    late_fake = fake_upstream_factory("LATE", keep_calls=False, max_hold_s=5)
    flaky_fake.script(flaky(dice))
    late_fake.script(sometimes_late(dice))
    gateway = make_gateway({
        "model_list": [
            {"model_name": "load", "litellm_params": {
                "model": "openai/flaky", "api_base": f"{flaky_fake.base}/v1",
                "api_key": "sk-admin-F-SECRET"}},
            {"model_name": "load", "litellm_params": {
                "model": "openai/late", "api_base": f"{late_fake.base}/v1",
                "api_key": "sk-admin-L-SECRET", "timeout": SLOW_TIMEOUT_S}},
        ],
        "router_settings": {"num_retries": 2, "allowed_fails": 3, "cooldown_time": 1,
                            "timeout": DEADLINE_S},
        "general_settings": {"master_key": KEY},
    }, workers=2)
    local = threading.local()
    body = orjson.dumps({"model": "load",
                         "messages": [{"role": "user", "content": "hi"}]})

    def one(_: int) -> Outcome:
        session = getattr(local, "session", None) or requests.Session()
        session.trust_env = False
        local.session = session
        started = time.monotonic()
        response = session.post(f"{gateway.url}/v1/chat/completions", data=body,
                                headers={"Authorization": f"Bearer {KEY}",
                                         "Content-Type": "application/json"},
                                timeout=DEADLINE_S + 10)
        return Outcome(response.status_code, response.content,
                       time.monotonic() - started)

    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = list(pool.map(one, range(REQUESTS)))
    took = time.monotonic() - started

    problems = [(o.status, problem) for o in outcomes if (problem := judge(o))]
    statuses = Counter(o.status for o in outcomes)
    slowest = max(o.elapsed for o in outcomes)
    assert len(outcomes) == REQUESTS
    assert problems == [], problems[:5]
    # Most requests succeed; how many depends on timing (a loaded machine times
    # out more, and cooled deployments then answer 503), so the bound is loose.
    assert statuses[200] > REQUESTS * 0.5, statuses
    assert slowest <= DEADLINE_S + MARGIN_S, slowest
    assert took < 60
    assert gateway.running
    log = gateway.log_text()
    for crash in ("WORKER TIMEOUT", "Worker exiting", "Traceback", "unhandled"):
        assert crash not in log
    assert log.count("Booting worker") == 2
    assert "SECRET" not in log
