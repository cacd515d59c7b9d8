"""What every translating provider owes the gateway, checked through the app.

One table row per provider (Anthropic, Gemini, Vertex AI, Bedrock, Cohere,
Ollama) gives a deployment aimed at a loopback fake of that provider, a
recorded-shape answer, its context-window and content-policy errors and the
environment variable holding an operator key. The tests build the app in
process from a config dict and check, for each provider: the two router
signals take their fallbacks; ``drop_params`` per request, per deployment
and in ``litellm_settings``; and the environment's key serves an operator
deployment but never a call whose credentials a client chose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from app import create_app
from app.config import build
from app.providers import bedrock
from tests.fake_calls import Call
from tests.providers_support import new_private_key_pem, service_account

USER = {"role": "user", "content": "Hello"}
ENV_SECRET = "env-key-SECRET-9"


@dataclass(frozen=True)
class Provider:
    """One provider as these tests need it."""

    name: str
    params: Callable[[str], dict[str, Any]]  # litellm_params for a fake's base
    answer: dict[str, Any]  # a plain chat answer, as the fake serves it
    context_error: dict[str, Any]
    policy_error: dict[str, Any] | None  # None: the provider reports none
    environment: Callable[[str], dict[str, str]]  # env holding an operator key
    used_environment_key: Callable[[Call], bool]
    needs_key: bool = True


def google_error(message: str) -> dict[str, Any]:
    return {"status": 400, "json": {"error": {
        "code": 400, "message": message, "status": "INVALID_ARGUMENT"}}}


def anthropic_error(message: str) -> dict[str, Any]:
    return {"status": 400, "json": {"type": "error", "error": {
        "type": "invalid_request_error", "message": message}}}


def bedrock_error(message: str) -> dict[str, Any]:
    return {"status": 400, "json": {"message": message},
            "headers": {"x-amzn-ErrorType": "ValidationException:http://x/"}}


GEMINI_ANSWER = {"candidates": [{"content": {"role": "model",
                                             "parts": [{"text": "hi"}]},
                                 "finishReason": "STOP"}]}
TOKEN = {"access_token": "ya29.gateway-test", "expires_in": 3600,
         "token_type": "Bearer"}


def vertex_account(token_base: str) -> str:
    return json.dumps(service_account(PEM, f"{token_base}/token"))


PEM = new_private_key_pem()

PROVIDERS = [
    Provider(
        "anthropic",
        lambda base: {"model": "anthropic/claude-sonnet-4-5", "api_base": base},
        {"id": "m", "type": "message", "role": "assistant", "stop_reason": "end_turn",
         "content": [{"type": "text", "text": "hi"}],
         "usage": {"input_tokens": 1, "output_tokens": 1}},
        anthropic_error("prompt is too long: 210000 tokens > 200000 maximum"),
        anthropic_error("Output blocked by content filtering policy"),
        lambda _: {"ANTHROPIC_API_KEY": ENV_SECRET},
        lambda call: call.headers.get("x-api-key") == ENV_SECRET,
    ),
    Provider(
        "gemini",
        lambda base: {"model": "gemini/gemini-2.5-flash", "api_base": base},
        GEMINI_ANSWER,
        google_error("The input token count (1200000) exceeds the maximum number "
                     "of tokens allowed (1048576)."),
        google_error("The response was blocked."),
        lambda _: {"GEMINI_API_KEY": ENV_SECRET},
        lambda call: call.headers.get("x-goog-api-key") == ENV_SECRET,
    ),
    Provider(
        "vertex_ai",
        lambda base: {"model": "vertex_ai/gemini-2.5-flash", "api_base": base,
                      "vertex_project": "proj-1", "vertex_location": "us-central1"},
        GEMINI_ANSWER,
        google_error("Request payload size exceeds the limit: 31457280 bytes."),
        google_error("Output blocked by content filtering policy."),
        lambda base: {"VERTEXAI_CREDENTIALS": vertex_account(base)},
        lambda call: call.headers.get("authorization") == "Bearer ya29.gateway-test",
    ),
    Provider(
        "bedrock",
        lambda base: {"model": "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
                      "api_base": base, "aws_region_name": "us-east-1"},
        {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
         "stopReason": "end_turn",
         "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}},
        bedrock_error("Input is too long for requested model."),
        bedrock_error("The request was blocked by guardrail policy."),
        lambda _: {"AWS_ACCESS_KEY_ID": "AKIDENVEXAMPLE",
                   "AWS_SECRET_ACCESS_KEY": ENV_SECRET},
        lambda call: "Credential=AKIDENVEXAMPLE/" in call.headers.get(
            "authorization", ""),
    ),
    Provider(
        "cohere",
        lambda base: {"model": "cohere/command-a-03-2025",
                      "api_base": f"{base}/v2/chat"},
        {"id": "c", "finish_reason": "COMPLETE",
         "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
         "usage": {"tokens": {"input_tokens": 1, "output_tokens": 1}}},
        {"status": 400, "json": {"message": "too many tokens: total number of "
                                            "tokens in the prompt cannot exceed "
                                            "128000"}},
        None,
        lambda _: {"COHERE_API_KEY": ENV_SECRET},
        lambda call: call.headers.get("authorization") == f"Bearer {ENV_SECRET}",
    ),
    Provider(
        "ollama",
        lambda base: {"model": "ollama/llama3.2", "api_base": base},
        {"model": "llama3.2", "message": {"role": "assistant", "content": "hi"},
         "done": True, "done_reason": "stop", "prompt_eval_count": 1,
         "eval_count": 1},
        {"status": 400, "json": {"error": "input length exceeds the context length"}},
        None,
        lambda _: {"OLLAMA_API_KEY": ENV_SECRET},
        lambda call: call.headers.get("authorization") == f"Bearer {ENV_SECRET}",
        needs_key=False,
    ),
]
BY_NAME = {provider.name: provider for provider in PROVIDERS}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No operator keys from the developer's machine, and no AWS files."""
    names = {name for provider in PROVIDERS for name in provider.environment("x")}
    for name in (*names, "GOOGLE_API_KEY", "CO_API_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "VERTEXAI_PROJECT", "VERTEXAI_LOCATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    bedrock.DEFAULT_CHAIN.reset()
    yield
    bedrock.DEFAULT_CHAIN.reset()


@pytest.fixture
def world(fake_upstream_factory):
    """The provider's fake and, for Vertex AI, a fake Google token endpoint."""
    upstream = fake_upstream_factory("provider")
    token = fake_upstream_factory("token")
    token.script_path("/token", {"json": TOKEN})
    return upstream, token


def operator_params(provider: Provider, world) -> dict[str, Any]:
    """The deployment with an operator key of its own (not the environment's)."""
    upstream, token = world
    params = provider.params(upstream.base)
    keys = {"vertex_ai": {"vertex_credentials": vertex_account(token.base)},
            "bedrock": {"aws_access_key_id": "AKIDCONFIG",
                        "aws_secret_access_key": "config-SECRET"}}
    params.update(keys.get(provider.name, {"api_key": "config-key-SECRET"}))
    return params


def app_client(models: dict[str, dict[str, Any]], **sections: Any):
    config = {"model_list": [{"model_name": name, "litellm_params": params}
                             for name, params in models.items()],
              "router_settings": {"num_retries": 0}, **sections}
    return create_app(config=build(config)).test_client()


def chat(client, model: str = "m", **extra):
    return client.post("/v1/chat/completions",
                       json={"model": model, "messages": [USER], **extra})


# --- the two router signals ---------------------------------------------------------

SIGNALS = [(provider.name, signal) for provider in PROVIDERS
           for signal in ("context", "policy")
           if signal == "context" or provider.policy_error is not None]


@pytest.mark.parametrize("name, signal", SIGNALS)
def test_signal_takes_its_fallback(world, name, signal):
    provider = BY_NAME[name]
    upstream, _ = world
    upstream.script(provider.context_error if signal == "context"
                    else provider.policy_error)
    client = app_client(
        {"m": operator_params(provider, world),
         "big": {"model": "openai/big", "mock_response": "from the big model"},
         "safe": {"model": "openai/safe", "mock_response": "from the safe model"}},
        router_settings={"num_retries": 0,
                         "context_window_fallbacks": [{"m": ["big"]}],
                         "content_policy_fallbacks": [{"m": ["safe"]}]})
    answer = chat(client)
    expected = "from the big model" if signal == "context" else "from the safe model"
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["choices"][0]["message"]["content"] == expected
    assert len(upstream.calls) == 1


@pytest.mark.parametrize("name, signal", SIGNALS)
def test_signal_without_fallback_is_a_400_with_its_code(world, name, signal):
    provider = BY_NAME[name]
    upstream, _ = world
    upstream.script(provider.context_error if signal == "context"
                    else provider.policy_error)
    answer = chat(app_client({"m": operator_params(provider, world)}))
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == (
        "context_length_exceeded" if signal == "context"
        else "content_policy_violation")


# --- drop_params --------------------------------------------------------------------

@pytest.mark.parametrize("name", BY_NAME)
def test_unsupported_param_is_a_400_naming_it(world, name):
    provider = BY_NAME[name]
    answer = chat(app_client({"m": operator_params(provider, world)}),
                  logit_bias={"50256": -100})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["param"] == "logit_bias"
    assert world[0].calls == []


@pytest.mark.parametrize("where", ["request", "deployment", "litellm_settings"])
@pytest.mark.parametrize("name", BY_NAME)
def test_drop_params_drops_it(world, name, where):
    provider = BY_NAME[name]
    upstream, _ = world
    upstream.script({"json": provider.answer})
    params = operator_params(provider, world)
    sections: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if where == "deployment":
        params["drop_params"] = True
    elif where == "litellm_settings":
        sections["litellm_settings"] = {"drop_params": True}
    else:
        extra["drop_params"] = True
    answer = chat(app_client({"m": params}, **sections),
                  logit_bias={"50256": -100}, **extra)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["usage"]["total_tokens"] >= 0
    (call,) = upstream.calls
    assert b"logit_bias" not in call.body and b"drop_params" not in call.body


# --- environment credentials ----------------------------------------------------------

def operator_environment(provider: Provider, world, monkeypatch):
    """The provider's key in the gateway's environment; the fake answers."""
    upstream, token = world
    upstream.script({"json": provider.answer})
    for variable, value in provider.environment(token.base).items():
        monkeypatch.setenv(variable, value)
    return upstream, token


def deployment_without_key(provider: Provider, world, **extra) -> dict[str, Any]:
    return {**provider.params(world[0].base), **extra}


@pytest.mark.parametrize("name", BY_NAME)
def test_operator_deployment_may_use_the_environment(world, monkeypatch, name):
    provider = BY_NAME[name]
    upstream, _ = operator_environment(provider, world, monkeypatch)
    answer = chat(app_client({"m": deployment_without_key(provider, world)}))
    assert answer.status_code == 200, answer.get_json()
    (call,) = upstream.calls
    assert provider.used_environment_key(call)


@pytest.mark.parametrize("name", BY_NAME)
def test_a_client_param_that_is_no_identity_keeps_the_operator_identity(
        world, monkeypatch, name):
    """``extra_headers`` changes how the call looks, not whose it is: the call
    still goes to the operator's host as the operator (the gate's rule)."""
    provider = BY_NAME[name]
    upstream, _ = operator_environment(provider, world, monkeypatch)
    params = deployment_without_key(
        provider, world, configurable_clientside_auth_params=["extra_headers"])
    answer = chat(app_client({"m": params}),
                  extra_headers={"x-client-trace": "t-1"})
    assert answer.status_code == 200, answer.get_json()
    (call,) = upstream.calls
    assert provider.used_environment_key(call)
    assert call.headers["x-client-trace"] == "t-1"


@pytest.mark.parametrize("name", ["anthropic", "gemini", "cohere", "ollama"])
def test_a_client_base_gets_the_clients_key_never_the_environments(
        world, monkeypatch, name):
    provider = BY_NAME[name]
    upstream, other = operator_environment(provider, world, monkeypatch)
    params = provider.params(other.base)  # the operator's base: never called
    params["configurable_clientside_auth_params"] = ["api_base"]
    client = app_client({"m": params}, litellm_settings={
        "user_url_allowed_hosts": [upstream.host_port]})
    base = provider.params(upstream.base)["api_base"]
    answer = chat(client, api_base=base, api_key="client-key-1")
    assert answer.status_code == 200, answer.get_json()
    (call,) = upstream.calls
    assert not provider.used_environment_key(call)
    assert "client-key-1" in " ".join(call.headers.values())
    assert other.calls == []
