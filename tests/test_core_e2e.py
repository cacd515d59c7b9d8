"""The core gateway end to end: real gunicorn, a loopback fake upstream, the
real OpenAI SDK. One gateway serves the whole module (its config points every
deployment at one fake), so each test only scripts the fake and asserts."""

from __future__ import annotations

import time

import openai
import pytest
import requests

from tests.fakes import (
    FakeUpstream,
    chat_ok,
    completion_ok,
    embeddings_ok,
    openai_error,
    sse_ok,
)
from tests.gateway_proc import GatewayProcess

MASTER = "sk-proxy-test"
SECRETS = ("sk-admin-OA-SECRET", "sk-admin-AZ-SECRET", "sk-admin-FW-SECRET",
           "sk-admin-SLOW-SECRET", MASTER)
MESSAGES = [{"role": "user", "content": "hi"}]


def gateway_config(fake: FakeUpstream) -> dict:
    base = f"{fake.base}/v1"
    return {
        "model_list": [
            {"model_name": "gpt", "litellm_params": {
                "model": "openai/upstream-gpt", "api_base": base,
                "api_key": "sk-admin-OA-SECRET"}},
            {"model_name": "azure-gpt", "litellm_params": {
                "model": "azure/gpt-dep", "api_base": fake.base,
                "api_key": "sk-admin-AZ-SECRET", "api_version": "2024-02-01"}},
            {"model_name": "fireworks_ai/*", "litellm_params": {
                "model": "fireworks_ai/*", "api_base": base,
                "api_key": "sk-admin-FW-SECRET"}},
            {"model_name": "slow", "litellm_params": {
                "model": "openai/slow", "api_base": base, "timeout": 1,
                "api_key": "sk-admin-SLOW-SECRET"}},
            {"model_name": "demo", "litellm_params": {
                "model": "openai/demo", "mock_response": "Hello from demo"}},
        ],
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "general_settings": {"master_key": MASTER, "max_request_size_mb": 1},
    }


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream("U") as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream):
    process = GatewayProcess(gateway_config(upstream), workers=1).start()
    yield process
    process.cleanup()


@pytest.fixture
def fake(upstream):
    upstream.reset()
    upstream.clear_scripts()
    return upstream


@pytest.fixture
def client(gateway):
    return openai.OpenAI(api_key=MASTER, base_url=f"{gateway.url}/v1", max_retries=0)


def test_chat_completion_plain(client, fake):
    fake.script({"json": chat_ok("ok-from-U")})
    reply = client.chat.completions.with_raw_response.create(
        model="gpt", messages=MESSAGES, temperature=0.3)
    assert reply.parse().choices[0].message.content == "ok-from-U"
    call = fake.calls[0]
    assert call.path == "/v1/chat/completions"
    assert call.headers["authorization"] == "Bearer sk-admin-OA-SECRET"
    assert call.json["model"] == "upstream-gpt" and call.json["temperature"] == 0.3
    assert reply.headers["x-litellm-model-group"] == "gpt"
    assert reply.headers["x-request-id"]
    assert float(reply.headers["x-litellm-overhead-duration-ms"]) >= 0


def test_chat_completion_streamed(client, fake):
    fake.script({"sse": sse_ok("ok-from-U", parts=3)})
    stream = client.chat.completions.create(model="gpt", messages=MESSAGES,
                                            stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "ok-from-U"
    assert fake.calls[0].json["stream"] is True


def test_stream_headers_and_done_framing(gateway, fake):
    fake.script({"sse": sse_ok("ok-from-U")})
    response = requests.post(f"{gateway.url}/v1/chat/completions", timeout=10,
                             headers={"Authorization": f"Bearer {MASTER}"},
                             json={"model": "gpt", "messages": MESSAGES, "stream": True})
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.text.endswith("data: [DONE]\n\n")
    assert response.text.count("data: [DONE]") == 1


def test_completions_and_embeddings(client, fake):
    fake.script_path("/completions", {"json": completion_ok("ok-legacy")})
    fake.script_path("/embeddings", {"json": embeddings_ok(n=2, dims=3)})
    legacy = client.completions.create(model="gpt", prompt="Say hi")
    assert legacy.choices[0].text == "ok-legacy"
    vectors = client.embeddings.create(model="gpt", input=["a", "b"])
    assert [len(item.embedding) for item in vectors.data] == [3, 3]
    paths = [call.path for call in fake.calls]
    assert paths == ["/v1/completions", "/v1/embeddings"]


def test_models_list_and_get(client):
    names = [model.id for model in client.models.list()]
    assert names == ["gpt", "azure-gpt", "slow", "demo", "fireworks_ai/*"]
    assert client.models.retrieve("gpt").id == "gpt"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_bare_paths_without_v1(gateway, fake):
    fake.script({"json": chat_ok("ok-bare")})
    response = requests.post(f"{gateway.url}/chat/completions", timeout=10,
                             headers={"Authorization": f"Bearer {MASTER}"},
                             json={"model": "gpt", "messages": MESSAGES})
    assert response.json()["choices"][0]["message"]["content"] == "ok-bare"


def test_azure_deployment_url_version_and_key(client, fake):
    fake.script({"json": chat_ok("ok-azure")})
    client.chat.completions.create(model="azure-gpt", messages=MESSAGES)
    call = fake.calls[0]
    assert call.path == "/openai/deployments/gpt-dep/chat/completions"
    assert call.query == {"api-version": ["2024-02-01"]}
    assert call.headers["api-key"] == "sk-admin-AZ-SECRET"
    assert "authorization" not in call.headers


def test_azure_sdk_against_the_azure_route(gateway, fake):
    fake.script({"json": chat_ok("ok-azure-sdk")})
    azure = openai.AzureOpenAI(api_key=MASTER, azure_endpoint=gateway.url,
                               api_version="2024-06-01", max_retries=0)
    reply = azure.chat.completions.create(model="azure-gpt", messages=MESSAGES)
    assert reply.choices[0].message.content == "ok-azure-sdk"
    assert fake.calls[0].query == {"api-version": ["2024-06-01"]}


def test_wildcard_group_keeps_the_rest_of_the_name(client, fake):
    fake.script({"json": chat_ok("ok-fw")})
    client.chat.completions.create(
        model="fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct",
        messages=MESSAGES)
    call = fake.calls[0]
    assert call.json["model"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"
    assert call.headers["authorization"] == "Bearer sk-admin-FW-SECRET"


def test_wrong_gateway_key_is_401(gateway, fake):
    bad = openai.OpenAI(api_key="sk-wrong", base_url=f"{gateway.url}/v1",
                        max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        bad.chat.completions.create(model="gpt", messages=MESSAGES)
    assert raised.value.body["type"] == "authentication_error"
    assert fake.calls == []


@pytest.mark.parametrize("header", ["api-key", "x-api-key"])
def test_azure_and_anthropic_key_headers_are_accepted(gateway, header):
    response = requests.get(f"{gateway.url}/v1/models", timeout=10,
                            headers={header: MASTER})
    assert response.status_code == 200


def test_health_needs_no_key(gateway):
    for path in ("/health/liveliness", "/health/readiness"):
        assert requests.get(f"{gateway.url}{path}", timeout=10).status_code == 200


def test_unknown_model_is_404_naming_the_models(client, fake):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert raised.value.body["param"] == "model"
    assert "gpt" in raised.value.body["message"]
    assert fake.calls == []


@pytest.mark.parametrize("body, param", [
    ({"model": "gpt", "messages": "hi"}, "messages"),
    ({"model": "gpt", "messages": MESSAGES, "temperature": "hot"}, "temperature"),
    ({"messages": MESSAGES}, "model"),
])
def test_malformed_body_is_400_with_the_param(gateway, fake, body, param):
    response = requests.post(f"{gateway.url}/v1/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {MASTER}"}, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert set(error) == {"message", "type", "param", "code"}
    assert fake.calls == []


@pytest.mark.parametrize("raw", [b'{"model": "gpt", "messages": [', b"\xff\xfe",
                                 b"[1, 2]", b""])
def test_unparseable_json_is_400_not_500(gateway, raw):
    response = requests.post(f"{gateway.url}/v1/chat/completions", data=raw,
                             headers={"Authorization": f"Bearer {MASTER}",
                                      "Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_wrong_method_unknown_route_and_unserved_endpoint(gateway):
    headers = {"Authorization": f"Bearer {MASTER}"}
    wrong = requests.get(f"{gateway.url}/v1/chat/completions", headers=headers,
                         timeout=10)
    assert wrong.status_code == 405 and "error" in wrong.json()
    unknown = requests.get(f"{gateway.url}/v1/nowhere", headers=headers, timeout=10)
    assert unknown.status_code == 404 and "error" in unknown.json()
    for path in ("/v1/responses", "/v1/images/generations", "/v1/audio/speech",
                 "/v1/moderations", "/v1/files", "/v1/batches"):
        unserved = requests.post(f"{gateway.url}{path}", json={}, headers=headers,
                                 timeout=10)
        assert unserved.status_code == 404, path
        assert "does not serve" in unserved.json()["error"]["message"]


def test_body_over_the_limit_is_413(gateway, fake):
    big = "x" * (1024 * 1024 + 10)
    response = requests.post(
        f"{gateway.url}/v1/chat/completions", timeout=10,
        headers={"Authorization": f"Bearer {MASTER}"},
        json={"model": "gpt", "messages": [{"role": "user", "content": big}]})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake.calls == []


def test_upstream_500_is_mapped(client, fake):
    fake.script(openai_error(500, "boom", "server_error"))
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="gpt", messages=MESSAGES)
    assert raised.value.status_code == 500
    assert raised.value.body["message"] == "boom"


def test_upstream_429_passes_retry_after_on(client, fake):
    reply = openai_error(429, "slow down", "requests", "rate_limit_exceeded")
    fake.script({"status": 429, "json": reply.json, "headers": {"Retry-After": "7"}})
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt", messages=MESSAGES)
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.body["type"] == "rate_limit_error"


def test_upstream_that_never_answers_is_504_within_the_timeout(client, fake):
    fake.script({"hang": True})
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="slow", messages=MESSAGES)
    elapsed = time.monotonic() - started
    assert raised.value.status_code == 504
    assert raised.value.body["type"] == "timeout"
    assert 0.9 <= elapsed < 3


def test_first_chunk_arrives_before_the_upstream_sends_its_last(gateway, fake):
    fake.script({"sse": sse_ok("abcdefghij", parts=5), "chunk_interval_s": 0.3})
    started = time.monotonic()
    with requests.post(f"{gateway.url}/v1/chat/completions", stream=True, timeout=10,
                       headers={"Authorization": f"Bearer {MASTER}"},
                       json={"model": "gpt", "messages": MESSAGES,
                             "stream": True}) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith(b"data: "))
        first_at = time.monotonic() - started
        rest = [line for line in lines if line.startswith(b"data: ")]
    total = time.monotonic() - started
    assert b"chat.completion.chunk" in first
    assert rest[-1] == b"data: [DONE]"
    assert first_at < 1.0 and total >= 1.5
    assert first_at < total - 1.0


def test_client_disconnect_closes_the_upstream_stream(gateway, fake):
    fake.script({"sse": sse_ok("x" * 40, parts=40), "chunk_interval_s": 0.1})
    response = requests.post(f"{gateway.url}/v1/chat/completions", stream=True,
                             timeout=10, headers={"Authorization": f"Bearer {MASTER}"},
                             json={"model": "gpt", "messages": MESSAGES,
                                   "stream": True})
    next(line for line in response.iter_lines() if line.startswith(b"data: "))
    response.close()
    call = fake.wait_for_calls(1)[0]
    assert call.wait_ended(timeout=5)
    assert call.stream_closed


def test_demo_model_streams_offline(client, fake):
    stream = client.chat.completions.create(
        model="demo", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) \
        == "Hello from demo"
    assert chunks[-1].usage.total_tokens > 0
    assert fake.calls == []


def test_request_id_is_kept_and_shown_in_logs(gateway, fake):
    fake.script({"json": chat_ok("ok")})
    response = requests.post(f"{gateway.url}/v1/chat/completions", timeout=10,
                             headers={"Authorization": f"Bearer {MASTER}",
                                      "x-request-id": "trace-abc-123"},
                             json={"model": "gpt", "messages": MESSAGES})
    assert response.headers["x-request-id"] == "trace-abc-123"
    attempt_lines = [line for line in gateway.log_text().splitlines()
                     if "trace-abc-123" in line]
    assert any("attempt group=gpt" in line for line in attempt_lines)


def test_no_key_appears_in_any_log_line(client, gateway, fake):
    fake.script(openai_error(401, "bad key sk-admin-OA-SECRET", "invalid_request_error"))
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="gpt", messages=MESSAGES)
    fake.script({"hang": True})
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="slow", messages=MESSAGES)
    log = gateway.log_text()
    assert "attempt group=slow" in log
    for secret in SECRETS:
        assert secret not in log, secret
