"""Field case B20: malformed input must be a quick 400 (or 401), never a 500
that walks retries and the cyclic fallback chain.

The operator's two deployments fall back to each other with two retries
each; fake A answers every call with a 400, fake B would answer 200. Each
step is sent to real gunicorn and must be refused without amplification:
no upstream call (or, for a malformed tool call relayed as is, exactly one),
within the step's time bound.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes import FakeUpstream, openai_error
from tests.gateway_proc import GatewayProcess

PROXY_KEY = "sk-proxy-test"
AUTH = {"Authorization": f"Bearer {PROXY_KEY}"}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    made = {name: FakeUpstream(name) for name in ("A", "B", "U")}
    made["A"].script(openai_error(400, "tool_calls arguments are not valid JSON",
                                  "invalid_request_error", param="messages"))
    yield made
    for fake in made.values():
        fake.close()


@pytest.fixture(scope="module")
def gateway(fakes: dict[str, FakeUpstream]) -> Iterator[GatewayProcess]:
    def deployment(name: str, fake: str, key: str) -> dict:
        return {"model_name": name, "litellm_params": {
            "model": f"openai/{name[-1]}", "api_base": f"{fakes[fake].base}/v1",
            "api_key": key}}

    config = {
        "model_list": [deployment("svc-a", "A", "sk-admin-A-SECRET"),
                       deployment("svc-b", "B", "sk-admin-B-SECRET")],
        "router_settings": {"num_retries": 2,
                            "fallbacks": [{"svc-a": ["svc-b"]}, {"svc-b": ["svc-a"]}]},
        "general_settings": {"master_key": PROXY_KEY, "allow_user_config": True},
        "litellm_settings": {"user_url_allowed_hosts": [
            fake.host_port for fake in fakes.values()]},
    }
    with GatewayProcess(config, workers=1) as process:
        yield process


@pytest.fixture(autouse=True)
def fresh_counts(fakes: dict[str, FakeUpstream],
                 gateway: GatewayProcess) -> Iterator[None]:
    """Counts are per step; after each, the log holds no secret and no crash."""
    for fake in fakes.values():
        fake.reset()
    yield
    log = gateway.log_text()
    assert "SECRET" not in log and "unhandled" not in log


def client_config(fakes: dict[str, FakeUpstream], params: dict,
                  **settings: Any) -> dict:
    base = f"{fakes['U'].base}/v1"
    return {"model_list": [{"model_name": "u",
                            "litellm_params": {"api_base": base, **params}}],
            **settings}


def user_config_steps(fakes: dict[str, FakeUpstream]) -> list[tuple[Any, str]]:
    """(user_config, the path the 400 must name) for the case's user_config steps."""
    model = {"model": "openai/u"}
    return [
        ("not-an-object", "user_config: Not a valid mapping"),
        (client_config(fakes, {}), "user_config.model_list[0].litellm_params.model:"),
        (client_config(fakes, model, num_retries="lots"), "user_config.num_retries:"),
        (client_config(fakes, model, num_retries=-1), "user_config.num_retries:"),
        (client_config(fakes, model, num_retries=100000),
         "user_config.num_retries: 100000 is more than the limit of 10"),
        (client_config(fakes, model, fallbacks=[{"u": ["does-not-exist"]}]),
         "user_config.fallbacks[0]: names a model group not in model_list"),
    ]


def timed_post(gateway: GatewayProcess, **kwargs: Any) -> tuple[requests.Response,
                                                                 float]:
    started = time.monotonic()
    response = requests.post(f"{gateway.url}/v1/chat/completions", timeout=10,
                             **kwargs)
    return response, time.monotonic() - started


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def openai_error_of(response: requests.Response) -> dict:
    assert "SECRET" not in response.text + str(response.headers)
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def counts(fakes: dict[str, FakeUpstream]) -> dict[str, int]:
    return {name: len(fake.calls) for name, fake in fakes.items()}


@pytest.mark.parametrize("step", range(6))
def test_a_malformed_user_config_is_a_quick_400(gateway, fakes, step):
    user_config, names = user_config_steps(fakes)[step]
    body = {"model": "user-model" if step == 0 else "u", "messages": HI,
            "user_config": user_config}
    response, elapsed = timed_post(gateway, json=body, headers=AUTH)

    error = openai_error_of(response)
    assert response.status_code == 400 and elapsed < 1
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "user_config" and error["message"].startswith(names)
    assert counts(fakes) == {"A": 0, "B": 0, "U": 0}


def test_an_unparseable_body_is_a_400(gateway, fakes):
    response, elapsed = timed_post(
        gateway, data=b'{"model": "svc-a", "messages": [',
        headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400 and elapsed < 1
    assert openai_error_of(response)["type"] == "invalid_request_error"
    assert counts(fakes) == {"A": 0, "B": 0, "U": 0}


def test_malformed_tool_call_arguments_are_relayed_once_never_retried(gateway, fakes):
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Par'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    response, elapsed = timed_post(gateway, json={"model": "svc-a",
                                                  "messages": messages}, headers=AUTH)

    error = openai_error_of(response)
    assert response.status_code == 400 and elapsed < 2
    assert error["type"] == "invalid_request_error"
    assert counts(fakes) == {"A": 1, "B": 0, "U": 0}
    assert response.headers["x-litellm-attempted-retries"] == "0"
    assert response.headers["x-litellm-attempted-fallbacks"] == "0"


@pytest.mark.parametrize("body", [
    {"model": "svc-a", "messages": [{"role": "user", "content": 7}]},
    {"model": "svc-a", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": "get_weather"}]}]},
    {"model": "svc-a", "messages": HI, "stop": {"at": "x"}},
    {"model": "svc-a", "messages": HI, "metadata": {"deep": nested(300)}},
])
def test_other_malformed_bodies_are_400s_without_an_upstream_call(
        gateway, fakes, body):
    response, elapsed = timed_post(gateway, json=body, headers=AUTH)
    assert response.status_code == 400 and elapsed < 1
    assert openai_error_of(response)["type"] == "invalid_request_error"
    assert counts(fakes) == {"A": 0, "B": 0, "U": 0}


def test_a_missing_gateway_key_is_a_401(gateway, fakes):
    response, elapsed = timed_post(gateway, json={"model": "svc-a", "messages": HI},
                                   headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and elapsed < 1
    assert openai_error_of(response)["type"] == "authentication_error"
    assert counts(fakes) == {"A": 0, "B": 0, "U": 0}

