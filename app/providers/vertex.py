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
Application Default Credentials; the project may also come from the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from app import errors
from app.providers import (
    anthropic_messages,
    anthropic_response,
    completions,
    gemini_request,
    gemini_response,
    google_errors,
    params,
    shapes,
    vertex_auth,
)
from app.providers.base import Adapter, Call, HttpRequest, dumps, loads_or_none
from app.providers.gemini import answer_payload

LOCATION = re.compile(r"global|[a-z0-9-]{1,40}")
DEFAULT_LOCATION = "us-central1"
ANTHROPIC_VERSION = "vertex-2023-10-16"
PROJECT_ENV = ("VERTEXAI_PROJECT", "VERTEX_PROJECT")
LOCATION_ENV = ("VERTEXAI_LOCATION", "VERTEX_LOCATION")
CREDENTIALS_ENV = "VERTEXAI_CREDENTIALS"
# Multi-region locations served from their own hosts, as Google's SDKs do.
_MULTI_REGION_HOSTS = {"us": "https://aiplatform.us.rep.googleapis.com",
                       "eu": "https://aiplatform.eu.rep.googleapis.com"}


def from_environment(call: Call, names: tuple[str, ...]) -> str | None:
    if not call.use_environment_credentials:
        return None
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def location(call: Call) -> str:
    """The deployment's location, checked so it can only name a location."""
    value = call.credentials.get("vertex_location") or \
        from_environment(call, LOCATION_ENV) or DEFAULT_LOCATION
    if not isinstance(value, str) or not LOCATION.fullmatch(value):
        raise errors.InvalidRequest("vertex_location is not a valid location.",
                                    param="vertex_location")
    return value


def host(where: str) -> str:
    if where == "global":
        return "https://aiplatform.googleapis.com"
    return _MULTI_REGION_HOSTS.get(where, f"https://{where}-aiplatform.googleapis.com")


def credentials_of(call: Call) -> dict | None:
    """The service account key to use, or None to use ADC."""
    allowed = call.use_environment_credentials
    value = call.credentials.get("vertex_credentials") or \
        from_environment(call, (CREDENTIALS_ENV,))
    if value:
        return vertex_auth.credential_info(value, allow_files=allowed)
    if not allowed:
        raise errors.InvalidRequest(
            "The deployment has no credentials for provider 'vertex_ai': it "
            "needs vertex_credentials.")
    return None


def project(call: Call, token: vertex_auth.Token) -> str:
    value = call.credentials.get("vertex_project") or \
        from_environment(call, PROJECT_ENV) or token.project
    if not isinstance(value, str) or not value:
        raise errors.InvalidRequest("The deployment names no vertex_project.",
                                    param="vertex_project")
    return value


def is_claude(call: Call) -> bool:
    return call.model.startswith("claude")


def target(call: Call) -> tuple[str, str, dict]:
    """The publisher, method and body of the request for ``call``."""
    if call.endpoint == "embeddings":
        if is_claude(call):
            raise errors.InvalidRequest("Claude models have no embeddings.",
                                        param="model")
        return "google", "predict", embed_body(call)
    chat = completions.as_chat(call)
    if is_claude(call):
        body = anthropic_messages.request_body(chat)
        del body["model"]
        body["anthropic_version"] = ANTHROPIC_VERSION
        return "anthropic", "streamRawPredict" if call.stream else "rawPredict", body
    method = "streamGenerateContent" if call.stream else "generateContent"
    return "google", method, gemini_request.request_body(chat)


def embed_body(call: Call) -> dict:
    """``:predict`` instances; ``task_type`` and ``title`` go on each instance."""
    texts = shapes.embedding_inputs(call)
    extra = params.passthrough(call)
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
    texts = shapes.embedding_inputs(call)
    embeddings = [(item.get("embeddings") or {}) for item in
                  payload.get("predictions") or ()]
    if len(embeddings) != len(texts):
        raise errors.BadGateway("Vertex AI answered a different number of "
                                "embeddings.")
    tokens = sum(int((item.get("statistics") or {}).get("token_count") or 0)
                 for item in embeddings)
    vectors = [item.get("values") or [] for item in embeddings]
    return shapes.embedding_list(call, vectors, tokens)


def claude_answer(call: Call, status: int, content: bytes) -> dict:
    """A chat answer from Claude's rawPredict, whose body is Anthropic's."""
    payload = loads_or_none(content)
    if not isinstance(payload, dict):
        raise errors.BadGateway("The upstream answered with malformed JSON.",
                                upstream_status=status)
    if payload.get("type") == "error":
        raise anthropic_response.in_band_error(payload)
    return anthropic_response.chat_response(call, payload)


class VertexAdapter(Adapter):
    name = "vertex_ai"

    def __init__(self) -> None:
        self.tokens = vertex_auth.TokenCache()

    def build(self, call: Call) -> HttpRequest:
        publisher, method, body = target(call)
        where = location(call)
        token = self.tokens.token(credentials_of(call))
        url = (f"{(call.api_base or host(where)).rstrip('/')}/v1/projects/"
               f"{quote(project(call, token), safe='')}/locations/{where}/"
               f"publishers/{publisher}/models/{quote(call.model, safe='')}:{method}")
        if method == "streamGenerateContent":
            url += "?alt=sse"
        headers = {"content-type": "application/json",
                   "authorization": f"Bearer {token.value}"}
        headers.update(call.credentials.get("extra_headers") or {})
        return HttpRequest("POST", url, headers, dumps(body))

    def parse(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> dict:
        if is_claude(call):
            return completions.text_response(call, claude_answer(call, status,
                                                                 content))
        payload = answer_payload(status, content)
        if call.endpoint == "embeddings":
            return embeddings_response(call, payload)
        return completions.text_response(
            call, gemini_response.chat_response(call, payload))

    def stream(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        if is_claude(call):
            chunks = anthropic_response.StreamTranslator(call).run(raw)
        else:
            chunks = gemini_response.StreamTranslator(call).run(raw)
        return completions.text_chunks(call, chunks)

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
