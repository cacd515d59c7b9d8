"""Anthropic's Messages API, spoken to OpenAI clients.

Serves chat and the legacy completions endpoint (its prompt as one user
message). Embeddings are refused with a 400: Anthropic has none. The key goes
in ``x-api-key`` with the ``anthropic-version`` header (the deployment's
``anthropic_version`` or 2023-06-01); ``api_base`` is the host root, to which
``/v1/messages`` is appended unless the base already ends with it. The request
and answer translations live in :mod:`anthropic_messages` and
:mod:`anthropic_response`, shared with Claude on Vertex AI.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from app import errors
from app.providers import anthropic_messages, anthropic_response
from app.providers.base import Call, HttpRequest, dumps
from app.providers.translating import TranslatingAdapter, json_headers, required_key

DEFAULT_BASE = "https://api.anthropic.com"
MESSAGES_PATH = "/v1/messages"
DEFAULT_VERSION = "2023-06-01"
ENV_KEYS = ("ANTHROPIC_API_KEY",)


def messages_url(api_base: str | None) -> str:
    base = (api_base or DEFAULT_BASE).rstrip("/")
    return base if base.endswith(MESSAGES_PATH) else base + MESSAGES_PATH


def request_headers(call: Call) -> MutableMapping[str, str]:
    """The key, the API version and the deployment's extra headers.

    A config's ``anthropic_version`` reaches the adapter among the body's
    provider params (the request body itself never carries it).
    """
    version = call.credentials.get("anthropic_version") or \
        call.body.get("anthropic_version") or DEFAULT_VERSION
    auth = {"x-api-key": required_key(call, ENV_KEYS),
            "anthropic-version": str(version)}
    if call.stream:
        auth["accept"] = "text/event-stream"
    return json_headers(call, auth)


class AnthropicAdapter(TranslatingAdapter):
    name = "anthropic"

    def build_chat(self, call: Call) -> HttpRequest:
        body = anthropic_messages.request_body(call)
        return HttpRequest("POST", messages_url(call.api_base), request_headers(call),
                           dumps(body))

    def check_answer(self, call: Call, payload: Mapping[str, Any]) -> None:
        anthropic_response.check_answer(payload)

    def parse_chat(self, call: Call, payload: Mapping[str, Any]) -> dict:
        return anthropic_response.chat_response(call, payload)

    def stream_chat(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        return anthropic_response.StreamTranslator(call).run(raw)

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        return anthropic_response.http_error(status, headers, content)


ADAPTER = AnthropicAdapter()
