"""user_config served in-process: enabling, caching, state, resolution, SSRF, keys.

Each test builds the app from a config dict and talks to fake upstreams on
loopback; host names resolve through a fake resolver, and ``network_spy``
fails any connection that would leave loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import create_app, user_configs
from app.config import build
from tests.conftest import FakeResolver
from tests.fakes import FakeUpstream, openai_error

PROXY_KEY = "sk-proxy-test"
HEADERS = {"Authorization": f"Bearer {PROXY_KEY}"}
HELLO = [{"role": "user", "content": "hi"}]
CLIENT_KEY = "sk-client-KEY-SECRET-1"


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    made = {name: FakeUpstream(name) for name in ("A", "B")}
    yield made
    for fake in made.values():
        fake.close()


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({"loopback.test": ["127.0.0.1"],
                         "metadata.test": ["169.254.169.254"],
                         "public.test": ["8.8.8.8"]})


@pytest.fixture
def make_client(fakes, resolver) -> Callable[..., Any]:
    """A test client for a gateway with user_config on and the fakes allowed."""

    def make(general: dict | None = None, **sections: Any):
        config = {
            "model_list": sections.pop("model_list", []),
            "general_settings": {"master_key": PROXY_KEY, "allow_user_config": True,
                                 **(general or {})},
            "litellm_settings": {"user_url_allowed_hosts": [
                f.host_port for f in fakes.values()]},
            **sections,
        }
        return create_app(config=build(config), resolver=resolver).test_client()

    return make


def deployment(name: str, base: str, **params: Any) -> dict:
    return {"model_name": name, "litellm_params": {
        "model": f"openai/{name}-model", "api_base": base, "api_key": CLIENT_KEY,
        **params}}


def pair(fakes: dict[str, FakeUpstream], **settings: Any) -> dict:
    """Group a on fake A, falling back to group b on fake B."""
    return {"model_list": [deployment("a", f"{fakes['A'].base}/v1"),
                           deployment("b", f"{fakes['B'].base}/v1")],
            "fallbacks": [{"a": ["b"]}], **settings}


def ask(client, user_config: Any, model: str = "a", **body: Any):
    payload = {"model": model, "messages": HELLO, "user_config": user_config, **body}
    return client.post("/v1/chat/completions", json=payload, headers=HEADERS)


def content(response) -> str:
    return response.get_json()["choices"][0]["message"]["content"]


# Who may use it


def test_user_config_is_refused_unless_the_operator_enables_it(make_client, fakes):
    client = make_client({"allow_user_config": False})
    response = ask(client, pair(fakes))
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["param"] == "user_config"
    assert "general_settings.allow_user_config" in error["message"]
    assert fakes["A"].calls == [] and fakes["B"].calls == []


def test_allow_client_side_credentials_enables_it_too(make_client, fakes):
    client = make_client({"allow_user_config": False,
                          "allow_client_side_credentials": True})
    assert content(ask(client, pair(fakes))) == "ok-from-A"


# Resolution


def test_the_model_resolves_by_name_then_by_the_deployments_model(make_client, fakes):
    client = make_client()
    config = pair(fakes)
    for model, served in (("a", "A"), ("b", "B"), ("b-model", "B"),
                          ("openai/a-model", "A")):
        response = ask(client, config, model=model)
        assert content(response) == f"ok-from-{served}", model
    assert fakes["B"].calls[-1].json["model"] == "b-model"


def test_an_unknown_model_is_a_404_naming_the_clients_models(make_client, fakes):
    operator = [{"model_name": "operator-only", "litellm_params": {
        "model": "openai/internal-name", "api_base": f"{fakes['A'].base}/v1",
        "api_key": "sk-operator-SECRET"}}]
    client = make_client(model_list=operator)
    for model in ("nope", "operator-only", "internal-name"):
        response = ask(client, pair(fakes), model=model)
        error = response.get_json()["error"]
        assert response.status_code == 404 and error["code"] == "model_not_found"
        assert error["message"].endswith("Models served: a, b.")
        assert "does not exist in this user_config" in error["message"]
    assert fakes["A"].calls == []


def test_the_operators_config_never_resolves_by_internal_name(make_client, fakes):
    operator = [{"model_name": "public", "litellm_params": {
        "model": "openai/internal-name", "api_base": f"{fakes['A'].base}/v1",
        "api_key": "sk-operator-SECRET"}}]
    client = make_client(model_list=operator)
    body = {"model": "internal-name", "messages": HELLO}
    response = client.post("/v1/chat/completions", json=body, headers=HEADERS)
    assert response.status_code == 404 and fakes["A"].calls == []


# Serving


def test_the_response_names_the_clients_deployment_and_the_walk(make_client, fakes):
    fakes["A"].script(openai_error(500, "down", "server_error"))
    response = ask(make_client(), pair(fakes, num_retries=0))
    assert content(response) == "ok-from-B"
    digest = user_configs.config_digest(pair(fakes, num_retries=0))
    headers = response.headers
    assert headers["x-litellm-model-id"].startswith(digest[:16] + ":")
    assert headers["x-litellm-model-group"] == "b"
    assert headers["x-litellm-attempted-fallbacks"] == "1"
    assert headers["x-litellm-model-api-base"] == fakes["B"].base


def test_default_litellm_params_sit_under_each_deployments_own(make_client, fakes):
    config = pair(fakes, default_litellm_params={"temperature": 0.25, "top_k": 3})
    config["model_list"][0]["litellm_params"]["top_k"] = 7
    ask(make_client(), config)
    sent = fakes["A"].calls[0].json
    assert sent["temperature"] == 0.25 and sent["top_k"] == 7


def test_the_clients_key_is_sent_and_nothing_of_the_gateways(
        make_client, fakes, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-OPERATOR-SECRET")
    caplog.set_level(logging.DEBUG)
    ask(make_client(), pair(fakes))
    call = fakes["A"].calls[0]
    assert call.headers["authorization"] == f"Bearer {CLIENT_KEY}"
    assert "OPERATOR-SECRET" not in caplog.text and CLIENT_KEY not in caplog.text


def test_a_deployment_without_a_key_is_refused_not_backed_by_the_environment(
        make_client, fakes, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-OPERATOR-SECRET")
    config = pair(fakes)
    del config["model_list"][1]["litellm_params"]["api_key"]
    response = ask(make_client(), config)
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["param"] == "user_config"
    assert error["message"].startswith("user_config.model_list[1]: 'b' has no "
                                       "credentials of its own")
    assert fakes["A"].calls == [] and fakes["B"].calls == []


# The cache


@pytest.fixture
def validations(monkeypatch) -> list[dict]:
    """Each config the checks were asked to validate."""
    seen: list[dict] = []
    real = user_configs.checks.validated

    def counting(raw, limits):
        seen.append(raw)
        return real(raw, limits)

    monkeypatch.setattr(user_configs.checks, "validated", counting)
    return seen


def test_an_identical_config_is_validated_once(make_client, fakes, validations):
    client = make_client()
    config = pair(fakes)
    reordered = dict(reversed(list(config.items())))
    for sent in (config, config, reordered):
        assert content(ask(client, sent)) == "ok-from-A"
    assert len(validations) == 1
    ask(client, pair(fakes, num_retries=1))
    assert len(validations) == 2


def test_a_refused_config_is_not_cached(make_client, fakes, validations):
    client = make_client()
    config = pair(fakes, num_retries=11)
    for _ in range(2):
        assert ask(client, config).status_code == 400
    assert len(validations) == 2


def test_the_cache_is_a_bounded_lru(make_client, fakes, validations):
    client = make_client({"user_config_cache_size": 2})
    first, second, third = (pair(fakes, num_retries=n) for n in (0, 1, 2))
    for config in (first, second, first, third, first):
        assert ask(client, config).status_code == 200
    assert len(validations) == 3  # the second was the least recently used
    ask(client, second)
    assert len(validations) == 4


def test_two_configs_never_share_cooldown_state(make_client, fakes):
    fakes["A"].script(openai_error(500, "down", "server_error"))
    client = make_client()
    mine = pair(fakes, num_retries=0, allowed_fails=0, cooldown_time=60)
    theirs = pair(fakes, num_retries=0, allowed_fails=0, cooldown_time=60,
                  routing_strategy="least-busy")
    for config, calls_to_a in ((mine, 1), (mine, 1), (theirs, 2), (mine, 2)):
        assert content(ask(client, config)) == "ok-from-B"
        assert len(fakes["A"].calls) == calls_to_a


def test_one_connection_pool_serves_every_config(make_client, fakes):
    client = make_client()
    gateway = client.application.extensions["gateway"]
    for n in range(3):
        ask(client, pair(fakes, num_retries=n))
    routers = list(gateway.user_configs.cache.routers.values())
    assert len(routers) == 3
    assert all(router.attempts.dispatcher is gateway.dispatcher for router in routers)


# The SSRF guard


@pytest.mark.parametrize("base", ["https://loopback.test/v1",
                                  "https://metadata.test/latest"])
def test_a_name_resolving_inward_is_refused_before_any_connection(
        make_client, resolver, network_spy, base):
    config = {"model_list": [deployment("a", base)]}
    response = ask(make_client(), config)
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["param"] == "user_config"
    assert "non-public" in error["message"]
    assert resolver.calls and network_spy.connects == []


def test_a_cached_config_is_judged_again_on_every_request(
        make_client, resolver, network_spy, fakes, validations):
    config = {"model_list": [deployment("a", "https://public.test/v1")],
              "fallbacks": [{"a": ["b"]}]}
    config["model_list"].append(deployment("b", f"{fakes['B'].base}/v1"))
    client = make_client()
    resolver.answers["public.test"] = ["169.254.169.254"]
    assert ask(client, config).status_code == 400
    assert ask(client, config).status_code == 400
    assert len(resolver.calls) == 2 and len(validations) == 1
    assert all(port != 443 for _, port in network_spy.connects)


def test_a_request_level_bedrock_endpoint_passes_the_guard_too(
        make_client, network_spy):
    config = {"model_list": [{"model_name": "c", "litellm_params": {
        "model": "bedrock/anthropic.claude-3", "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "example-SECRET", "aws_region_name": "us-east-1"}}]}
    response = ask(make_client(), config, model="c",
                   aws_bedrock_runtime_endpoint="https://metadata.test")
    assert response.status_code == 400
    assert "non-public" in response.get_json()["error"]["message"]
    assert network_spy.connects == []


def test_a_deployments_bedrock_endpoint_is_checked_and_pinned(make_client, fakes):
    config = {"model_list": [{"model_name": "c", "litellm_params": {
        "model": "bedrock/anthropic.claude-3", "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "example-SECRET", "aws_region_name": "us-east-1",
        "aws_bedrock_runtime_endpoint": fakes["A"].base}}]}
    ask(make_client(), config, model="c")
    call = fakes["A"].calls[0]
    assert call.path == "/model/anthropic.claude-3/converse"
    assert call.headers["authorization"].startswith("AWS4-HMAC-SHA256")


def test_secret_references_are_refused_and_never_resolved(
        make_client, fakes, monkeypatch, caplog):
    monkeypatch.setenv("GATEWAY_ONLY_VALUE", "sk-env-GATEWAY-SECRET")
    caplog.set_level(logging.DEBUG)
    config = pair(fakes)
    params = config["model_list"][0]["litellm_params"]
    params["api_key"] = "os.environ/GATEWAY_ONLY_VALUE"
    response = ask(make_client(), config)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(
        "user_config.model_list[0].litellm_params.api_key: secret references")
    assert fakes["A"].calls == [] and fakes["B"].calls == []
    assert "GATEWAY-SECRET" not in caplog.text + response.get_data(as_text=True)
