"""Vertex AI end to end: Gemini and Claude models, OAuth from a service account
key, and the seed's ``vertex_ai_location`` example.

One gateway (gunicorn, one worker) serves the module. Its deployments carry a
service account key made at test time whose ``token_uri`` is a loopback fake
token endpoint, and an ``api_base`` pointing at a loopback fake of Vertex AI.
Every deployment shares the one key, so the worker's token cache holds one
token for all of them: however many requests the tests make, Google's token
endpoint is asked once.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import openai
import pytest

from tests.e2e_support import (
    assert_secret_kept,
    check_stream,
    operator_config,
    sdk,
    streamed,
)
from tests.fakes import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.providers_support import new_private_key_pem, service_account

PROJECT = "proj-e2e"
TOKEN = "ya29.e2e-token-SECRET"
USER = {"role": "user", "content": "Say hello."}
GEMINI_PATH = (f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/"
               "models/gemini-2.5-flash")
CLAUDE_PATH = (f"/v1/projects/{PROJECT}/locations/us-central1/publishers/anthropic/"
               "models/claude-sonnet-4-5%4020250929")


def gemini_answer(text: str, finish: str | None = "STOP") -> dict:
    candidate: dict = {"content": {"role": "model", "parts": [{"text": text}]}}
    if finish:
        candidate["finishReason"] = finish
        return {"candidates": [candidate], "usageMetadata": {
            "promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}}
    return {"candidates": [candidate]}


CLAUDE_ANSWER = {
    "id": "msg_v1", "type": "message", "role": "assistant",
    "content": [{"type": "text", "text": "Bonjour !"}], "stop_reason": "end_turn",
    "usage": {"input_tokens": 6, "output_tokens": 3},
}
CLAUDE_STREAM = [json.dumps(event) for event in (
    {"type": "message_start", "message": {"usage": {"input_tokens": 6}}},
    {"type": "content_block_delta", "index": 0,
     "delta": {"type": "text_delta", "text": "Bonjour !"}},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
     "usage": {"output_tokens": 3}},
    {"type": "message_stop"},
)]


@pytest.fixture(scope="module")
def key() -> str:
    return new_private_key_pem()


@pytest.fixture(scope="module")
def token_endpoint():
    with FakeUpstream("google-token") as fake:
        fake.script_path("/token", {"json": {"access_token": TOKEN,
                                             "expires_in": 3600,
                                             "token_type": "Bearer"}})
        yield fake


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream("vertex") as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(key, token_endpoint, upstream):
    account = json.dumps(service_account(key, f"{token_endpoint.base}/token"))

    def deployment(model: str, **extra) -> dict:
        return {"model": f"vertex_ai/{model}", "vertex_project": PROJECT,
                "vertex_location": "us-central1", "vertex_credentials": account,
                "api_base": upstream.base, **extra}

    config = operator_config({
        "gemini": deployment("gemini-2.5-flash"),
        "claude": deployment("claude-sonnet-4-5@20250929"),
        "embed": deployment("text-embedding-005"),
        "gemini-any-project": deployment(
            "gemini-2.5-flash", configurable_clientside_auth_params=["vertex_project"]),
    })
    process = GatewayProcess(config).start()
    yield process
    process.cleanup()


@pytest.fixture
def fake(upstream):
    upstream.reset()
    upstream.clear_scripts()
    upstream.script_path(":generateContent", {"json": gemini_answer("Bonjour !")})
    upstream.script_path(":streamGenerateContent", {"sse": [
        json.dumps(gemini_answer("Bon", None)), json.dumps(gemini_answer("jour !"))]})
    upstream.script_path(":rawPredict", {"json": CLAUDE_ANSWER})
    upstream.script_path(":streamRawPredict", {"sse": CLAUDE_STREAM})
    upstream.script_path(":predict", {"json": {"predictions": [
        {"embeddings": {"values": [0.5, 0.25], "statistics": {"token_count": 2}}}]}})
    return upstream


@pytest.fixture
def client(gateway):
    with sdk(gateway) as client:
        yield client


def test_gemini_and_claude_with_one_token(client, fake, token_endpoint, gateway, key):
    answer = client.chat.completions.create(model="gemini", messages=[USER])
    assert answer.choices[0].message.content == "Bonjour !"
    assert answer.usage.total_tokens == 7
    assert check_stream(streamed(client, model="gemini", messages=[USER])) == \
        "Bonjour !"
    claude = client.chat.completions.create(model="claude", messages=[USER])
    assert claude.choices[0].message.content == "Bonjour !"
    assert check_stream(streamed(client, model="claude", messages=[USER])) == \
        "Bonjour !"
    vectors = client.embeddings.create(model="embed", input="a")
    assert vectors.data[0].embedding == [0.5, 0.25]

    whole, stream, claude_whole, claude_stream, embed = fake.calls
    assert whole.path == f"{GEMINI_PATH}:generateContent" and whole.query == {}
    assert stream.path == f"{GEMINI_PATH}:streamGenerateContent"
    assert stream.query == {"alt": ["sse"]}
    assert claude_whole.path == f"{CLAUDE_PATH}:rawPredict"
    assert claude_stream.path == f"{CLAUDE_PATH}:streamRawPredict"
    assert embed.path == (f"/v1/projects/{PROJECT}/locations/us-central1/publishers/"
                          "google/models/text-embedding-005:predict")
    for call in fake.calls:
        assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert whole.json == {"contents": [{"role": "user",
                                        "parts": [{"text": "Say hello."}]}]}
    assert claude_whole.json == {
        "anthropic_version": "vertex-2023-10-16", "max_tokens": 4096,
        "messages": [{"role": "user",
                      "content": [{"type": "text", "text": "Say hello."}]}]}
    assert claude_stream.json["stream"] is True
    assert embed.json == {"instances": [{"content": "a"}]}

    (fetch,) = token_endpoint.calls
    form = parse_qs(fetch.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert form["assertion"][0].count(".") == 2  # a signed JWT
    assert_secret_kept(gateway, TOKEN, key.splitlines()[1])


def test_client_location_then_the_deployments_again(client, fake, token_endpoint):
    client.chat.completions.create(model="gemini", messages=[USER],
                                   extra_body={"vertex_ai_location": "us-east1"})
    streamed(client, model="gemini", messages=[USER],
             extra_body={"vertex_ai_location": "europe-west4"})
    client.chat.completions.create(model="gemini", messages=[USER])

    paths = [call.path for call in fake.calls]
    assert paths == [
        GEMINI_PATH.replace("us-central1", "us-east1") + ":generateContent",
        GEMINI_PATH.replace("us-central1", "europe-west4") + ":streamGenerateContent",
        GEMINI_PATH + ":generateContent",
    ]
    assert all("vertex_ai_location" not in call.json for call in fake.calls)
    assert len(token_endpoint.calls) == 1


@pytest.mark.parametrize("location", ["../us-east1", "us-east1/x", "US-EAST1"])
def test_malformed_client_location_is_refused(client, fake, location):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gemini", messages=[USER],
                                       extra_body={"vertex_ai_location": location})
    assert caught.value.body["param"] == "vertex_ai_location"
    assert fake.calls == []


def test_client_project_only_where_the_operator_allows_it(client, fake,
                                                          token_endpoint):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gemini", messages=[USER],
                                       extra_body={"vertex_project": "other-proj"})
    assert caught.value.body["param"] == "vertex_project"
    assert fake.calls == []

    client.chat.completions.create(model="gemini-any-project", messages=[USER],
                                   extra_body={"vertex_project": "other-proj"})
    (call,) = fake.calls
    assert call.path == GEMINI_PATH.replace(PROJECT, "other-proj") + \
        ":generateContent"
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert len(token_endpoint.calls) == 1
