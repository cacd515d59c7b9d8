"""The gateway key check: empty or missing values never authenticate."""

from __future__ import annotations

import io

import pytest

from app import config, create_app

MASTER = "sk-proxy-test"


@pytest.fixture
def client():
    built = config.build({
        "model_list": [{"model_name": "demo", "litellm_params": {
            "model": "openai/demo", "mock_response": "hi"}}],
        "general_settings": {"master_key": MASTER},
    })
    return create_app(built).test_client()


@pytest.mark.parametrize("headers", [
    {}, {"x-api-key": ""}, {"api-key": ""}, {"Authorization": ""},
    {"Authorization": "Bearer "}, {"Authorization": "Bearer  "},
    {"x-api-key": " "}, {"Authorization": f"Basic {MASTER}"},
    {"Authorization": f"Bearer {MASTER}x"}, {"api-key": MASTER[:-1]},
])
def test_missing_empty_or_wrong_keys_are_401(client, headers):
    response = client.get("/v1/models", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {MASTER}"}, {"Authorization": f"bearer {MASTER}"},
    {"api-key": MASTER}, {"x-api-key": MASTER},
    {"Authorization": "Bearer ", "x-api-key": MASTER},
])
def test_the_master_key_in_any_accepted_header_is_200(client, headers):
    assert client.get("/v1/models", headers=headers).status_code == 200


def test_a_chunked_body_over_the_limit_is_413_not_invalid_json():
    built = config.build({
        "model_list": [{"model_name": "demo", "litellm_params": {
            "model": "openai/demo", "mock_response": "hi"}}],
        "general_settings": {"max_request_size_mb": 0.001},
    })
    client = create_app(built).test_client()

    body = (b'{"model": "demo", "messages": [{"role": "user", "content": "'
            + b"x" * 4096 + b'"}]}')
    response = client.post("/v1/chat/completions", input_stream=io.BytesIO(body),
                           headers={"Content-Type": "application/json",
                                    "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_too_large"


def test_a_model_served_by_a_wildcard_can_be_retrieved():
    built = config.build({"model_list": [{"model_name": "fake/*", "litellm_params": {
        "model": "openai/*", "mock_response": "hi"}}]})
    client = create_app(built).test_client()
    assert client.get("/v1/models/fake/foo").get_json()["id"] == "fake/foo"
    assert client.get("/v1/models/other").status_code == 404
