"""user_config end to end: the seed's examples through real gunicorn and SDKs.

The seed's Python example is sent as written, through the openai SDK's
``extra_body``, with only each deployment's ``api_base`` pointed at a fake on
loopback; its JS example (a top-level ``user_config``) is sent as the JSON
that SDK writes. One gunicorn worker, so router state is one store. SDK
clients never retry (``max_retries=0``), so upstream counts are exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
import requests

from tests.fakes import FakeUpstream, openai_error, sse_ok
from tests.gateway_proc import GatewayProcess

GATEWAY_KEY = "sk-1234"
AZURE_CALL = ("azure", "/openai/deployments/chatgpt-v-2/chat/completions")
OPENAI_CALL = ("openai", "/v1/chat/completions")
POEM = [{"role": "user", "content": "this is a test request, write a short poem"}]


@pytest.fixture
def azure() -> Iterator[FakeUpstream]:
    with FakeUpstream("azure") as fake:
        fake.script(openai_error(500, "The server had an error", "server_error"))
        yield fake


@pytest.fixture
def openai_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai") as fake:
        yield fake


@pytest.fixture
def client_env(azure: FakeUpstream) -> dict[str, str]:
    """The client's own environment, which the seed's example reads."""
    return {"AZURE_API_KEY": "azure-client-KEY-SECRET",
            "AZURE_API_VERSION": "2024-02-01", "AZURE_API_BASE": azure.base,
            "OPENAI_API_KEY": "sk-client-openai-KEY-SECRET"}


def seed_user_config(env: dict[str, str]) -> dict[str, Any]:
    """Step 1 of the seed's Python tab, reading ``env`` where it reads os.getenv."""
    return {
        'model_list': [
            {
                'model_name': 'user-azure-instance',
                'litellm_params': {
                    'model': 'azure/chatgpt-v-2',
                    'api_key': env.get('AZURE_API_KEY'),
                    'api_version': env.get('AZURE_API_VERSION'),
                    'api_base': env.get('AZURE_API_BASE'),
                    'timeout': 10,
                },
                'tpm': 240000,
                'rpm': 1800,
            },
            {
                'model_name': 'user-openai-instance',
                'litellm_params': {
                    'model': 'gpt-3.5-turbo',
                    'api_key': env.get('OPENAI_API_KEY'),
                    'timeout': 10,
                },
                'tpm': 240000,
                'rpm': 1800,
            },
        ],
        'num_retries': 2,
        'allowed_fails': 3,
        'fallbacks': [
            {
                'user-azure-instance': ['user-openai-instance']
            }
        ]
    }


@pytest.fixture
def user_config(client_env: dict[str, str], openai_fake: FakeUpstream) -> dict:
    """The seed's config, its OpenAI deployment's api_base on the fake."""
    config = seed_user_config(client_env)
    config["model_list"][1]["litellm_params"]["api_base"] = f"{openai_fake.base}/v1"
    return config


@pytest.fixture
def gateway(make_gateway: Callable[..., GatewayProcess], azure: FakeUpstream,
            openai_fake: FakeUpstream) -> GatewayProcess:
    return make_gateway({
        "general_settings": {"allow_user_config": True, "master_key": GATEWAY_KEY},
        "litellm_settings": {"user_url_allowed_hosts": [azure.host_port,
                                                        openai_fake.host_port]},
    }, workers=1, env={"OPENAI_API_KEY": "sk-env-OPERATOR-SECRET"})


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    # Closed before the gateway stops, so no kept-alive connection delays it.
    with openai.OpenAI(api_key=GATEWAY_KEY, base_url=gateway.url,
                       max_retries=0) as sdk:
        yield sdk


def sequence(*fakes: FakeUpstream) -> list[tuple[str, str]]:
    """Every upstream call of the fakes, in the order they arrived."""
    calls = sorted((call.at, fake.name, call.path)
                   for fake in fakes for call in fake.calls)
    return [(name, path) for _, name, path in calls]


def send_seed_request(client: openai.OpenAI, user_config: dict, **options: Any):
    """Step 2 of the seed's Python tab, with the raw response kept for headers."""
    return client.chat.completions.with_raw_response.create(
        model="user-azure-instance", messages=POEM,
        extra_body={"user_config": user_config}, **options)


def test_the_seeds_python_example_retries_azure_then_falls_back(
        client, user_config, azure, openai_fake, client_env):
    raw = send_seed_request(client, user_config)

    assert raw.parse().choices[0].message.content == "ok-from-openai"
    assert sequence(azure, openai_fake) == [AZURE_CALL] * 3 + [OPENAI_CALL]
    assert raw.headers["x-litellm-model-group"] == "user-openai-instance"
    assert raw.headers["x-litellm-attempted-retries"] == "2"
    assert raw.headers["x-litellm-attempted-fallbacks"] == "1"
    for call in azure.calls:
        assert call.headers["api-key"] == client_env["AZURE_API_KEY"]
        assert call.query["api-version"] == ["2024-02-01"]
    sent = openai_fake.calls[0]
    assert sent.headers["authorization"] == f"Bearer {client_env['OPENAI_API_KEY']}"
    assert sent.json["model"] == "gpt-3.5-turbo" and sent.json["messages"] == POEM


def test_the_seeds_python_example_streams_from_the_fallback(
        client, user_config, azure, openai_fake):
    openai_fake.script({"sse": sse_ok("ok-from-openai")})
    raw = send_seed_request(client, user_config, stream=True)

    text = "".join(chunk.choices[0].delta.content or ""
                   for chunk in raw.parse() if chunk.choices)
    assert text == "ok-from-openai"
    assert sequence(azure, openai_fake) == [AZURE_CALL] * 3 + [OPENAI_CALL]
    assert openai_fake.calls[0].json["stream"] is True
    assert raw.headers["x-litellm-model-group"] == "user-openai-instance"


def test_the_seeds_js_example_is_served_by_the_openai_instance(
        gateway, user_config, azure, openai_fake, client_env):
    # The JS SDK sends user_config as a top-level key of the JSON body.
    body = {"messages": [{"role": "user", "content": "Say this is a test"}],
            "model": "gpt-3.5-turbo", "user_config": user_config}
    response = requests.post(f"{gateway.url}/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
                             timeout=10)

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "ok-from-openai"
    assert response.headers["x-litellm-model-group"] == "user-openai-instance"
    assert sequence(azure, openai_fake) == [OPENAI_CALL]
    sent = openai_fake.calls[0]
    assert sent.headers["authorization"] == f"Bearer {client_env['OPENAI_API_KEY']}"
    assert "OPERATOR-SECRET" not in str(dict(sent.headers)) + gateway.log_text()


def served(client: openai.OpenAI, config: dict, azure: FakeUpstream,
           openai_fake: FakeUpstream) -> tuple[list[tuple[str, str]], str]:
    """One seed request: the upstream calls it made, and its retry count."""
    azure.reset()
    openai_fake.reset()
    raw = send_seed_request(client, config)
    assert raw.parse().choices[0].message.content == "ok-from-openai"
    return sequence(azure, openai_fake), raw.headers["x-litellm-attempted-retries"]


def test_allowed_fails_and_cooldown_hold_across_requests(
        client, user_config, azure, openai_fake, client_env):
    config = {**user_config, "cooldown_time": 1}

    # Three failures (allowed_fails: 3), then the fallback.
    assert served(client, config, azure, openai_fake) == (
        [AZURE_CALL] * 3 + [OPENAI_CALL], "2")
    # The fourth failure within the minute cools azure: fall back at once.
    assert served(client, config, azure, openai_fake) == (
        [AZURE_CALL, OPENAI_CALL], "0")
    cooled_at = time.monotonic()
    # While it cools, the same config goes straight to the fallback.
    assert served(client, config, azure, openai_fake) == ([OPENAI_CALL], "0")
    # Another client's config naming the same fake keeps its own count.
    theirs = {**config, "model_list": [
        {**config["model_list"][0], "litellm_params": {
            **config["model_list"][0]["litellm_params"],
            "api_key": "azure-other-client-KEY"}},
        config["model_list"][1]]}
    assert served(client, theirs, azure, openai_fake) == (
        [AZURE_CALL] * 3 + [OPENAI_CALL], "2")
    assert served(client, config, azure, openai_fake) == ([OPENAI_CALL], "0")

    time.sleep(max(0.0, cooled_at + 1.1 - time.monotonic()))
    # Cooled no longer: azure is tried once, fails again and cools again.
    assert served(client, config, azure, openai_fake) == (
        [AZURE_CALL, OPENAI_CALL], "0")


# Refusals, with the operator's own limits and secrets in the gateway's env

ENV_SECRETS = {"OPENAI_API_KEY": "sk-env-OPERATOR-SECRET",
               "AZURE_API_KEY": "azure-env-OPERATOR-SECRET",
               "GATEWAY_ONLY_VALUE": "sk-env-GATEWAY-SECRET-42"}
LIMITS = {"user_config_max_deployments": 2, "max_client_num_retries": 3,
          "max_fallback_depth": 1, "max_client_timeout": 30,
          "max_request_size_mb": 0.05}


def own(name: str, base: str, **params: Any) -> dict:
    return {"model_name": name, "litellm_params": {
        "model": f"openai/{name}", "api_base": base,
        "api_key": "sk-client-KEY-SECRET", **params}}


def refusal_table(base: str) -> list[tuple[dict, int, str]]:
    """(user_config, status, what the message must say) for each refusal."""
    one = [own("u", base)]
    return [
        ({"model_list": [own("u", base), own("v", base, timeout="soon")]}, 400,
         "user_config.model_list[1].litellm_params.timeout: Not a valid number."),
        ({"model_list": one, "retries": 2}, 400, "user_config.retries: Unknown field."),
        ({"model_list": [own(n, base) for n in "uvw"]}, 400,
         "(general_settings.user_config_max_deployments)"),
        ({"model_list": one, "num_retries": 4}, 400,
         "(general_settings.max_client_num_retries)"),
        ({"model_list": [own("u", base), own("v", base)],
          "fallbacks": [{"u": ["v", "v"]}]}, 400,
         "(general_settings.max_fallback_depth)"),
        ({"model_list": one, "timeout": 31}, 400,
         "(general_settings.max_client_timeout)"),
        ({"model_list": [own("u", base, api_key="os.environ/GATEWAY_ONLY_VALUE")]},
         400, "user_config.model_list[0].litellm_params.api_key: secret references"),
        ({"model_list": [own("u", base, extra_headers={
            "x-key": "os.environ/OPENAI_API_KEY"})]}, 400, "secret references"),
        ({"model_list": [own("u", "http://169.254.169.254/latest")]}, 400,
         "user_config.model_list[0].litellm_params.api_base:"),
        ({"model_list": [own("u", "https://127.0.0.1:9/v1")]}, 400,
         "user_config.model_list[0].litellm_params.api_base:"),
        ({"model_list": [{"model_name": "u", "litellm_params": {
            "model": "ollama/llama3"}}]}, 400,
         "litellm_params.api_base (the provider's default):"),
        ({"model_list": [{"model_name": "u", "litellm_params": {
            "model": "openai/u", "api_base": base}}]}, 400,
         "'u' has no credentials of its own"),
        ({"model_list": [{"model_name": "u", "litellm_params": {
            "model": "azure/u", "api_base": base}}]}, 400,
         "'u' has no credentials of its own"),
        ({"model_list": [own("elsewhere", base)]}, 404, "Models served: elsewhere."),
    ]


def test_refusals_name_their_fault_and_nothing_of_the_gateways_leaks(
        make_gateway, openai_fake):
    gateway = make_gateway({
        "general_settings": {"allow_user_config": True, "master_key": GATEWAY_KEY,
                             **LIMITS},
        "litellm_settings": {"user_url_allowed_hosts": [openai_fake.host_port]},
    }, env=ENV_SECRETS)
    url = f"{gateway.url}/v1/chat/completions"
    auth = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    base = f"{openai_fake.base}/v1"

    for config, status, fragment in refusal_table(base):
        body = {"model": "u", "messages": POEM, "user_config": config}
        response = requests.post(url, json=body, headers=auth, timeout=5)
        error = response.json()["error"]
        assert (response.status_code, fragment in error["message"]) == (
            status, True), error
        assert error["param"] == ("user_config" if status == 400 else "model")
    assert openai_fake.calls == []

    too_big = {"model": "u", "messages": [{"role": "user", "content": "x" * 60_000}],
               "user_config": {"model_list": [own("u", base)]}}
    response = requests.post(url, json=too_big, headers=auth, timeout=5)
    assert response.status_code == 413
    assert "general_settings.max_request_size_mb" in response.json()["error"]["message"]

    served = requests.post(url, json={"model": "u", "messages": POEM, "user_config": {
        "model_list": [own("u", base)]}}, headers=auth, timeout=5)
    assert served.status_code == 200 and len(openai_fake.calls) == 1
    seen = [gateway.log_text()] + [str(dict(c.headers)) + c.body.decode()
                                   for c in openai_fake.calls]
    for secret in ENV_SECRETS.values():
        assert all(secret not in text for text in seen)
    assert "sk-client-KEY-SECRET" not in gateway.log_text()


def test_user_config_is_refused_when_the_operator_has_not_enabled_it(
        make_gateway, openai_fake):
    gateway = make_gateway({"general_settings": {"master_key": GATEWAY_KEY}})
    body = {"model": "u", "messages": POEM,
            "user_config": {"model_list": [own("u", f"{openai_fake.base}/v1")]}}
    response = requests.post(f"{gateway.url}/v1/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
                             timeout=5)
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "user_config"
    assert "general_settings.allow_user_config" in error["message"]
    assert openai_fake.calls == []
