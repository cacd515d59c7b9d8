"""Translating an OpenAI chat request into an Anthropic Messages request body.

System and developer messages, wherever they stand, become the top-level
``system`` blocks; tool results become ``tool_result`` blocks of a user turn;
turns of one role are merged, as Anthropic wants the roles to alternate.
Anthropic requires ``max_tokens``: when the client sends no limit the body
carries DEFAULT_MAX_TOKENS, an output size every current Claude model accepts
(plus the thinking budget when ``reasoning_effort`` asks for thinking); a
client limit at or below that budget is a 400, as Anthropic would refuse it.

Refused, or dropped under drop_params: every OpenAI param outside HANDLED
(``n`` > 1, ``seed``, ``logprobs``, ``top_logprobs``, ``logit_bias``, the
penalties, audio output, predictions, web search, legacy ``functions``,
``service_tier``, ``store``), ``response_format`` of type ``json_object``
(Anthropic constrains JSON only by a schema), audio input, tools other than
functions and whitespace-only stop sequences.
``temperature`` passes as given, although Anthropic's range is 0-1; tool names
pass unchanged, so a name outside Anthropic's pattern is the API's to refuse.
A ``json_schema`` response format becomes ``output_config.format``, which only
models with structured outputs accept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app import errors
from app.providers import media
from app.providers.base import Call
from app.providers.openai_request import (
    ToolChoice,
    add_turn,
    chat_messages,
    function_tools,
    max_tokens,
    passthrough,
    refuse,
    requested,
    stop_list,
    tool_arguments,
    tool_choice,
)

DEFAULT_MAX_TOKENS = 4096

# reasoning_effort -> thinking budget in tokens (Anthropic's minimum is 1024)
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}

HANDLED = frozenset({
    "messages", "temperature", "top_p", "stop", "max_tokens",
    "max_completion_tokens", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "reasoning_effort",
})

_TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none"}

# Anthropic refuses a metadata.user_id that looks like an email or a phone number.
_PERSONAL = re.compile(r"[^@\s]+@[^@\s]+|\+?[\d\s().-]{7,}")


def request_body(call: Call) -> dict:
    """The Messages API body for a chat ``call``."""
    requested(call, HANDLED)
    system, turns = translate_messages(call)
    body: dict[str, Any] = {"model": call.model, "messages": turns}
    if system:
        body["system"] = system
    body.update(limits(call))
    body.update(sampling(call))
    body.update(tool_fields(call))
    body.update(output_format(call))
    extra = passthrough(call)
    extra.pop("anthropic_version", None)  # a header here; Vertex sets its own
    metadata = {**user_metadata(call), **(extra.pop("metadata", None) or {})}
    if metadata:
        body["metadata"] = metadata
    body.update(extra)
    if call.stream:
        body["stream"] = True
    return body


def limits(call: Call) -> dict:
    """``max_tokens`` (required by Anthropic) and the thinking budget."""
    effort = call.body.get("reasoning_effort")
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if effort not in (None, "none") and budget is None:
        raise errors.InvalidRequest(f"Unknown reasoning_effort '{effort}'.",
                                    param="reasoning_effort")
    limit = max_tokens(call.body)
    if limit and budget and limit <= budget:
        raise errors.InvalidRequest(
            f"reasoning_effort '{effort}' thinks for {budget} tokens, so max_tokens "
            f"must be more than that (got {limit}).", param="max_tokens")
    out: dict[str, Any] = {"max_tokens": limit or DEFAULT_MAX_TOKENS + (budget or 0)}
    if budget:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return out


def sampling(call: Call) -> dict:
    out = {name: call.body[name] for name in ("temperature", "top_p")
           if call.body.get(name) is not None}
    stops = stop_list(call.body)
    if any(not stop.strip() for stop in stops):
        refuse(call, "stop", "Anthropic rejects whitespace-only stop sequences.")
        stops = [stop for stop in stops if stop.strip()]
    if stops:
        out["stop_sequences"] = stops
    return out


def output_format(call: Call) -> dict:
    fmt = call.body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if fmt is None or kind == "text":
        return {}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise errors.InvalidRequest("A json_schema response_format needs a "
                                        "schema.", param="response_format")
        return {"output_config": {"format": {"type": "json_schema",
                                             "schema": schema}}}
    refuse(call, "response_format",
           "Anthropic constrains JSON output only by a json_schema.")
    return {}


def user_metadata(call: Call) -> dict:
    user = call.body.get("user")
    if isinstance(user, str) and user and not _PERSONAL.fullmatch(user.strip()):
        return {"user_id": user}
    return {}


def tool_fields(call: Call) -> dict:
    """``tools`` and ``tool_choice``; a choice without tools is left out."""
    tools = function_tools(call)
    if not tools:
        return {}
    out: dict[str, Any] = {"tools": [tool_definition(tool) for tool in tools]}
    choice = choice_block(tool_choice(call))
    if call.body.get("parallel_tool_calls") is False and \
            choice.get("type") != "none":
        choice = {"type": "auto", **choice, "disable_parallel_tool_use": True}
    if choice:
        out["tool_choice"] = choice
    return out


def tool_definition(tool: Mapping[str, Any]) -> dict:
    function = tool["function"]
    out = {"name": function.get("name"),
           "input_schema": function.get("parameters")
           or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    if tool.get("cache_control"):
        out["cache_control"] = tool["cache_control"]
    return out


def choice_block(choice: ToolChoice | None) -> dict:
    if choice is None:
        return {}
    if choice.name is not None:
        return {"type": "tool", "name": choice.name}
    return {"type": _TOOL_CHOICES[choice.mode]}


def translate_messages(call: Call) -> tuple[list[dict], list[dict]]:
    """The system blocks and the alternating turns of the chat."""
    system: list[dict] = []
    turns: list[dict] = []
    for message in chat_messages(call):
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(content_blocks(message.get("content"), call))
        elif role == "assistant":
            add_turn(turns, "assistant", assistant_blocks(message, call))
        elif role == "user":
            add_turn(turns, "user", content_blocks(message.get("content"), call))
        elif role == "tool":
            add_turn(turns, "user", [tool_result(message, call)])
        else:
            raise errors.InvalidRequest(f"Unsupported message role '{role}'.",
                                        param="messages")
    return system, turns


def content_blocks(content: Any, call: Call) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise errors.InvalidRequest("Message content must be a string or a list "
                                    "of parts.", param="messages")
    blocks = [part_block(part, call) for part in content]
    return [block for block in blocks if block]


def part_block(part: Any, call: Call) -> dict | None:
    kind = part.get("type") if isinstance(part, Mapping) else None
    if kind in ("text", "refusal"):
        text = part.get(kind)
        block = {"type": "text", "text": text} if text else None
    elif kind == "image_url":
        block = image_block(media.image_url(part))
    elif kind == "file":
        inline = media.file_data(part)
        block = {"type": "document", "source": {
            "type": "base64", "media_type": inline.mime, "data": inline.data}}
    elif kind == "input_audio":
        refuse(call, "messages", "Anthropic takes no audio input.")
        return None
    else:
        raise errors.InvalidRequest(f"Unsupported content part type '{kind}'.",
                                    param="messages")
    if block and part.get("cache_control"):
        block["cache_control"] = part["cache_control"]
    return block


def image_block(url: str) -> dict:
    inline = media.data_url(url)
    if inline is not None:
        return {"type": "image", "source": {
            "type": "base64", "media_type": inline.mime, "data": inline.data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise errors.InvalidRequest("An image URL must be http(s) or a base64 data "
                                "URL.", param="messages")


def assistant_blocks(message: Mapping[str, Any], call: Call) -> list[dict]:
    """Thinking blocks given back, then text, then one tool_use per tool call."""
    blocks = [dict(block) for block in message.get("thinking_blocks") or ()
              if isinstance(block, Mapping)]
    blocks.extend(content_blocks(message.get("content"), call))
    for item in message.get("tool_calls") or ():
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not item.get("id"):
            raise errors.InvalidRequest("Each tool call needs an id and a "
                                        "function.", param="messages")
        blocks.append({"type": "tool_use", "id": item["id"],
                       "name": function.get("name"),
                       "input": tool_arguments(function.get("arguments"))})
    return blocks


def tool_result(message: Mapping[str, Any], call: Call) -> dict:
    ident = message.get("tool_call_id")
    if not isinstance(ident, str) or not ident:
        raise errors.InvalidRequest("A tool message needs its tool_call_id.",
                                    param="messages")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": ident}
    content = message.get("content")
    if isinstance(content, list):
        block["content"] = content_blocks(content, call)
    elif isinstance(content, str) and content:
        block["content"] = content
    return block
