"""Destinations and credentials hidden where a value could be merged from:
each is refused or ignored, with no outbound connection and no file read."""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Iterator

import orjson
import pytest

from app import config, create_app
from tests.conftest import FakeResolver
from tests.fakes import FakeUpstream
from tests.test_credentials import SERVICE_ACCOUNT

MASTER = "sk-proxy-test"
CLIENT_KEY = "sk-client-SMUGGLE-01"
EVIL = "https://evil.example/v1"


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    made = {name: FakeUpstream(name) for name in ("oper", "client")}
    yield made
    for fake in made.values():
        fake.close()


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({"evil.example": ["8.8.4.4"]})


def deployment(name: str, base: str, allow: list | None = None,
               model: str = "openai/m") -> dict:
    params = {"model": model, "api_base": base, "api_key": "sk-admin-SECRET"}
    if allow is not None:
        params["configurable_clientside_auth_params"] = allow
    return {"model_name": name, "litellm_params": params}


@pytest.fixture
def client(fakes, resolver):
    oper, upstream = fakes["oper"], fakes["client"]
    built = config.build({
        "model_list": [
            deployment("locked", f"{oper.base}/v1"),
            deployment("vouched", f"{oper.base}/v1",
                       [{"api_base": rf"http://127\.0\.0\.1:{upstream.port}/v1"}]),
            deployment("key-only", f"{oper.base}/v1", ["api_key"]),
            deployment("vertex-key", f"{oper.base}/v1", ["vertex_credentials"]),
            deployment("bedrock-key", f"{oper.base}/v1", ["api_key"],
                       model="bedrock/anthropic.claude-3"),
        ],
        "litellm_settings": {"user_url_allowed_hosts": [upstream.host_port]},
        "general_settings": {"master_key": MASTER, "allow_user_config": True},
    })
    return create_app(config=built, resolver=resolver).test_client()


def post(client, model: str, **params):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}],
            "num_retries": 0, **params}
    return client.post("/v1/chat/completions", json=body,
                       headers={"Authorization": f"Bearer {MASTER}"})


def assert_refused(response, *params: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["param"] in params
    assert EVIL not in response.get_data(as_text=True)


def assert_nothing_sent(fakes, network_spy) -> None:
    assert network_spy.connects == []
    assert all(fake.calls == [] for fake in fakes.values())


@pytest.mark.parametrize("params, param", [
    ({"base_url": EVIL}, ("api_base", "base_url")),  # whichever is read second
    ({"extra_body": {"base_url": EVIL}}, "base_url"),
    ({"extra_body": {"api_base": EVIL}}, "api_base"),
    ({"metadata": {"base_url": EVIL}}, "base_url"),
    ({"litellm_params": {"api_base": EVIL}}, "api_base"),
])
def test_an_allowed_base_next_to_a_different_one(params, param, client, fakes,
                                                network_spy):
    allowed = f"{fakes['client'].base}/v1"
    response = post(client, "vouched", api_base=allowed, **params)
    assert_refused(response, *(param if isinstance(param, tuple) else (param,)))
    assert_nothing_sent(fakes, network_spy)


@pytest.mark.parametrize("params, param", [
    ({"extra_body": {"api_base": EVIL, "api_key": CLIENT_KEY}}, "api_base"),
    ({"extra_body": {"base_url": EVIL}}, "base_url"),
    ({"metadata": {"api_base": EVIL}}, "api_base"),
    ({"litellm_params": {"api_base": EVIL}}, "api_base"),
    ({"metadata": {"api_key": CLIENT_KEY}}, "api_key"),
    ({"extra_body": {"extra_headers": {"X-Forward-To": "evil"}}}, "extra_headers"),
])
def test_a_nested_destination_on_a_locked_deployment(params, param, client, fakes,
                                                    network_spy):
    assert_refused(post(client, "locked", **params), param)
    assert_nothing_sent(fakes, network_spy)


def test_an_allowed_key_never_carries_a_nested_base_along(client, fakes,
                                                         network_spy):
    response = post(client, "key-only", api_key=CLIENT_KEY,
                    extra_body={"api_base": EVIL})
    assert_refused(response, "api_base")
    assert_nothing_sent(fakes, network_spy)


def test_a_bedrock_endpoint_on_a_deployment_that_allows_only_a_key(
        client, fakes, network_spy):
    response = post(client, "bedrock-key", api_key=CLIENT_KEY,
                    aws_bedrock_runtime_endpoint="https://evil.example")
    assert_refused(response, "aws_bedrock_runtime_endpoint")
    assert_nothing_sent(fakes, network_spy)


def test_fallback_entries_are_gated_like_the_body(client, fakes, network_spy):
    fakes["oper"].script({"status": 500, "json": {"error": {"message": "down"}}})
    response = post(client, "key-only", fallbacks=[
        {"model": "locked", "api_base": EVIL, "api_key": CLIENT_KEY}])
    # Refused before anything is sent: the client named these credentials for
    # that group, and the group does not admit them.
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] in ("api_base", "api_key")
    assert fakes["oper"].calls == []
    assert network_spy.connects == []


@pytest.fixture
def service_account_file(tmp_path):
    """A file that would pass every check if the gateway read it."""
    path = tmp_path / "service-account.json"
    path.write_bytes(orjson.dumps(SERVICE_ACCOUNT))
    return str(path)


@pytest.fixture
def file_spy(monkeypatch, service_account_file) -> list[str]:
    """Record opens and inspections of the service-account file."""
    touched: list[str] = []

    def watch(real):
        def spy(path, *args, **kwargs):
            if str(path) == service_account_file:
                touched.append(str(path))
            return real(path, *args, **kwargs)
        return spy

    monkeypatch.setattr(builtins, "open", watch(builtins.open))
    monkeypatch.setattr(io, "open", watch(io.open))
    for name in ("open", "stat", "access"):
        monkeypatch.setattr(os, name, watch(getattr(os, name)))
    for name in ("exists", "isfile"):
        monkeypatch.setattr(os.path, name, watch(getattr(os.path, name)))
    return touched


@pytest.mark.parametrize("name", ["vertex_credentials", "vertex_ai_credentials"])
def test_vertex_credentials_naming_a_file_are_refused_unread(
        name, client, fakes, network_spy, service_account_file, file_spy):
    response = post(client, "vertex-key", **{name: service_account_file})

    assert_refused(response, name)
    assert "inline service-account JSON" in response.get_json()["error"]["message"]
    assert service_account_file not in response.get_data(as_text=True)
    assert file_spy == []
    assert_nothing_sent(fakes, network_spy)


def test_inline_vertex_credentials_are_accepted(client, fakes, network_spy):
    response = post(client, "vertex-key", vertex_credentials=SERVICE_ACCOUNT)
    # Accepted by the gate; an OpenAI-compatible upstream simply gets the call.
    assert response.status_code == 200
    assert "vertex_credentials" not in fakes["oper"].calls[0].json


def test_a_user_config_naming_a_credentials_file_is_refused_unread(
        client, fakes, network_spy, service_account_file, file_spy):
    user_config = {"model_list": [{"model_name": "mine", "litellm_params": {
        "model": "vertex_ai/gemini-pro", "vertex_credentials": service_account_file,
        "vertex_project": "client-project-1"}}]}
    response = post(client, "mine", user_config=user_config)

    assert_refused(response, "user_config", "vertex_credentials")
    assert "inline service-account JSON" in response.get_json()["error"]["message"]
    assert file_spy == []
    assert_nothing_sent(fakes, network_spy)
