"""Ollama's native API: ``/api/chat`` for chat and legacy completions, ``/api/embed``.

A deployment's ``api_base`` is the host root (``http://localhost:11434`` by
default). Sampling params go into ``options`` (``max_tokens`` as ``num_predict``)
with every client key OpenAI does not define (``top_k``, ``num_ctx``,
``repeat_penalty``, ...), except ``keep_alive``, ``format``, ``think`` and
``truncate``, which Ollama reads at the top level. ``response_format`` becomes
``format`` and ``reasoning_effort`` becomes ``think``. ``tool_choice: "none"``
is honoured by sending no tools; a required or named tool choice, ``n``, log
probabilities and ``logit_bias`` are refused unless dropped. Images must be
inline data URLs: they travel as base64 in the message's ``images``. Ollama
needs no key; one set on the deployment (or ``OLLAMA_API_KEY``, where the
deployment may use the environment) is sent as a bearer token.

Legacy completions go through ``/api/chat`` as one user message, so the model's
chat template applies; ``suffix`` (which only ``/api/generate`` knows) is
refused unless dropped. Ollama gives tool calls no ids: the gateway makes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from app import errors
from app.providers.base import (
    Call,
    HttpRequest,
    build_error,
    dumps,
    error_message,
    loads_or_none,
)
from app.providers.media import inline_image
from app.providers.ollama_stream import (
    OllamaStream,
    error_class,
    finish_reason,
    openai_tool_calls,
    tokens,
)
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
    tool_arguments,
    tool_choice,
)
from app.providers.openai_shapes import assistant_message, completion, embeddings
from app.providers.translating import (
    TranslatingAdapter,
    bearer,
    environment_value,
    json_headers,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE = "http://localhost:11434"
KEY_VARIABLE = "OLLAMA_API_KEY"

HANDLED = frozenset({
    "messages", "max_tokens", "max_completion_tokens", "temperature",
    "top_p", "stop", "seed", "frequency_penalty", "presence_penalty", "tools",
    "tool_choice", "response_format", "reasoning_effort",
})
EMBED_HANDLED = frozenset({"input", "dimensions", "encoding_format"})
TOP_LEVEL = frozenset({"keep_alive", "format", "think", "truncate"})
THINK_LEVELS = frozenset({"low", "medium", "high"})


def base_url(call: Call) -> str:
    return (call.api_base or DEFAULT_BASE).rstrip("/")


def chat_body(call: Call) -> dict[str, Any]:
    params = requested(call, HANDLED)
    body: dict[str, Any] = {"model": call.model, "messages": messages(call),
                            "stream": call.stream}
    options = {
        "temperature": params.get("temperature"), "top_p": params.get("top_p"),
        "num_predict": max_tokens(params), "stop": stop_list(params) or None,
        "seed": params.get("seed"),
        "presence_penalty": params.get("presence_penalty"),
        "frequency_penalty": params.get("frequency_penalty"),
    }
    fields = {
        "options": {name: value for name, value in options.items()
                    if value is not None},
        "tools": tools(call),
        "format": output_format(call, params.get("response_format")),
        "think": think(call, params.get("reasoning_effort")),
    }
    body.update({name: value for name, value in fields.items() if value})
    add_passthrough(body, passthrough(call))
    return body


def messages(call: Call) -> list[dict[str, Any]]:
    """Ollama's messages; a tool result names its tool, which OpenAI leaves to
    the id of an earlier call."""
    names: dict[str, str] = {}
    return [message(call, item, names) for item in chat_messages(call)]


def message(call: Call, item: Mapping[str, Any], names: dict[str, str]) -> dict:
    role = item.get("role")
    content = item.get("content")
    if role in ("system", "developer"):
        return {"role": "system", "content": content_text(content)}
    if role == "user":
        return user_message(call, content)
    if role == "assistant":
        return assistant(item, names)
    if role == "tool":
        result = {"role": "tool", "content": content_text(content)}
        name = names.get(str(item.get("tool_call_id")))
        return {**result, "tool_name": name} if name else result
    raise errors.InvalidRequest(
        f"Ollama does not take messages with role '{role}'.", param="messages")


def user_message(call: Call, content: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"role": "user", "content": content_text(content)}
    images = []
    for part in content if isinstance(content, list) else ():
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "image_url":
            images.append(inline_image(call, part).data)
        elif kind != "text":
            raise errors.InvalidRequest(
                f"Ollama does not take '{kind}' content parts.", param="messages")
    if images:
        result["images"] = images
    return result


def assistant(item: Mapping[str, Any], names: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {"role": "assistant",
                              "content": content_text(item.get("content"))}
    calls = []
    for each in item.get("tool_calls") or ():
        name = (each.get("function") or {}).get("name", "")
        names[str(each.get("id"))] = name
        arguments = tool_arguments((each.get("function") or {}).get("arguments"))
        calls.append({"function": {"name": name, "arguments": arguments}})
    if calls:
        result["tool_calls"] = calls
    return result


def tools(call: Call) -> list[Mapping[str, Any]] | None:
    """Function tools; with ``tool_choice: "none"`` none are sent at all."""
    choice = tool_choice(call)
    if choice is not None and choice.mode == "none":
        return None
    if choice is not None and choice.mode != "auto":
        refuse(call, "tool_choice", "Ollama always lets the model decide.")
    return function_tools(call) or None


def output_format(call: Call, value: Any) -> Any:
    kind = (value or {}).get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        return (value.get("json_schema") or {}).get("schema") or "json"
    refuse(call, "response_format", f"unknown type '{kind}'.")
    return None


def think(call: Call, effort: Any) -> str | None:
    if effort is None or effort in THINK_LEVELS:
        return effort
    refuse(call, "reasoning_effort", "Ollama thinks at low, medium or high.")
    return None


def add_passthrough(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Ollama's own top-level fields stay there; every other key is a model option."""
    options = dict(body.get("options") or {})
    for name, value in extra.items():
        if name in TOP_LEVEL:
            body[name] = value
        elif name == "options" and isinstance(value, Mapping):
            options.update(value)
        else:
            options[name] = value
    if options:
        body["options"] = options


def embed_body(call: Call) -> dict[str, Any]:
    params = requested(call, EMBED_HANDLED)
    body: dict[str, Any] = {"model": call.model, "input": embedding_inputs(call)}
    if "dimensions" in params:
        body["dimensions"] = params["dimensions"]
    add_passthrough(body, passthrough(call))
    return body


class OllamaAdapter(TranslatingAdapter):
    name = "ollama"

    def request(self, call: Call, path: str, body: dict[str, Any]) -> HttpRequest:
        """Ollama needs no key: one set (or in the environment) goes as a bearer."""
        key = call.api_key or environment_value(call, (KEY_VARIABLE,))
        return HttpRequest("POST", base_url(call) + path,
                           json_headers(call, bearer(key)), dumps(body))

    def build_chat(self, call: Call) -> HttpRequest:
        return self.request(call, "/api/chat", chat_body(call))

    def build_embeddings(self, call: Call) -> HttpRequest:
        return self.request(call, "/api/embed", embed_body(call))

    def check_answer(self, call: Call, payload: Mapping[str, Any]) -> None:
        if "error" in payload:
            raise ollama_error(500, payload, {})

    def parse_chat(self, call: Call, payload: Mapping[str, Any]) -> dict:
        found = payload.get("message") or {}
        calls = openai_tool_calls(found.get("tool_calls"))
        text = found.get("content") or ("" if not calls else None)
        message = assistant_message(text, calls, found.get("thinking") or None)
        finish = finish_reason(payload.get("done_reason"), bool(calls))
        return completion(call, message, finish, tokens(payload))

    def parse_embeddings(self, call: Call, payload: Mapping[str, Any],
                         headers: Mapping[str, str]) -> dict:
        vectors = payload.get("embeddings")
        if not isinstance(vectors, list):
            raise errors.BadGateway("Ollama answered with no embeddings.")
        return embeddings(call, vectors, int(payload.get("prompt_eval_count") or 0))

    def stream_chat(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        return OllamaStream(call).relay(raw)

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        return ollama_error(status, loads_or_none(content), headers)


def ollama_error(status: int, payload: Any, headers: Mapping[str, str]
                 ) -> errors.GatewayError:
    """Ollama's errors carry a status and a message; only the message tells a
    full context window from other bad requests."""
    cls = errors.class_for_upstream_status(status)
    if cls is errors.InvalidRequest:
        cls = error_class(error_message(payload, status), cls)
    return build_error(cls, payload, status, headers)


ADAPTER = OllamaAdapter()
