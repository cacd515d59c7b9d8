"""What a client asked, read from an OpenAI body for an upstream that speaks another.

Every translating adapter decides the same way which OpenAI params it must
honour: a param left at OpenAI's default, or one that only labels the request,
is never refused; any other param the adapter does not map is a 400
``UnsupportedParam`` naming it, unless the deployment (or the request, or
``litellm_settings``) sets ``drop_params``: then it is dropped and logged. The
adapters also read messages, tool definitions and choices, tool-call arguments
and embedding input alike, so that is done here once. Legacy completions reach
the adapters already turned into chat (:mod:`completions`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app import errors
from app.providers.base import OPENAI_PARAMS, Call

logger = logging.getLogger(__name__)

# Params that ask nothing of the model's answer: accepted and not forwarded.
# ``user`` helps only OpenAI's abuse tracking where a provider has no field.
INERT_PARAMS = frozenset({
    "model", "stream", "stream_options", "user", "safety_identifier",
    "prompt_cache_key",
})

# A param sent with OpenAI's own default asks for nothing a provider must do.
OPENAI_DEFAULTS: dict[str, Any] = {
    "n": 1, "best_of": 1, "logprobs": False, "echo": False, "suffix": "",
    "presence_penalty": 0, "frequency_penalty": 0, "parallel_tool_calls": True,
    "logit_bias": {}, "modalities": ["text"], "response_format": {"type": "text"},
    "store": False,
}

TOOL_MODES = frozenset({"auto", "required", "none"})

_MISSING = object()


@dataclass(frozen=True)
class ToolChoice:
    """``tool_choice`` read: a mode, or ``function`` with the tool's name."""

    mode: str
    name: str | None = None


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


def asked(body: Mapping[str, Any], name: str) -> bool:
    """True when the body sets ``name`` to something beyond OpenAI's default."""
    value = body.get(name)
    return value is not None and OPENAI_DEFAULTS.get(name, _MISSING) != value


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
        elif asked(call.body, name):
            refuse(call, name)
    return params


def passthrough(call: Call) -> dict[str, Any]:
    """The provider-specific params of the body: every key OpenAI does not define."""
    known = OPENAI_PARAMS[call.endpoint]
    return {name: value for name, value in call.body.items() if name not in known}


def max_tokens(params: Mapping[str, Any]) -> int | None:
    """The client's output limit, preferring the newer name when both are set."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise errors.InvalidRequest(f"'{name}' must be a positive integer.",
                                        param=name)
        return value
    return None


def stop_list(params: Mapping[str, Any]) -> list[str]:
    """``stop`` as a list, whichever of its two OpenAI forms the client used."""
    stop = params.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise errors.InvalidRequest("'stop' must be a string or a list of strings.",
                                param="stop")


def chat_messages(call: Call) -> list[Mapping[str, Any]]:
    """The chat's messages, each a JSON object."""
    messages = call.body.get("messages")
    if not isinstance(messages, list) or not messages or \
            not all(isinstance(message, Mapping) for message in messages):
        raise errors.InvalidRequest("'messages' must be a non-empty list of "
                                    "objects.", param="messages")
    return messages


def content_text(content: Any) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content
                       if isinstance(part, Mapping) and part.get("type") == "text")
    return ""


def add_turn(turns: list[dict], role: str, items: list[dict],
             key: str = "content") -> None:
    """Append a turn, merged into the last when the role repeats: the providers
    that want alternating roles take one turn's blocks as a list under ``key``."""
    if not items:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})


def tool_arguments(raw: Any) -> dict[str, Any]:
    """The JSON-encoded ``arguments`` of an OpenAI tool call, as an object."""
    if raw is None or raw == "":
        return {}
    try:
        value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise errors.InvalidRequest(
            "A tool call's arguments must be a JSON object encoded as a string.",
            param="messages")
    return value


def function_tools(call: Call) -> list[Mapping[str, Any]]:
    """The tools of type ``function``, each with its ``function`` object checked;
    other tool types are refused."""
    tools = call.body.get("tools") or []
    if not isinstance(tools, list):
        raise errors.InvalidRequest("'tools' must be a list.", param="tools")
    kept = []
    for tool in tools:
        if not isinstance(tool, Mapping):
            raise errors.InvalidRequest("Each tool must be an object.", param="tools")
        if tool.get("type") != "function" or \
                not isinstance(tool.get("function"), Mapping):
            refuse(call, "tools", "only function tools can be translated.")
            continue
        kept.append(tool)
    return kept


def tool_choice(call: Call) -> ToolChoice | None:
    """``tool_choice`` read into a mode or one named function; None if not set."""
    value = call.body.get("tool_choice")
    if value is None:
        return None
    if isinstance(value, str) and value in TOOL_MODES:
        return ToolChoice(value)
    function = value.get("function") if isinstance(value, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or not name:
        raise errors.InvalidRequest("Unknown tool_choice.", param="tool_choice")
    return ToolChoice("function", name)


def embedding_inputs(call: Call) -> list[str]:
    """The texts to embed; token-id inputs are OpenAI's own and are refused."""
    value = call.body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or \
            not all(isinstance(text, str) for text in texts):
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' embeds text only: 'input' must be a "
            "string or a non-empty list of strings.", param="input")
    return texts
