"""The seed's ``vertex_ai_location`` example, in process: the client's location
chooses Vertex AI's regional host and path, for that request only.

The app is built from a config dict and driven with Flask's test client;
``responses`` answers for Google's token endpoint and Vertex AI's hosts, and
the network spy fails any lookup or connection, so nothing leaves the process.
"""

from __future__ import annotations

import json

import pytest
import responses

from app import create_app
from app.config import build
from tests.providers_support import new_private_key_pem, service_account

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
MODEL_PATH = "publishers/google/models/gemini-2.5-flash:generateContent"
USER = {"role": "user", "content": "Hello"}
ANSWER = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
                          "finishReason": "STOP"}],
          "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1,
                            "totalTokenCount": 2}}


def vertex_url(location: str, project: str = "proj-1") -> str:
    host = "aiplatform.googleapis.com" if location == "global" \
        else f"{location}-aiplatform.googleapis.com"
    return (f"https://{host}/v1/projects/{project}/locations/{location}/"
            f"{MODEL_PATH}")


@pytest.fixture(scope="module")
def account() -> str:
    return json.dumps(service_account(new_private_key_pem(), GOOGLE_TOKEN_URI))


@pytest.fixture
def client(account):
    def deployment(**extra) -> dict:
        return {"model": "vertex_ai/gemini-2.5-flash", "vertex_project": "proj-1",
                "vertex_location": "us-central1", "vertex_credentials": account,
                **extra}

    config = build({"model_list": [
        {"model_name": "gemini", "litellm_params": deployment()},
        {"model_name": "gemini-open", "litellm_params": deployment(
            configurable_clientside_auth_params=["vertex_project"])},
    ], "router_settings": {"num_retries": 0}})
    return create_app(config=config).test_client()


@pytest.fixture
def google(network_spy):
    """Google's token endpoint and any Vertex AI answer, inside the process."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, GOOGLE_TOKEN_URI,
                 json={"access_token": "ya29.in-process", "expires_in": 3600,
                       "token_type": "Bearer"})
        for location in ("us-central1", "us-east1", "global"):
            for project in ("proj-1", "client-proj"):
                mock.add(responses.POST, vertex_url(location, project), json=ANSWER)
        yield mock
    assert network_spy.connects == [] and network_spy.lookups == []


def chat(client, model: str = "gemini", **extra):
    return client.post("/v1/chat/completions",
                       json={"model": model, "messages": [USER], **extra})


def vertex_calls(google) -> list[str]:
    return [call.request.url for call in google.calls
            if call.request.url != GOOGLE_TOKEN_URI]


def test_client_location_picks_host_and_path_for_one_request(client, google):
    assert chat(client, vertex_ai_location="us-east1").status_code == 200
    assert chat(client).status_code == 200
    assert chat(client, extra_body={"vertex_ai_location": "global"}).status_code \
        == 200
    assert vertex_calls(google) == [vertex_url("us-east1"), vertex_url("us-central1"),
                                    vertex_url("global")]
    for call in google.calls[1:]:
        assert call.request.headers["authorization"] == "Bearer ya29.in-process"
        assert b"vertex_ai_location" not in call.request.body


@pytest.mark.parametrize("location", ["evil.example/x", "us-east1.evil", "a" * 41])
def test_malformed_location_never_names_a_host(client, google, location):
    answer = chat(client, vertex_ai_location=location)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["param"] == "vertex_ai_location"
    assert len(google.calls) == 0


def test_client_project_refused_unless_allowed(client, google):
    refused = chat(client, vertex_project="client-proj")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["param"] == "vertex_project"
    assert len(google.calls) == 0

    allowed = chat(client, "gemini-open", vertex_project="client-proj",
                   vertex_ai_location="us-east1")
    assert allowed.status_code == 200
    assert vertex_calls(google) == [vertex_url("us-east1", "client-proj")]
