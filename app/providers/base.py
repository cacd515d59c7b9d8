"""The contract between the dispatcher and the provider adapters.

An adapter is pure translation: it turns one :class:`Call` into one
:class:`HttpRequest`, and the provider's answer (a body, a stream of raw bytes,
or an error) back into OpenAI's shapes. It never sends anything itself; the
dispatcher does the I/O and hands it the bytes.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from app import errors

ENDPOINTS = ("chat", "completions", "embeddings")

# OpenAI's own request params per endpoint. A body key outside these (and
# outside the gateway's control keys, which never reach an adapter) is a
# provider-specific param that the adapter passes to the provider.
OPENAI_PARAMS: dict[str, frozenset[str]] = {
    "chat": frozenset({
        "messages", "model", "temperature", "top_p", "n", "stream",
        "stream_options", "stop", "max_tokens", "max_completion_tokens",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs",
        "top_logprobs", "seed", "user", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "reasoning_effort",
        "service_tier", "store", "modalities", "audio", "prediction",
        "web_search_options", "verbosity", "functions", "function_call",
        "safety_identifier", "prompt_cache_key",
    }),
    "completions": frozenset({
        "model", "prompt", "max_tokens", "temperature", "top_p", "n", "stream",
        "stream_options", "stop", "suffix", "echo", "logprobs", "best_of",
        "presence_penalty", "frequency_penalty", "logit_bias", "seed", "user",
    }),
    "embeddings": frozenset({
        "model", "input", "dimensions", "encoding_format", "user",
    }),
}


@dataclass(frozen=True)
class Call:
    """Everything one attempt needs to build its HTTP exchange.

    ``body`` holds the OpenAI params and the provider pass-through params of
    the request, never the gateway's control keys; its ``model`` key is not
    set (``model`` below is the upstream name). ``credentials`` holds the
    remaining auth and routing params by canonical name (``organization``,
    ``extra_headers``, ``vertex_project``, ``vertex_location``,
    ``vertex_credentials``, ``aws_*``, ``azure_ad_token``);
    ``client_credentials`` names those a client supplied (all of them for a
    ``user_config`` deployment), which an adapter trusts less than the
    operator's: a client's credential may not name a file or its own token
    endpoint.
    """

    endpoint: str
    provider: str
    model: str
    body: Mapping[str, Any]
    stream: bool = False
    api_base: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    credentials: Mapping[str, Any] = field(default_factory=dict)
    client_credentials: frozenset[str] = frozenset()
    use_environment_credentials: bool = True
    drop_params: bool = False
    requested_model: str = ""
    mock_response: str | None = None

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options") or {}
        return bool(isinstance(options, Mapping) and options.get("include_usage"))


@dataclass
class HttpRequest:
    """One HTTP request, ready for the dispatcher to send."""

    method: str
    url: str
    headers: MutableMapping[str, str]
    body: bytes | None = None


class Adapter:
    """Base of all provider adapters; subclasses override what differs."""

    name = "base"

    def build(self, call: Call) -> HttpRequest:
        raise NotImplementedError

    def parse(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> dict:
        """Turn a 2xx body into the OpenAI response for ``call.endpoint``."""
        raise NotImplementedError

    def stream(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        """Turn a 2xx stream of raw bytes into OpenAI chunk dicts.

        An in-band error event raises the matching :class:`GatewayError`.
        """
        raise NotImplementedError

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        """Turn a non-2xx answer into the matching gateway error."""
        return generic_error(status, headers, content)

    def offline(self, call: Call) -> bool:
        """True when the adapter answers by itself, with no HTTP exchange."""
        return False

    def answer(self, call: Call) -> dict:
        """The whole answer of an offline adapter."""
        raise NotImplementedError

    def answer_stream(self, call: Call) -> Iterator[dict]:
        """The streamed answer of an offline adapter, as OpenAI chunk dicts."""
        raise NotImplementedError


def path_segment(name: str) -> str:
    """``name`` as exactly one URL path segment.

    Everything but unreserved characters is percent-encoded, and a name made
    only of dots (``.``, ``..``) has its dots encoded too: unencoded, HTTP
    stacks resolve them as "this" and "parent" segments and the path would
    shift under the operator's key.
    """
    encoded = quote(name, safe="")
    if encoded.strip(".") == "":
        encoded = encoded.replace(".", "%2E")
    return encoded


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except (orjson.JSONDecodeError, TypeError):
        return None


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def error_message(payload: Any, status: int) -> str:
    """The human message of an upstream error body, whatever its usual shape."""
    if isinstance(payload, Mapping):
        inner = payload.get("error", payload)
        if isinstance(inner, Mapping):
            message = inner.get("message") or inner.get("Message")
            if isinstance(message, str) and message:
                return message
        if isinstance(inner, str) and inner:
            return inner
        message = payload.get("message")
        if isinstance(message, str) and message:
            return message
    return f"The upstream provider answered with HTTP {status}."


# A provider's known error texts: (lower-case fragments, the class they mean).
TextTable = Sequence[tuple[tuple[str, ...], type[errors.GatewayError]]]


def class_by_text(message: str, table: TextTable) -> type[errors.GatewayError] | None:
    """The class of the first row whose fragment the message contains, or None.

    Only a provider's own error mapper calls this, with its own table: it is
    how the two router signals (context window, content policy) are told apart
    where the provider gives them no code of their own.
    """
    text = message.lower()
    return next((cls for fragments, cls in table
                 if any(fragment in text for fragment in fragments)), None)


def generic_error(status: int, headers: Mapping[str, str],
                  content: bytes) -> errors.GatewayError:
    """Map an upstream error by its status alone, keeping its message and param."""
    payload = loads_or_none(content)
    cls = errors.class_for_upstream_status(status)
    return build_error(cls, payload, status, headers)


def build_error(cls: type[errors.GatewayError], payload: Any, status: int,
                headers: Mapping[str, str]) -> errors.GatewayError:
    """Build ``cls`` from an upstream body, passing on the retry hints."""
    inner = payload.get("error") if isinstance(payload, Mapping) else None
    param = inner.get("param") if isinstance(inner, Mapping) else None
    code = inner.get("code") if isinstance(inner, Mapping) else None
    return cls(
        error_message(payload, status),
        param=param if isinstance(param, str) else None,
        code=code if isinstance(code, str) and cls.code is None else None,
        headers=errors.retry_headers(headers),
        upstream_status=status,
    )
