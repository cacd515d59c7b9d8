"""Cohere: Chat v2 for chat and legacy completions, Embed v2 for embeddings.

A deployment's ``api_base`` is the full chat URL (``https://api.cohere.com/v2/chat``
by default); embeddings go to its sibling ``/embed``. The body is close to
OpenAI's: ``top_p`` becomes ``p``, ``stop`` becomes ``stop_sequences``, a strict
tool asks for ``strict_tools``, and ``tool_choice`` maps to ``REQUIRED`` or
``NONE`` only (Cohere cannot be told to call one named tool). ``n``, log
probabilities, ``logit_bias`` and ``reasoning_effort`` are refused unless
dropped; other client keys (``k``, ``documents``, ``safety_mode``, ...) are
sent at the top level. A generation that ends in ``ERROR`` or ``TIMEOUT`` is
raised as an upstream failure rather than passed off as a normal stop.

The answer's text, tool calls and usage (``usage.tokens``) are translated; a
reasoning model's thinking, or else the tool plan, becomes ``reasoning_content``.
Citations have no OpenAI field and are not passed on. Embeddings ask for float
vectors with ``input_type`` ``search_document`` unless the client sends its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from app import errors
from app.providers.base import (
    Call,
    HttpRequest,
    TextTable,
    build_error,
    class_by_text,
    dumps,
    error_message,
    loads_or_none,
)
from app.providers.cohere_stream import CohereStream, finish_reason, tokens
from app.providers.openai_request import (
    chat_messages,
    content_text,
    embedding_inputs,
    function_tools,
    max_tokens,
    passthrough,
    refuse,
    requested,
    stop_list,
    tool_choice,
)
from app.providers.openai_shapes import (
    assistant_message,
    completion,
    embeddings,
    tool_call,
)
from app.providers.translating import (
    TranslatingAdapter,
    bearer,
    json_headers,
    required_key,
)

logger = logging.getLogger(__name__)

DEFAULT_CHAT_URL = "https://api.cohere.com/v2/chat"
KEY_VARIABLES = ("COHERE_API_KEY", "CO_API_KEY")

HANDLED = frozenset({
    "messages", "max_tokens", "max_completion_tokens", "temperature",
    "top_p", "stop", "seed", "frequency_penalty", "presence_penalty", "tools",
    "tool_choice", "response_format",
})
EMBED_HANDLED = frozenset({"input", "dimensions", "encoding_format"})

# Status codes Cohere gives a meaning of its own. 402 is a billing block: like
# OpenAI's insufficient_quota it is a 429, so the router cools the deployment
# down and falls back, where a 403 would leave it in rotation.
_BY_STATUS: dict[int, type[errors.GatewayError]] = {
    402: errors.RateLimited,
    498: errors.AuthenticationError,
    499: errors.BadGateway,
}
# Read only for a 400: Cohere gives these no code of their own.
_BAD_REQUEST_TEXT: TextTable = (
    (("invalid api token", "no api key provided"), errors.AuthenticationError),
    (("too many tokens",), errors.ContextWindowExceeded),
)


def chat_url(call: Call) -> str:
    return call.api_base or DEFAULT_CHAT_URL


def embed_url(call: Call) -> str:
    base = chat_url(call).rstrip("/")
    return base[: -len("/chat")] + "/embed" if base.endswith("/chat") \
        else base + "/embed"


def chat_body(call: Call) -> dict[str, Any]:
    params = requested(call, HANDLED)
    body: dict[str, Any] = {"model": call.model, "messages": messages(call)}
    options = {
        "temperature": params.get("temperature"), "p": params.get("top_p"),
        "max_tokens": max_tokens(params), "stop_sequences": stop_list(params) or None,
        "seed": params.get("seed"),
        "frequency_penalty": params.get("frequency_penalty"),
        "presence_penalty": params.get("presence_penalty"),
        "tool_choice": choice_value(call),
        "response_format": response_format(call, params.get("response_format")),
    }
    body.update({name: value for name, value in options.items() if value is not None})
    add_tools(call, body)
    if call.stream:
        body["stream"] = True
    body.update(passthrough(call))
    return body


def messages(call: Call) -> list[dict[str, Any]]:
    return [message(call, item) for item in chat_messages(call)]


def message(call: Call, item: Mapping[str, Any]) -> dict[str, Any]:
    role = item.get("role")
    if role in ("system", "developer"):
        return {"role": "system", "content": content_text(item.get("content"))}
    if role == "user":
        return {"role": "user", "content": user_content(call, item.get("content"))}
    if role == "assistant":
        return assistant(item)
    if role == "tool":
        return {"role": "tool", "tool_call_id": item.get("tool_call_id"),
                "content": content_text(item.get("content"))}
    raise errors.InvalidRequest(
        f"Cohere does not take messages with role '{role}'.", param="messages")


def user_content(call: Call, content: Any) -> Any:
    """Text stays a string; parts keep OpenAI's shape, which Cohere shares."""
    if isinstance(content, str) or content is None:
        return content or ""
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            parts.append({"type": "image_url", "image_url": part.get("image_url")})
        else:
            raise errors.InvalidRequest(
                f"Cohere does not take '{kind}' content parts.", param="messages")
    return parts


def assistant(item: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"role": "assistant"}
    text = content_text(item.get("content"))
    if text:
        result["content"] = text
    calls = tool_calls(item.get("tool_calls"))
    if calls:
        result["tool_calls"] = calls
    return result


def tool_calls(items: Any) -> list[dict[str, Any]]:
    """Tool calls in OpenAI's shape, which Cohere shares (arguments as JSON text)."""
    calls = []
    for item in items or ():
        function = item.get("function") or {}
        calls.append(tool_call(item.get("id", ""), function.get("name", ""),
                               function.get("arguments") or "{}"))
    return calls


def add_tools(call: Call, body: dict[str, Any]) -> None:
    """Function tools as OpenAI shapes them; a strict one turns on strict_tools."""
    kept = []
    for tool in function_tools(call):
        function = {k: v for k, v in tool["function"].items() if k != "strict"}
        kept.append({"type": "function", "function": function})
        if tool["function"].get("strict"):
            body["strict_tools"] = True
    if kept:
        body["tools"] = kept


def choice_value(call: Call) -> str | None:
    choice = tool_choice(call)
    if choice is None or choice.mode == "auto":
        return None
    if choice.name is None:
        return choice.mode.upper()
    refuse(call, "tool_choice", "Cohere cannot be made to call one named tool.")
    return None


def response_format(call: Call, value: Any) -> dict[str, Any] | None:
    kind = (value or {}).get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema") or {}
        return {"type": "json_object", "json_schema": schema}
    refuse(call, "response_format", f"unknown type '{kind}'.")
    return None


def embed_body(call: Call) -> dict[str, Any]:
    params = requested(call, EMBED_HANDLED)
    body: dict[str, Any] = {
        "model": call.model, "texts": embedding_inputs(call),
        "input_type": "search_document", "embedding_types": ["float"],
    }
    if "dimensions" in params:
        body["output_dimension"] = params["dimensions"]
    body.update(passthrough(call))
    return body


class CohereAdapter(TranslatingAdapter):
    name = "cohere"

    def build_chat(self, call: Call) -> HttpRequest:
        headers = json_headers(call, bearer(required_key(call, KEY_VARIABLES)))
        return HttpRequest("POST", chat_url(call), headers, dumps(chat_body(call)))

    def build_embeddings(self, call: Call) -> HttpRequest:
        headers = json_headers(call, bearer(required_key(call, KEY_VARIABLES)))
        return HttpRequest("POST", embed_url(call), headers, dumps(embed_body(call)))

    def parse_chat(self, call: Call, payload: Mapping[str, Any]) -> dict:
        found = payload.get("message") or {}
        texts, thinking = [], []
        for item in found.get("content") or ():
            if item.get("type") == "text":
                texts.append(item.get("text") or "")
            elif item.get("type") == "thinking":
                thinking.append(item.get("thinking") or "")
        calls = tool_calls(found.get("tool_calls"))
        text = "".join(texts) if texts or not calls else None
        reasoning = "".join(thinking) or found.get("tool_plan")
        finish = finish_reason(payload.get("finish_reason"), "")
        return completion(call, assistant_message(text, calls, reasoning), finish,
                          tokens(payload.get("usage")))

    def parse_embeddings(self, call: Call, payload: Mapping[str, Any],
                         headers: Mapping[str, str]) -> dict:
        found = payload.get("embeddings")
        vectors = found.get("float") if isinstance(found, Mapping) else found
        if not isinstance(vectors, list):
            raise errors.BadGateway("Cohere answered with no float embeddings.")
        meta = payload.get("meta") or {}
        counted = meta.get("tokens") or meta.get("billed_units") or {}
        return embeddings(call, vectors, int(counted.get("input_tokens") or 0))

    def stream_chat(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        return CohereStream(call).relay(raw)

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        payload = loads_or_none(content)
        cls = _BY_STATUS.get(status) or errors.class_for_upstream_status(status)
        if cls is errors.InvalidRequest:
            message = error_message(payload, status)
            cls = class_by_text(message, _BAD_REQUEST_TEXT) or cls
        error = build_error(cls, payload, status, headers)
        if status == 402:
            error.code = "insufficient_quota"
        return error


ADAPTER = CohereAdapter()
