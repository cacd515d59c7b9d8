"""What a client asked, read from an OpenAI body for an upstream that speaks another.

The translating adapters (Bedrock, Cohere, Ollama) decide the same way which
OpenAI params they must honour: a param left at OpenAI's default, or one that
only labels the request, is never refused; any other param an adapter does not
map is a 400 ``UnsupportedParam`` unless the deployment drops unsupported
params. They also read messages, the legacy prompt, images, tool-call arguments
and embedding input the same way, so that is done here once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson

from app import errors
from app.providers.base import OPENAI_PARAMS, Call

logger = logging.getLogger(__name__)

# Params that ask nothing of the model's answer: accepted and not forwarded.
INERT_PARAMS = frozenset({
    "model", "stream", "stream_options", "user", "safety_identifier",
    "prompt_cache_key", "store",
})

# A param sent with OpenAI's own default asks for nothing a provider must do.
OPENAI_DEFAULTS: dict[str, Any] = {
    "n": 1, "best_of": 1, "logprobs": False, "echo": False,
    "presence_penalty": 0, "frequency_penalty": 0, "parallel_tool_calls": True,
    "logit_bias": {}, "modalities": ["text"], "response_format": {"type": "text"},
}

_MISSING = object()


def refuse(call: Call, name: str, detail: str = "") -> None:
    """Answer 400 for a param the provider cannot honour, unless it may be dropped."""
    if call.drop_params:
        logger.debug("dropping %s for provider %s", name, call.provider)
        return
    message = f"Provider '{call.provider}' does not support the parameter '{name}'"
    raise errors.UnsupportedParam(
        f"{message}{': ' + detail if detail else '.'}"
        " Set drop_params to drop it instead.",
        param=name,
    )


def requested(call: Call, handled: frozenset[str]) -> dict[str, Any]:
    """The body's OpenAI params that the adapter maps, after refusing the rest.

    ``handled`` names the params the adapter translates; any other OpenAI param
    set to something other than OpenAI's default is refused (or dropped).
    """
    known = OPENAI_PARAMS[call.endpoint]
    params: dict[str, Any] = {}
    for name, value in call.body.items():
        if name not in known or value is None or name in INERT_PARAMS:
            continue
        if name in handled:
            params[name] = value
        elif OPENAI_DEFAULTS.get(name, _MISSING) != value:
            refuse(call, name)
    return params


def passthrough(call: Call) -> dict[str, Any]:
    """The provider-specific params of the body: every key OpenAI does not define."""
    known = OPENAI_PARAMS[call.endpoint]
    return {name: value for name, value in call.body.items() if name not in known}


def max_tokens(params: Mapping[str, Any]) -> int | None:
    """The output limit, preferring the newer ``max_completion_tokens``."""
    value = params.get("max_completion_tokens", params.get("max_tokens"))
    return value if isinstance(value, int) else None


def stop_list(params: Mapping[str, Any]) -> list[str] | None:
    stop = params.get("stop")
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def chat_messages(call: Call) -> list[Mapping[str, Any]]:
    """The conversation: the chat messages, or the legacy prompt as one user turn."""
    if call.endpoint == "chat":
        messages = call.body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise errors.InvalidRequest("'messages' must be a non-empty list.",
                                        param="messages")
        return messages
    prompt = call.body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' takes one text prompt per request.",
            param="prompt",
        )
    return [{"role": "user", "content": prompt}]


def content_text(content: Any) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = [part.get("text", "") for part in content
             if isinstance(part, Mapping) and part.get("type") == "text"]
    return "".join(texts)


def data_url(url: str) -> tuple[str, str] | None:
    """Split ``data:<mime>;base64,<data>`` into its MIME type and base64 data."""
    if not url.startswith("data:"):
        return None
    header, comma, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if not comma or encoding != "base64":
        return None
    return mime.lower(), data


def image_data(call: Call, part: Mapping[str, Any]) -> tuple[str, str]:
    """The MIME type and base64 data of an inline image part.

    Adapters do no I/O of their own, so an image given by http(s) URL is refused
    rather than downloaded.
    """
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    parsed = data_url(url) if isinstance(url, str) else None
    if parsed is None:
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' takes images only inline as base64 data "
            "URLs (data:image/png;base64,...).",
            param="messages",
        )
    return parsed


def tool_arguments(tool_call: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of an OpenAI tool call, decoded from their JSON string."""
    function = tool_call.get("function") or {}
    raw = function.get("arguments") or "{}"
    try:
        value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise errors.InvalidRequest(
            "A tool call's 'arguments' must be a JSON object.", param="messages")
    return value


def embedding_inputs(call: Call) -> list[str]:
    """The texts to embed; token-id inputs are OpenAI's alone."""
    value = call.body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts \
            or not all(isinstance(text, str) for text in texts):
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' embeds text: 'input' must be a string "
            "or a non-empty list of strings.",
            param="input",
        )
    return texts
