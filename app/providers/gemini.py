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

from collections.abc import Iterator, Mapping
from typing import Any

from app import errors
from app.providers import gemini_request, gemini_response, google_errors
from app.providers.base import Call, HttpRequest, dumps, path_segment
from app.providers.openai_request import embedding_inputs
from app.providers.translating import TranslatingAdapter, json_headers, required_key

DEFAULT_BASE = "https://generativelanguage.googleapis.com/v1beta"
ENV_KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


def model_name(model: str) -> str:
    """The bare model id; Google's own ``models/`` prefix is tolerated."""
    return model.removeprefix("models/")


def model_url(call: Call, method: str) -> str:
    """``{base}/models/{model}:{method}``, the model as one encoded segment."""
    base = (call.api_base or DEFAULT_BASE).rstrip("/")
    url = f"{base}/models/{path_segment(model_name(call.model))}:{method}"
    return url + "?alt=sse" if method == "streamGenerateContent" else url


class GeminiAdapter(TranslatingAdapter):
    name = "gemini"

    def request(self, call: Call, method: str, body: dict) -> HttpRequest:
        headers = json_headers(call, {"x-goog-api-key": required_key(call, ENV_KEYS)})
        return HttpRequest("POST", model_url(call, method), headers, dumps(body))

    def build_chat(self, call: Call) -> HttpRequest:
        method = "streamGenerateContent" if call.stream else "generateContent"
        return self.request(call, method, gemini_request.request_body(call))

    def build_embeddings(self, call: Call) -> HttpRequest:
        method, body = gemini_request.embed_request(call, model_name(call.model))
        return self.request(call, method, body)

    def check_answer(self, call: Call, payload: Mapping[str, Any]) -> None:
        gemini_response.check_answer(payload)

    def parse_chat(self, call: Call, payload: Mapping[str, Any]) -> dict:
        return gemini_response.chat_response(call, payload)

    def parse_embeddings(self, call: Call, payload: Mapping[str, Any],
                         headers: Mapping[str, str]) -> dict:
        return gemini_response.embeddings_response(call, payload,
                                                   embedding_inputs(call))

    def stream_chat(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        return gemini_response.StreamTranslator(call).run(raw)

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        return google_errors.http_error(status, headers, content)


ADAPTER = GeminiAdapter()
