"""Field case B19: wildcard groups, model names with slashes, match precedence."""

from __future__ import annotations

import pytest
import requests

from tests.fakes import chat_ok

MASTER = "sk-proxy-test"
HIDDEN = ("mock-int", "sk-admin-INT-SECRET")


@pytest.fixture(scope="module")
def fakes():
    from tests.fakes import FakeUpstream

    with FakeUpstream("FW") as fw, FakeUpstream("SP") as sp, FakeUpstream("INT") as internal:
        yield {"FW": fw, "SP": sp, "INT": internal}


@pytest.fixture(scope="module")
def gateway(fakes):
    from tests.gateway_proc import GatewayProcess

    config = {
        "model_list": [
            {"model_name": "fireworks_ai/*", "litellm_params": {
                "model": "fireworks_ai/*", "api_base": f"{fakes['FW'].base}/v1",
                "api_key": "sk-admin-FW-SECRET"}},
            {"model_name": "fireworks_ai/special-model", "litellm_params": {
                "model": "fireworks_ai/accounts/acme/models/special-v2",
                "api_base": f"{fakes['SP'].base}/v1", "api_key": "sk-admin-SP-SECRET"}},
            {"model_name": "team-internal", "litellm_params": {
                "model": "openai/gpt-4o-internal",
                "api_base": f"{fakes['INT'].base}/v1",
                "api_key": "sk-admin-INT-SECRET"}},
        ],
        "general_settings": {"master_key": MASTER},
    }
    process = GatewayProcess(config).start()
    yield process
    process.cleanup()


@pytest.fixture(autouse=True)
def fresh(fakes):
    for name, fake in fakes.items():
        fake.reset()
        fake.script({"json": chat_ok(f"ok-from-{name}")})


def post(gateway, model: str) -> requests.Response:
    return requests.post(f"{gateway.url}/v1/chat/completions", timeout=10,
                         headers={"Authorization": f"Bearer {MASTER}"},
                         json={"model": model,
                               "messages": [{"role": "user", "content": "hi"}]})


def test_only_the_routing_prefix_is_stripped(gateway, fakes):
    response = post(gateway, "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct")
    assert response.status_code == 200
    (call,) = fakes["FW"].calls
    assert call.path == "/v1/chat/completions"
    assert call.headers["authorization"] == "Bearer sk-admin-FW-SECRET"
    assert call.json["model"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"
    assert fakes["SP"].calls == []


def test_an_exact_name_beats_the_wildcard(gateway, fakes):
    response = post(gateway, "fireworks_ai/special-model")
    assert response.status_code == 200
    (call,) = fakes["SP"].calls
    assert call.headers["authorization"] == "Bearer sk-admin-SP-SECRET"
    assert call.json["model"] == "accounts/acme/models/special-v2"
    assert fakes["FW"].calls == []


@pytest.mark.parametrize("model", ["openai/gpt-4o-internal", "gpt-4o-internal",
                                   "fireworks_ai/*", "fireworks_ai/", "*"])
def test_hidden_names_and_the_pattern_itself_do_not_route(gateway, fakes, model):
    response = post(gateway, model)
    assert response.status_code in (400, 404)
    error = response.json()["error"]
    assert error["param"] == "model"
    assert not any(secret in response.text for secret in HIDDEN)
    assert all(fake.calls == [] for fake in fakes.values())


def test_model_name_travels_only_in_the_body(gateway, fakes):
    response = post(gateway, "fireworks_ai/../../admin?x=1")
    assert response.status_code in (200, 400)
    for call in fakes["FW"].calls:
        assert call.path == "/v1/chat/completions" and call.query == {}
        assert call.json["model"] == "../../admin?x=1"
