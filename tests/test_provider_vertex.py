"""The Vertex AI adapter: Gemini and Claude on Vertex, OAuth tokens, embeddings.

Token exchanges go to a made-up token endpoint (or Google's, for a client's
credential) intercepted by ``responses``: an unmatched request fails with a
connection error, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from app import errors
from app.providers import vertex_auth
from app.providers.vertex import VertexAdapter
from tests.providers_support import (
    awkward_chunks,
    body_of,
    fixture_bytes,
    fixture_json,
    joined_content,
    make_call,
    new_private_key_pem,
)
from tests.providers_support import service_account as support_service_account

TOKEN_URI = "https://token.test/token"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
MODEL = "gemini-2.5-flash"
USER = {"role": "user", "content": "Hello"}
# How the router builds a call whose vertex_credentials the client sent.
CLIENT_KEY = {"use_environment_credentials": False,
              "client_credentials": frozenset({"vertex_credentials"})}


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    return new_private_key_pem()


def service_account(pem: str, token_uri: str = TOKEN_URI, **extra) -> dict:
    return support_service_account(pem, token_uri, **extra)


@pytest.fixture
def account(private_key_pem) -> dict:
    return service_account(private_key_pem)


@pytest.fixture
def adapter() -> VertexAdapter:
    return VertexAdapter()


@pytest.fixture
def token_endpoint():
    """A fake token endpoint answering fresh tokens: ya29.fake-1, -2, ..."""
    issued = []

    def answer(request):
        body = request.body
        issued.append(parse_qs(body.decode() if isinstance(body, bytes) else body))
        body = {"access_token": f"ya29.fake-{len(issued)}", "expires_in": 3600,
                "token_type": "Bearer"}
        return 200, {}, json.dumps(body)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, TOKEN_URI, callback=answer)
        mock.add_callback(responses.POST, GOOGLE_TOKEN_URI, callback=answer)
        yield issued


def vertex_call(account: dict | None, body: dict | None = None, model: str = MODEL,
                **overrides) -> object:
    credentials = {"vertex_project": "my-project", "vertex_location": "us-central1"}
    if account is not None:
        credentials["vertex_credentials"] = account
    credentials.update(overrides.pop("credentials", {}))
    return make_call("vertex_ai", model, body, api_key=None,
                     credentials=credentials, **overrides)


GEMINI_URL = ("https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/"
              "locations/us-central1/publishers/google/models/gemini-2.5-flash")


# --- URL, auth and body --------------------------------------------------------

def test_build_gemini_chat(adapter, account, token_endpoint):
    request = adapter.build(vertex_call(account, {"messages": [USER],
                                                  "temperature": 0.1}))
    assert request.url == f"{GEMINI_URL}:generateContent"
    assert request.headers["authorization"] == "Bearer ya29.fake-1"
    assert body_of(request) == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"temperature": 0.1}}
    grant = token_endpoint[0]
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert "assertion" in grant


def test_build_gemini_stream(adapter, account, token_endpoint):
    request = adapter.build(vertex_call(account, stream=True))
    assert request.url == f"{GEMINI_URL}:streamGenerateContent?alt=sse"


def test_token_is_cached_per_credential(adapter, private_key_pem, token_endpoint):
    first = service_account(private_key_pem)
    second = service_account(private_key_pem, client_email="other@p.iam.test")
    tokens = [adapter.build(vertex_call(account)).headers["authorization"]
              for account in (first, first, json.dumps(first), second)]
    assert tokens == ["Bearer ya29.fake-1"] * 3 + ["Bearer ya29.fake-2"]
    assert len(token_endpoint) == 2


def test_token_is_refreshed_five_minutes_before_expiry(account, token_endpoint):
    clock = [time.time()]
    adapter = VertexAdapter()
    adapter.tokens = vertex_auth.TokenCache(clock=lambda: clock[0])
    adapter.build(vertex_call(account))
    clock[0] += 3600 - 310
    assert adapter.build(vertex_call(account)).headers["authorization"] == \
        "Bearer ya29.fake-1"
    clock[0] += 20
    assert adapter.build(vertex_call(account)).headers["authorization"] == \
        "Bearer ya29.fake-2"


def test_401_drops_the_cached_token(adapter, account, token_endpoint):
    call = vertex_call(account)
    adapter.build(call)
    error = adapter.error(call, 401, {}, json.dumps({"error": {
        "code": 401, "message": "Request had invalid authentication credentials.",
        "status": "UNAUTHENTICATED"}}).encode())
    assert isinstance(error, errors.AuthenticationError)
    assert adapter.build(call).headers["authorization"] == "Bearer ya29.fake-2"


@pytest.mark.parametrize("where, host", [
    ("global", "https://aiplatform.googleapis.com"),
    ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
    ("us", "https://aiplatform.us.rep.googleapis.com"),
])
def test_host_by_location(adapter, account, token_endpoint, where, host):
    call = vertex_call(account, credentials={"vertex_location": where})
    url = adapter.build(call).url
    assert url == (f"{host}/v1/projects/my-project/locations/{where}/publishers/"
                   f"google/models/{MODEL}:generateContent")


@pytest.mark.parametrize("where", ["../evil", "us-central1/x", "a" * 41, "US",
                                   "us central", "x?y=1", "a.b", "eu\n"])
def test_bad_location_is_400(adapter, account, where):
    call = vertex_call(account, credentials={"vertex_location": where})
    with pytest.raises(errors.InvalidRequest) as caught:
        adapter.build(call)
    assert caught.value.param == "vertex_location"


def test_api_base_is_the_host_root(adapter, account, token_endpoint):
    call = vertex_call(account, api_base="https://vertex-proxy.test/")
    assert adapter.build(call).url == (
        "https://vertex-proxy.test/v1/projects/my-project/locations/us-central1/"
        f"publishers/google/models/{MODEL}:generateContent")


@pytest.mark.parametrize("model, segment", [
    ("../x?y", "..%2Fx%3Fy"), ("a/b#c", "a%2Fb%23c"),
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5%4020250929"),
])
def test_model_and_project_are_single_segments(adapter, account, token_endpoint,
                                               model, segment):
    call = vertex_call(account, model=model,
                       credentials={"vertex_project": "p/../q?z"})
    parts = urlsplit(adapter.build(call).url)
    assert parts.query == "" and parts.fragment == ""
    assert parts.path.startswith("/v1/projects/p%2F..%2Fq%3Fz/locations/us-central1/")
    assert parts.path.rsplit("/", 1)[1].startswith(f"{segment}:")


# --- project and credentials ----------------------------------------------------

def test_project_from_the_key_when_none_is_given(adapter, account, token_endpoint):
    call = vertex_call(account, credentials={"vertex_project": None})
    assert "/projects/key-project/" in adapter.build(call).url


def test_project_from_environment_only_when_allowed(adapter, private_key_pem,
                                                    token_endpoint, monkeypatch):
    account = service_account(private_key_pem, token_uri=GOOGLE_TOKEN_URI)
    monkeypatch.setenv("VERTEXAI_PROJECT", "env-project")
    monkeypatch.setenv("VERTEXAI_LOCATION", "asia-east1")
    allowed = vertex_call(account, credentials={"vertex_project": None,
                                                "vertex_location": None})
    assert "/projects/env-project/locations/asia-east1/" in adapter.build(allowed).url
    forbidden = vertex_call(account, use_environment_credentials=False,
                            credentials={"vertex_project": None,
                                         "vertex_location": None})
    url = adapter.build(forbidden).url
    assert "/projects/key-project/locations/us-central1/" in url


def test_missing_project_is_400(adapter, account, token_endpoint):
    del account["project_id"]
    with pytest.raises(errors.InvalidRequest) as caught:
        adapter.build(vertex_call(account, credentials={"vertex_project": None}))
    assert caught.value.param == "vertex_project"


def test_operator_credentials_from_a_file(adapter, account, token_endpoint,
                                          tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(account))
    request = adapter.build(vertex_call(str(path)))
    assert request.headers["authorization"] == "Bearer ya29.fake-1"


def test_credentials_from_environment_only_when_allowed(adapter, account,
                                                        token_endpoint, monkeypatch):
    monkeypatch.setenv("VERTEXAI_CREDENTIALS", json.dumps(account))
    assert adapter.build(vertex_call(None)).headers["authorization"] == \
        "Bearer ya29.fake-1"
    with pytest.raises(errors.InvalidRequest) as caught:
        adapter.build(vertex_call(None, use_environment_credentials=False))
    assert "no credentials" in caught.value.message


def test_client_credentials_may_not_name_a_file(adapter, private_key_pem,
                                                token_endpoint, tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(service_account(private_key_pem,
                                               token_uri=GOOGLE_TOKEN_URI)))
    with pytest.raises(errors.InvalidRequest) as caught:
        adapter.build(vertex_call(str(path), **CLIENT_KEY))
    assert caught.value.param == "vertex_credentials"
    assert token_endpoint == []


def test_client_credentials_must_use_googles_token_endpoint(adapter, account):
    with pytest.raises(errors.InvalidRequest) as caught:
        adapter.build(vertex_call(account, **CLIENT_KEY))
    assert caught.value.param == "vertex_credentials"


def test_operator_key_keeps_its_endpoint_and_file_beside_a_client_project(
        adapter, account, token_endpoint, tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(account))
    for key in (account, str(path)):
        call = vertex_call(key, use_environment_credentials=False,
                           client_credentials=frozenset({"vertex_project"}),
                           credentials={"vertex_project": "client-project"})
        request = adapter.build(call)
        assert "/projects/client-project/" in request.url
        assert request.headers["authorization"].startswith("Bearer ya29.fake-")


def test_client_credentials_with_googles_endpoint(adapter, private_key_pem,
                                                  token_endpoint):
    account = service_account(private_key_pem, token_uri=GOOGLE_TOKEN_URI)
    request = adapter.build(vertex_call(account, **CLIENT_KEY))
    assert request.headers["authorization"] == "Bearer ya29.fake-1"


@pytest.mark.parametrize("value", [
    {"type": "authorized_user", "refresh_token": "r", "client_id": "c",
     "client_secret": "s"},
    {"type": "external_account", "credential_source": {"file": "/etc/passwd"}},
    "{not json", "[1, 2]", 42,
])
def test_unusable_credentials_are_400(adapter, value):
    with pytest.raises(errors.InvalidRequest) as caught:
        adapter.build(vertex_call(value))
    assert caught.value.param == "vertex_credentials"


def test_adc_used_only_when_allowed(adapter, monkeypatch):
    class FakeCredentials:
        token, expiry = None, None

        def refresh(self, request):
            self.token = "adc-token"

    calls = []

    def fake_default(scopes):
        calls.append(scopes)
        return FakeCredentials(), "adc-project"

    monkeypatch.setattr("google.auth.default", fake_default)
    monkeypatch.delenv("VERTEXAI_CREDENTIALS", raising=False)
    request = adapter.build(vertex_call(None, credentials={"vertex_project": None}))
    assert request.headers["authorization"] == "Bearer adc-token"
    assert "/projects/adc-project/" in request.url
    assert calls == [["https://www.googleapis.com/auth/cloud-platform"]]
    with pytest.raises(errors.InvalidRequest):
        adapter.build(vertex_call(None, use_environment_credentials=False))
    assert len(calls) == 1


def test_refused_credentials_are_401_and_not_logged(adapter, account, caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, TOKEN_URI, status=400,
                 json={"error": "invalid_grant", "error_description": "Invalid JWT"})
        with pytest.raises(errors.AuthenticationError):
            adapter.build(vertex_call(account))
    assert "PRIVATE KEY" not in caplog.text and account["private_key"] not in \
        caplog.text


def test_unreachable_token_endpoint_is_bad_gateway(adapter, account):
    with responses.RequestsMock():  # no endpoint registered: connection refused
        with pytest.raises(errors.BadGateway):
            adapter.build(vertex_call(account))


def test_module_imports_without_google_auth():
    code = ("import sys; sys.modules['google'] = None; "
            "import app.providers.vertex as v; print(v.ADAPTER.name)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, cwd=".", check=False)
    assert result.stdout.strip() == "vertex_ai", result.stderr


# --- Gemini answers and streams ---------------------------------------------------

def test_parse_gemini_answer(adapter, account):
    content = json.dumps(fixture_json("gemini_tool_call.json")).encode()
    result = adapter.parse(vertex_call(account), 200, {}, content)
    assert result["choices"][0]["finish_reason"] == "tool_calls"
    assert result["model"] == f"alias-{MODEL}"
    assert result["usage"]["total_tokens"] == 57


def test_stream_gemini(adapter, account):
    body = {"messages": [USER], "stream_options": {"include_usage": True}}
    call = vertex_call(account, body, stream=True)
    chunks = list(adapter.stream(call, awkward_chunks(
        fixture_bytes("gemini_stream.sse"), 9)))
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert joined_content(chunks) == "Checking Zürich weather 🌤"
    assert chunks[-1]["usage"]["total_tokens"] == 37


# --- Claude on Vertex ---------------------------------------------------------------

CLAUDE = "claude-sonnet-4-5@20250929"
CLAUDE_URL = ("https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/"
              "locations/us-central1/publishers/anthropic/models/"
              "claude-sonnet-4-5%4020250929")


@pytest.mark.parametrize("stream, method", [(False, "rawPredict"),
                                            (True, "streamRawPredict")])
def test_build_claude(adapter, account, token_endpoint, stream, method):
    body = {"messages": [{"role": "system", "content": "Be brief."}, USER]}
    request = adapter.build(vertex_call(account, body, model=CLAUDE, stream=stream))
    assert request.url == f"{CLAUDE_URL}:{method}"
    sent = body_of(request)
    assert "model" not in sent
    assert sent["anthropic_version"] == "vertex-2023-10-16"
    assert sent["system"] == [{"type": "text", "text": "Be brief."}]
    assert sent["max_tokens"] == 4096
    assert sent.get("stream", False) is stream


def test_claude_unsupported_param_is_400(adapter, account):
    with pytest.raises(errors.UnsupportedParam) as caught:
        adapter.build(vertex_call(account, {"messages": [USER], "seed": 1},
                                  model=CLAUDE))
    assert caught.value.param == "seed"


def test_parse_claude_answer(adapter, account):
    content = json.dumps(fixture_json("anthropic_tool_use.json")).encode()
    result = adapter.parse(vertex_call(account, model=CLAUDE), 200, {}, content)
    assert result["choices"][0]["message"]["tool_calls"][0]["id"] == "toolu_02"
    assert result["usage"]["prompt_tokens"] == 150


def test_parse_claude_malformed_is_bad_gateway(adapter, account):
    with pytest.raises(errors.BadGateway):
        adapter.parse(vertex_call(account, model=CLAUDE), 200, {}, b"nope")


def test_stream_claude(adapter, account):
    body = {"messages": [USER], "stream_options": {"include_usage": True}}
    call = vertex_call(account, body, model=CLAUDE, stream=True)
    chunks = list(adapter.stream(call, awkward_chunks(
        fixture_bytes("anthropic_stream.sse"), 5)))
    assert joined_content(chunks) == "Checking Zürich weather 🌤"
    assert chunks[-1]["usage"]["total_tokens"] == 72


@pytest.mark.parametrize("status, content, cls", [
    (529, {"type": "error", "error": {"type": "overloaded_error",
                                      "message": "Overloaded"}},
     errors.ServiceUnavailable),
    (400, {"type": "error", "error": {"type": "invalid_request_error",
                                      "message": "prompt is too long"}},
     errors.ContextWindowExceeded),
    (429, {"error": {"code": 429, "message": "Quota exceeded for "
                     "aiplatform.googleapis.com/online_prediction_requests",
                     "status": "RESOURCE_EXHAUSTED"}}, errors.RateLimited),
])
def test_claude_errors_in_either_format(adapter, account, status, content, cls):
    call = vertex_call(account, model=CLAUDE)
    error = adapter.error(call, status, {}, json.dumps(content).encode())
    assert type(error) is cls


# --- embeddings -------------------------------------------------------------------

def embed_call(account: dict, value, **body) -> object:
    return vertex_call(account, {"input": value, **body},
                       model="text-embedding-005", endpoint="embeddings")


def test_build_embeddings(adapter, account, token_endpoint):
    request = adapter.build(embed_call(account, ["a", "b"], dimensions=256,
                                       task_type="RETRIEVAL_DOCUMENT",
                                       auto_truncate=False))
    assert request.url.endswith(
        "/publishers/google/models/text-embedding-005:predict")
    assert body_of(request) == {
        "instances": [{"content": "a", "task_type": "RETRIEVAL_DOCUMENT"},
                      {"content": "b", "task_type": "RETRIEVAL_DOCUMENT"}],
        "parameters": {"autoTruncate": False, "outputDimensionality": 256}}


def test_parse_embeddings(adapter, account):
    content = json.dumps({"predictions": [
        {"embeddings": {"values": [0.1, 0.2], "statistics": {"token_count": 3,
                                                             "truncated": False}}},
        {"embeddings": {"values": [0.3, 0.4], "statistics": {"token_count": 4,
                                                             "truncated": False}}},
    ]}).encode()
    result = adapter.parse(embed_call(account, ["a", "b"]), 200, {}, content)
    assert [d["embedding"] for d in result["data"]] == [[0.1, 0.2], [0.3, 0.4]]
    assert result["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    assert result["model"] == "alias-text-embedding-005"


def test_parse_embeddings_count_mismatch(adapter, account):
    with pytest.raises(errors.BadGateway):
        adapter.parse(embed_call(account, ["a", "b"]), 200, {},
                      b'{"predictions": []}')


def test_claude_embeddings_are_400(adapter, account):
    call = vertex_call(account, {"input": "x"}, model=CLAUDE, endpoint="embeddings")
    with pytest.raises(errors.InvalidRequest):
        adapter.build(call)


# --- Vertex error texts ----------------------------------------------------------

@pytest.mark.parametrize("status, code_name, message, cls", [
    (400, "INVALID_ARGUMENT", "Request payload size exceeds the limit: "
     "31457280 bytes.", errors.ContextWindowExceeded),
    (403, "PERMISSION_DENIED", "Vertex AI API has not been used in project 1 "
     "before or it is disabled.", errors.PermissionDenied),
    (429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com.",
     errors.RateLimited),
    (400, "INVALID_ARGUMENT", "Output blocked by content filtering policy.",
     errors.ContentPolicyViolation),
    (404, "NOT_FOUND", "Publisher Model was not found.", errors.NotFound),
    (503, "UNAVAILABLE", "The model is overloaded.", errors.ServiceUnavailable),
])
def test_vertex_errors(adapter, account, status, code_name, message, cls):
    content = json.dumps({"error": {"code": status, "message": message,
                                    "status": code_name}}).encode()
    error = adapter.error(vertex_call(account), status, {"retry-after": "5"},
                          content)
    assert type(error) is cls
    assert error.message == message
