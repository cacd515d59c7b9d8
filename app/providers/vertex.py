"""Vertex AI: Google's Gemini models, and Anthropic's Claude, on Google Cloud.

Gemini models speak the same ``generateContent`` format as the Gemini API
(:mod:`gemini_request`, :mod:`gemini_response`); a model whose name starts
with ``claude`` is served through Anthropic's publisher endpoint
(``rawPredict`` / ``streamRawPredict``) with the Anthropic translation, minus
``model`` and plus ``anthropic_version: vertex-2023-10-16``. Embeddings use
``:predict`` with ``instances: [{content}]`` and read
``predictions[].embeddings.values`` (field details from PROVIDERS.md §7 and
Vertex's text-embeddings reference); Claude has no embeddings.

``api_base`` is the host root, by default the location's regional host
(``global`` has none). Project, location and credentials come from the
deployment, then (only when the deployment may use the gateway's environment)
from ``VERTEXAI_PROJECT``/``VERTEXAI_LOCATION``/``VERTEXAI_CREDENTIALS`` and
Application Default Credentials; the project may also come from the key. A
client's validated ``vertex_ai_location`` overrides the location for its
request; its ``vertex_project`` and ``vertex_credentials`` only where the
deployment's ``configurable_clientside_auth_params`` allow them, and a
client's key must be inline JSON using Google's token endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from app import errors
from app.providers import (
    anthropic_messages,
    anthropic_response,
    gemini_request,
    gemini_response,
    google_errors,
    openai_shapes,
    vertex_auth,
)
from app.providers.base import Call, HttpRequest, dumps, loads_or_none, path_segment
from app.providers.openai_request import embedding_inputs, passthrough
from app.providers.translating import (
    TranslatingAdapter,
    environment_value,
    json_headers,
)

LOCATION = re.compile(r"global|[a-z0-9-]{1,40}")
DEFAULT_LOCATION = "us-central1"
ANTHROPIC_VERSION = "vertex-2023-10-16"
PROJECT_ENV = ("VERTEXAI_PROJECT", "VERTEX_PROJECT")
LOCATION_ENV = ("VERTEXAI_LOCATION", "VERTEX_LOCATION")
CREDENTIALS_ENV = ("VERTEXAI_CREDENTIALS",)
# Multi-region locations served from their own hosts, as Google's SDKs do.
_MULTI_REGION_HOSTS = {"us": "https://aiplatform.us.rep.googleapis.com",
                       "eu": "https://aiplatform.eu.rep.googleapis.com"}


def location(call: Call) -> str:
    """The call's location, checked so it can only name a location."""
    value = call.credentials.get("vertex_location") or \
        environment_value(call, LOCATION_ENV) or DEFAULT_LOCATION
    if not isinstance(value, str) or not LOCATION.fullmatch(value):
        raise errors.InvalidRequest("vertex_location is not a valid location.",
                                    param="vertex_location")
    return value


def host(where: str) -> str:
    if where == "global":
        return "https://aiplatform.googleapis.com"
    return _MULTI_REGION_HOSTS.get(where, f"https://{where}-aiplatform.googleapis.com")


def credentials_of(call: Call) -> dict | None:
    """The service account key to use, or None to use ADC.

    The operator's key (from the config or the environment) may be a file path
    and name its own token endpoint; a client's may do neither.
    """
    value = call.credentials.get("vertex_credentials")
    if value:
        operator_key = "vertex_credentials" not in call.client_credentials
        return vertex_auth.credential_info(value, allow_files=operator_key)
    value = environment_value(call, CREDENTIALS_ENV)
    if value:
        return vertex_auth.credential_info(value, allow_files=True)
    if not call.use_environment_credentials:
        raise errors.InvalidRequest(
            "The deployment has no credentials for provider 'vertex_ai': it "
            "needs vertex_credentials.")
    return None


def project(call: Call, token: vertex_auth.Token) -> str:
    value = call.credentials.get("vertex_project") or \
        environment_value(call, PROJECT_ENV) or token.project
    if not isinstance(value, str) or not value:
        raise errors.InvalidRequest("The deployment names no vertex_project.",
                                    param="vertex_project")
    return value


def is_claude(call: Call) -> bool:
    return call.model.startswith("claude")


def claude_body(call: Call) -> dict:
    """Anthropic's Messages body, minus ``model`` (it is in the URL)."""
    body = anthropic_messages.request_body(call)
    del body["model"]
    body["anthropic_version"] = ANTHROPIC_VERSION
    return body


def embed_body(call: Call) -> dict:
    """``:predict`` instances; ``task_type`` and ``title`` go on each instance."""
    texts = embedding_inputs(call)
    extra = passthrough(call)
    instance = {key: extra.pop(key) for key in ("task_type", "title") if key in extra}
    parameters = {gemini_request.camel(key): value for key, value in extra.items()}
    if call.body.get("dimensions") is not None:
        parameters["outputDimensionality"] = call.body["dimensions"]
    body: dict[str, Any] = {"instances": [{"content": text, **instance}
                                          for text in texts]}
    if parameters:
        body["parameters"] = parameters
    return body


def embeddings_response(call: Call, payload: Mapping[str, Any]) -> dict:
    texts = embedding_inputs(call)
    embeddings = [(item.get("embeddings") or {}) for item in
                  payload.get("predictions") or ()]
    if len(embeddings) != len(texts):
        raise errors.BadGateway("Vertex AI answered a different number of "
                                "embeddings.")
    tokens = sum(int((item.get("statistics") or {}).get("token_count") or 0)
                 for item in embeddings)
    vectors = [item.get("values") or [] for item in embeddings]
    return openai_shapes.embeddings(call, vectors, tokens)


class VertexAdapter(TranslatingAdapter):
    name = "vertex_ai"

    def __init__(self) -> None:
        self.tokens = vertex_auth.TokenCache()

    def request(self, call: Call, publisher: str, method: str,
                body: dict) -> HttpRequest:
        """The model's URL under the call's project and location, with a token."""
        where = location(call)
        token = self.tokens.token(credentials_of(call))
        url = (f"{(call.api_base or host(where)).rstrip('/')}/v1/projects/"
               f"{path_segment(project(call, token))}/locations/{where}/"
               f"publishers/{publisher}/models/{path_segment(call.model)}:{method}")
        if method == "streamGenerateContent":
            url += "?alt=sse"
        headers = json_headers(call, {"authorization": f"Bearer {token.value}"})
        return HttpRequest("POST", url, headers, dumps(body))

    def build_chat(self, call: Call) -> HttpRequest:
        if is_claude(call):
            method = "streamRawPredict" if call.stream else "rawPredict"
            return self.request(call, "anthropic", method, claude_body(call))
        method = "streamGenerateContent" if call.stream else "generateContent"
        return self.request(call, "google", method,
                            gemini_request.request_body(call))

    def build_embeddings(self, call: Call) -> HttpRequest:
        if is_claude(call):
            raise errors.InvalidRequest("Claude models have no embeddings.",
                                        param="model")
        return self.request(call, "google", "predict", embed_body(call))

    def check_answer(self, call: Call, payload: Mapping[str, Any]) -> None:
        if is_claude(call):
            anthropic_response.check_answer(payload)
        else:
            gemini_response.check_answer(payload)

    def parse_chat(self, call: Call, payload: Mapping[str, Any]) -> dict:
        if is_claude(call):
            return anthropic_response.chat_response(call, payload)
        return gemini_response.chat_response(call, payload)

    def parse_embeddings(self, call: Call, payload: Mapping[str, Any],
                         headers: Mapping[str, str]) -> dict:
        return embeddings_response(call, payload)

    def stream_chat(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        if is_claude(call):
            return anthropic_response.StreamTranslator(call).run(raw)
        return gemini_response.StreamTranslator(call).run(raw)

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        if status == 401:
            self.forget_token(call)
        payload = loads_or_none(content)
        if isinstance(payload, dict) and payload.get("type") == "error":
            return anthropic_response.http_error(status, headers, content)
        return google_errors.http_error(status, headers, content)

    def forget_token(self, call: Call) -> None:
        """A 401 means the cached token is stale: the next attempt gets a new one."""
        try:
            self.tokens.forget(credentials_of(call))
        except errors.InvalidRequest:
            pass


ADAPTER = VertexAdapter()
