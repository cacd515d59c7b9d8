"""The base of every adapter whose provider speaks a format of its own.

Such an adapter serves legacy completions through chat (:mod:`completions`),
reads a 2xx answer as one JSON object, and builds JSON requests with the
provider's key header and the deployment's extra headers. A key may come from
the provider's usual environment variable only where the deployment may use
the gateway's environment, that is never when a client chose the base or the
credentials. Subclasses write the chat (and, where the provider has them, the
embeddings) translation and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from requests.structures import CaseInsensitiveDict

from app import errors
from app.providers import completions
from app.providers.base import Adapter, Call, HttpRequest, loads_or_none


def environment_value(call: Call, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` set in the environment, where the call may read it."""
    if not call.use_environment_credentials:
        return None
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def required_key(call: Call, names: tuple[str, ...]) -> str:
    """The deployment's key, else the environment's; a 400 when there is none."""
    key = call.api_key or environment_value(call, names)
    if not key:
        raise errors.InvalidRequest(
            f"The deployment has no credentials for provider '{call.provider}': "
            "it needs an api_key.", param="model")
    return key


def json_headers(call: Call, auth: Mapping[str, str] | None = None
                 ) -> MutableMapping[str, str]:
    """JSON content type, the auth headers, then the deployment's extra headers.

    Names match whatever their case, so an extra header replaces ours rather
    than going out beside it.
    """
    headers: MutableMapping[str, str] = CaseInsensitiveDict(
        {"content-type": "application/json"})
    headers.update(auth or {})
    headers.update(call.credentials.get("extra_headers") or {})
    return headers


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def json_answer(call: Call, status: int, content: bytes) -> dict[str, Any]:
    """A 2xx body as a JSON object; anything else is the upstream's fault."""
    payload = loads_or_none(content)
    if not isinstance(payload, dict):
        raise errors.BadGateway(
            f"The {call.provider} upstream answered with malformed JSON.",
            upstream_status=status)
    return payload


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A response header by name, whatever the case of the mapping's keys."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((found for key, found in headers.items() if key.lower() == lowered),
                None)


class TranslatingAdapter(Adapter):
    """Chat, legacy completions through chat, and embeddings where there are any."""

    def build(self, call: Call) -> HttpRequest:
        if call.endpoint == "embeddings":
            return self.build_embeddings(call)
        return self.build_chat(completions.as_chat(call))

    def parse(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> dict:
        payload = json_answer(call, status, content)
        self.check_answer(call, payload)
        if call.endpoint == "embeddings":
            return self.parse_embeddings(call, payload, headers)
        return completions.text_response(call, self.parse_chat(call, payload))

    def stream(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        return completions.text_chunks(call, self.stream_chat(call, raw))

    def build_chat(self, call: Call) -> HttpRequest:
        raise NotImplementedError

    def parse_chat(self, call: Call, payload: Mapping[str, Any]) -> dict:
        raise NotImplementedError

    def stream_chat(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        raise NotImplementedError

    def build_embeddings(self, call: Call) -> HttpRequest:
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' has no embeddings endpoint; route "
            "/v1/embeddings to another provider.", param="model")

    def parse_embeddings(self, call: Call, payload: Mapping[str, Any],
                         headers: Mapping[str, str]) -> dict:
        raise NotImplementedError

    def check_answer(self, call: Call, payload: Mapping[str, Any]) -> None:
        """Raise the error a provider reports inside a 2xx answer, if any."""
