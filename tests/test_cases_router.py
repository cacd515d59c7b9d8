"""Field cases B10, B11, B16 and B17 (shared/cases), end to end through
gunicorn (one worker) against loopback fakes standing in for ``*.test``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import requests

KEY = "sk-proxy-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
HI = [{"role": "user", "content": "hi"}]
SECRETS = ("sk-user-A-SECRET", "sk-user-B-SECRET", "sk-user-U-SECRET",
           "sk-admin-A-SECRET", "sk-admin-B-SECRET")


def boom(status: int, message: str = "boom", type_: str = "server_error",
         code: Any = None, param: Any = None) -> dict:
    return {"status": status, "json": {"error": {
        "message": message, "type": type_, "param": param, "code": code}}}


@dataclass
class Answer:
    status: int
    text: str
    headers: dict[str, str]
    elapsed: float

    @property
    def json(self) -> Any:
        return orjson.loads(self.text)

    def sse(self) -> list[str]:
        return [block[len("data: "):] for block in self.text.split("\n\n")
                if block.startswith("data: ")]

    def assert_openai_error(self) -> dict:
        error = self.json["error"]
        assert set(error) == {"message", "type", "param", "code"}
        return error

    def assert_no_secrets(self) -> None:
        exposed = self.text + " ".join(self.headers.values())
        assert not any(secret in exposed for secret in SECRETS)


def send(gateway, body: dict) -> Answer:
    started = time.monotonic()
    response = requests.post(f"{gateway.url}/v1/chat/completions", json=body,
                             headers=AUTH, timeout=30)
    text = response.text
    return Answer(response.status_code, text, dict(response.headers),
                  time.monotonic() - started)


def user_config_gateway(make_gateway, *fakes):
    """The cases' ``config: null``: no models, user_config on, the fakes allowed."""
    return make_gateway({
        "model_list": [],
        "litellm_settings": {"user_url_allowed_hosts": [f.host_port for f in fakes]},
        "general_settings": {"master_key": KEY, "allow_user_config": True},
    }, workers=1)


def dep(name: str, fake, model: str, key: str, **params) -> dict:
    return {"model_name": name, "litellm_params": {
        "model": f"openai/{model}", "api_base": f"{fake.base}/v1", "api_key": key,
        **params}}


def fresh(*steps):
    """Forget the calls of every fake, and script each ``(fake, replies)``."""
    for fake, replies in steps:
        fake.reset()
        fake.script(*replies)


def order_of(*fakes) -> list[str]:
    calls = sorted((call.at, fake.name) for fake in fakes for call in fake.calls)
    return [name for _, name in calls]


# B10: fallback taken on a failing primary; cyclic fallbacks end


def test_b10_fallbacks_trigger_and_terminate(make_gateway, fake_upstream_factory):
    a, b = fake_upstream_factory("A"), fake_upstream_factory("B")
    gateway = user_config_gateway(make_gateway, a, b)

    fresh((a, [boom(401, "invalid api key", "invalid_request_error",
                    "invalid_api_key")]),
          (b, [{"status": 200, "json": "CHAT_OK"}]))
    answer = send(gateway, {"model": "user-primary", "messages": HI, "user_config": {
        "model_list": [dep("user-primary", a, "p", "sk-user-WRONG"),
                       dep("user-backup", b, "b", "sk-user-B-SECRET")],
        "num_retries": 0, "fallbacks": [{"user-primary": ["user-backup"]}]}})
    assert answer.status == 200
    assert "ok-from-B" in answer.text
    assert order_of(a, b) == ["A", "B"]
    assert a.calls[0].headers["Authorization"] == "Bearer sk-user-WRONG"
    assert b.calls[0].headers["Authorization"] == "Bearer sk-user-B-SECRET"
    assert b.calls[0].json["model"] == "b"
    answer.assert_no_secrets()

    # a fallback chain never re-enters a group: A, A, B, B and no more
    fresh((a, [boom(500)]), (b, [boom(500)]))
    answer = send(gateway, {"model": "user-a", "messages": HI, "user_config": {
        "model_list": [dep("user-a", a, "a", "sk-user-A-SECRET"),
                       dep("user-b", b, "b", "sk-user-B-SECRET")],
        "num_retries": 1, "allowed_fails": 100,
        "fallbacks": [{"user-a": ["user-b"]}, {"user-b": ["user-a"]}]}})
    assert answer.status in (500, 502, 503)
    answer.assert_openai_error()
    assert order_of(a, b) == ["A", "A", "B", "B"]
    assert answer.elapsed < 15
    answer.assert_no_secrets()

    # a self-referencing fallback adds no attempts
    fresh((a, [boom(503, "busy")]))
    answer = send(gateway, {"model": "user-a", "messages": HI, "user_config": {
        "model_list": [dep("user-a", a, "a", "sk-user-A-SECRET")],
        "num_retries": 1, "fallbacks": [{"user-a": ["user-a"]}]}})
    assert answer.status in (502, 503)
    answer.assert_openai_error()
    assert len(a.calls) == 2
    assert not any(secret in gateway.log_text() for secret in SECRETS)


# B11: exact attempt accounting


def test_b11_attempts_are_exactly_one_plus_num_retries(make_gateway,
                                                       fake_upstream_factory):
    u = fake_upstream_factory("U")
    gateway = user_config_gateway(make_gateway, u)
    model = [dep("user-model", u, "u", "sk-user-U-SECRET")]

    def ask(**settings):
        return send(gateway, {"model": "user-model", "messages": HI,
                              "user_config": {"model_list": model, **settings}})

    fresh((u, [boom(429, "rate limited", "requests", "rate_limit_exceeded")]))
    answer = ask(num_retries=2, allowed_fails=100)
    assert answer.status == 429
    answer.assert_openai_error()
    assert answer.headers["Retry-After"]
    assert len(u.calls) == 3

    fresh((u, [boom(429, "rate limited", "requests", "rate_limit_exceeded")]))
    answer = ask(num_retries=0)
    assert answer.status == 429
    answer.assert_openai_error()
    assert len(u.calls) == 1

    fresh((u, [boom(500), boom(500), {"status": 200, "json": "CHAT_OK"}]))
    answer = ask(num_retries=2, allowed_fails=100)
    assert answer.status == 200
    assert len(u.calls) == 3
    assert answer.headers["x-litellm-attempted-retries"] == "2"

    fresh((u, [boom(400, "bad param", "invalid_request_error", param="temperature")]))
    answer = ask(num_retries=2)
    assert answer.status == 400
    assert answer.assert_openai_error()["param"] == "temperature"
    assert len(u.calls) == 1
    answer.assert_no_secrets()


# B16: timeout precedence; silent streams never hang


def test_b16_timeouts_come_from_the_right_place(make_gateway, fake_upstream_factory):
    u, a, b = (fake_upstream_factory(name) for name in "UAB")
    gateway = make_gateway({
        "model_list": [
            dep("patient-model", a, "p", "sk-admin-A-SECRET", timeout=3),
            dep("default-model", b, "d", "sk-admin-B-SECRET")],
        "litellm_settings": {"request_timeout": 1,
                             "user_url_allowed_hosts": [u.host_port]},
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "general_settings": {"master_key": KEY, "allow_user_config": True},
    }, workers=1)
    slow = [{"status": 200, "delay_s": 2, "json": "CHAT_OK"}]
    fresh((u, [{"status": 200, "delay_s": 3, "json": "CHAT_OK"}]), (a, slow),
          (b, slow))

    # the user_config deployment's timeout (1 s) is enforced
    answer = send(gateway, {"model": "user-model", "messages": HI, "user_config": {
        "model_list": [dep("user-model", u, "u", "sk-user-U-SECRET", timeout=1)],
        "num_retries": 0}})
    assert answer.status in (408, 504)
    answer.assert_openai_error()
    assert answer.elapsed <= 2.0
    assert len(u.calls) == 1

    # the deployment's own 3 s wins over the global 1 s
    answer = send(gateway, {"model": "patient-model", "messages": HI})
    assert answer.status == 200
    assert answer.elapsed >= 1.9
    assert len(a.calls) == 1

    # no deployment value: request_timeout (1 s)
    answer = send(gateway, {"model": "default-model", "messages": HI})
    assert answer.status in (408, 504)
    answer.assert_openai_error()
    assert answer.elapsed <= 1.8
    assert len(b.calls) == 1

    # the request body's timeout is honoured
    fresh((a, slow))
    answer = send(gateway, {"model": "patient-model", "messages": HI, "timeout": 0.5})
    assert answer.status in (408, 504)
    answer.assert_openai_error()
    assert answer.elapsed <= 1.3
    assert len(a.calls) == 1

    # a stream that never sends a byte: a real HTTP error, within 3 s
    fresh((a, [{"hang": True}]))
    answer = send(gateway, {"model": "patient-model", "messages": HI, "stream": True})
    assert answer.status in (408, 504)
    answer.assert_openai_error()
    assert answer.elapsed <= 4.5
    assert len(a.calls) == 1

    # a stream that goes silent after its first chunk ends with an error event
    first = ('{"id":"c1","object":"chat.completion.chunk","created":0,"model":"p",'
             '"choices":[{"index":0,"delta":{"role":"assistant","content":"par"},'
             '"finish_reason":null}]}')
    fresh((a, [{"sse": [first], "stall_after_chunks": 1}]))
    answer = send(gateway, {"model": "patient-model", "messages": HI, "stream": True})
    assert answer.status == 200
    assert '"par"' in answer.text and '"error"' in answer.text
    events = answer.sse()
    assert orjson.loads(events[-1])["error"]["type"] == "timeout"
    assert "[DONE]" not in events and '"finish_reason":"stop"' not in answer.text
    assert answer.elapsed <= 4.5
    assert len(a.calls) == 1
    answer.assert_no_secrets()


# B17: streams take the same fallbacks as plain requests


def streamed(answer: Answer) -> str:
    chunks = [orjson.loads(e) for e in answer.sse() if e != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in chunks if c.get("choices"))


def assert_served_by_b(answer: Answer) -> None:
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    assert streamed(answer) == "ok-from-B"
    assert answer.sse()[-1] == "[DONE]"


def test_b17_streams_fall_back_before_the_first_byte(make_gateway,
                                                     fake_upstream_factory):
    a, b = fake_upstream_factory("A"), fake_upstream_factory("B")
    gateway = user_config_gateway(make_gateway, a, b)

    def ask(**primary_params):
        return send(gateway, {"model": "user-primary", "stream": True, "messages": HI,
                              "user_config": {"model_list": [
                                  dep("user-primary", a, "p", "sk-user-A-SECRET",
                                      **primary_params),
                                  dep("user-backup", b, "b", "sk-user-B-SECRET")],
                                  "num_retries": 0,
                                  "fallbacks": [{"user-primary": ["user-backup"]}]}})

    fresh((a, [boom(429, "rate limited", "requests", "rate_limit_exceeded")]),
          (b, [{"sse": "SSE_OK"}]))
    answer = ask()
    assert_served_by_b(answer)
    assert order_of(a, b) == ["A", "B"]
    assert a.calls[0].json["stream"] is True
    assert b.calls[0].json["stream"] is True and b.calls[0].json["model"] == "b"

    # a 200 whose first event is an error is still a pre-content failure
    overloaded = ('{"error":{"message":"Overloaded","type":"overloaded_error",'
                  '"param":null,"code":529}}')
    fresh((a, [{"sse": [overloaded]}]), (b, [{"sse": "SSE_OK"}]))
    answer = ask()
    assert_served_by_b(answer)
    assert "Overloaded" not in answer.text
    assert (len(a.calls), len(b.calls)) == (1, 1)

    # the primary stalls before its first byte: timeout, then the fallback
    fresh((a, [{"hang": True}]), (b, [{"sse": "SSE_OK"}]))
    answer = ask(timeout=1)
    assert_served_by_b(answer)
    assert answer.elapsed <= 3
    assert (len(a.calls), len(b.calls)) == (1, 1)
    answer.assert_no_secrets()


def test_b17_operator_fallbacks_apply_to_streams(make_gateway,
                                                 fake_upstream_factory):
    a, b = fake_upstream_factory("A"), fake_upstream_factory("B")
    gateway = make_gateway({
        "model_list": [dep("primary", a, "p", "sk-admin-A-SECRET"),
                       dep("backup", b, "b", "sk-admin-B-SECRET")],
        "router_settings": {"num_retries": 0, "fallbacks": [{"primary": ["backup"]}]},
        "general_settings": {"master_key": KEY},
    }, workers=1)
    fresh((a, [boom(503, "busy")]), (b, [{"sse": "SSE_OK"}]))

    answer = send(gateway, {"model": "primary", "stream": True, "messages": HI})

    assert_served_by_b(answer)
    assert (len(a.calls), len(b.calls)) == (1, 1)
    answer.assert_no_secrets()


@pytest.fixture(autouse=True)
def _no_proxy_for_requests(monkeypatch):
    """The test client talks to loopback only, never through a proxy."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
