"""Google's Gemini API (AI Studio, ``generativelanguage``), spoken to OpenAI clients.

Serves chat, legacy completions (the prompt as one user message) and
embeddings (``embedContent`` for one string, ``batchEmbedContents`` for a
list). ``api_base`` is the versioned root, ``/v1beta`` by default; the model
name goes into the path as one percent-encoded segment. The key travels in
the ``x-goog-api-key`` header, never in the query, so it stays out of URL
logs. The translations live in :mod:`gemini_messages`,
:mod:`gemini_request` and :mod:`gemini_response`, shared with Vertex AI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from urllib.parse import quote

from app import errors
from app.providers import (
    completions,
    gemini_request,
    gemini_response,
    google_errors,
    shapes,
)
from app.providers.base import Adapter, Call, HttpRequest, dumps, loads_or_none

DEFAULT_BASE = "https://generativelanguage.googleapis.com/v1beta"
ENV_KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


def model_name(model: str) -> str:
    """The bare model id; Google's own ``models/`` prefix is tolerated."""
    return model[len("models/"):] if model.startswith("models/") else model


def model_url(base: str, model: str, method: str, stream: bool = False) -> str:
    """``{base}/models/{model}:{method}``, the model as one encoded segment."""
    url = f"{base.rstrip('/')}/models/{quote(model_name(model), safe='')}:{method}"
    return url + "?alt=sse" if stream else url


def api_key(call: Call) -> str:
    key = call.api_key
    if not key and call.use_environment_credentials:
        key = next((os.environ[name] for name in ENV_KEYS if os.environ.get(name)),
                   None)
    if not key:
        raise errors.InvalidRequest(
            "The deployment has no credentials for provider 'gemini': it needs "
            "an api_key.")
    return key


def request_headers(call: Call) -> dict[str, str]:
    headers = {"content-type": "application/json", "x-goog-api-key": api_key(call)}
    headers.update(call.credentials.get("extra_headers") or {})
    return headers


def answer_payload(status: int, content: bytes) -> dict:
    """The JSON object of a 2xx answer; anything else is a bad gateway."""
    payload = loads_or_none(content)
    if not isinstance(payload, dict):
        raise errors.BadGateway("The upstream answered with malformed JSON.",
                                upstream_status=status)
    if "error" in payload:
        raise google_errors.in_band_error(payload)
    return payload


class GeminiAdapter(Adapter):
    name = "gemini"

    def build(self, call: Call) -> HttpRequest:
        base = call.api_base or DEFAULT_BASE
        if call.endpoint == "embeddings":
            method, body = gemini_request.embed_request(call, model_name(call.model))
            url = model_url(base, call.model, method)
        else:
            body = gemini_request.request_body(completions.as_chat(call))
            method = "streamGenerateContent" if call.stream else "generateContent"
            url = model_url(base, call.model, method, call.stream)
        return HttpRequest("POST", url, request_headers(call), dumps(body))

    def parse(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> dict:
        payload = answer_payload(status, content)
        if call.endpoint == "embeddings":
            texts = shapes.embedding_inputs(call)
            return gemini_response.embeddings_response(call, payload, texts)
        answer = gemini_response.chat_response(call, payload)
        return completions.text_response(call, answer)

    def stream(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        chunks = gemini_response.StreamTranslator(call).run(raw)
        return completions.text_chunks(call, chunks)

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        return google_errors.http_error(status, headers, content)


ADAPTER = GeminiAdapter()
