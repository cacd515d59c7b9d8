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

import os
from collections.abc import Iterator, Mapping

from app import errors
from app.providers import anthropic_messages, anthropic_response, completions
from app.providers.base import Adapter, Call, HttpRequest, dumps, loads_or_none

DEFAULT_BASE = "https://api.anthropic.com"
MESSAGES_PATH = "/v1/messages"
DEFAULT_VERSION = "2023-06-01"
ENV_KEY = "ANTHROPIC_API_KEY"


def messages_url(api_base: str | None) -> str:
    base = (api_base or DEFAULT_BASE).rstrip("/")
    return base if base.endswith(MESSAGES_PATH) else base + MESSAGES_PATH


def api_key(call: Call) -> str:
    """The deployment's key, or the environment's when the deployment may use it."""
    key = call.api_key
    if not key and call.use_environment_credentials:
        key = os.environ.get(ENV_KEY)
    if not key:
        raise errors.InvalidRequest(
            "The deployment has no credentials for provider 'anthropic': it "
            "needs an api_key.")
    return key


def request_headers(call: Call) -> dict[str, str]:
    version = call.credentials.get("anthropic_version") or DEFAULT_VERSION
    out = {"content-type": "application/json", "x-api-key": api_key(call),
           "anthropic-version": str(version)}
    if call.stream:
        out["accept"] = "text/event-stream"
    out.update(call.credentials.get("extra_headers") or {})
    return out


def answer_payload(status: int, content: bytes) -> dict:
    """The JSON object of a 2xx answer; anything else is a bad gateway."""
    payload = loads_or_none(content)
    if not isinstance(payload, dict):
        raise errors.BadGateway("The upstream answered with malformed JSON.",
                                upstream_status=status)
    return payload


class AnthropicAdapter(Adapter):
    name = "anthropic"

    def build(self, call: Call) -> HttpRequest:
        if call.endpoint == "embeddings":
            raise errors.InvalidRequest(
                "Anthropic has no embeddings endpoint; route /v1/embeddings to "
                "another provider.", param="model")
        body = anthropic_messages.request_body(completions.as_chat(call))
        return HttpRequest("POST", messages_url(call.api_base), request_headers(call),
                           dumps(body))

    def parse(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> dict:
        payload = answer_payload(status, content)
        if payload.get("type") == "error":
            raise anthropic_response.in_band_error(payload)
        answer = anthropic_response.chat_response(call, payload)
        return completions.text_response(call, answer)

    def stream(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        chunks = anthropic_response.StreamTranslator(call).run(raw)
        return completions.text_chunks(call, chunks)

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        return anthropic_response.http_error(status, headers, content)


ADAPTER = AnthropicAdapter()
