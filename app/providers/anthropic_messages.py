"""Translating an OpenAI chat request into an Anthropic Messages request body.

System and developer messages, wherever they stand, become the top-level
``system`` blocks; tool results become ``tool_result`` blocks of a user turn;
turns of one role are merged, as Anthropic wants the roles to alternate.
Anthropic requires ``max_tokens``: when the client sends no limit the body
carries DEFAULT_MAX_TOKENS, an output size every current Claude model accepts
(plus the thinking budget when ``reasoning_effort`` asks for thinking).

Refused, or dropped under drop_params: ``n`` > 1, ``seed``, ``logprobs``,
``top_logprobs``, ``logit_bias``, the penalties, ``response_format`` of type
``json_object`` (Anthropic constrains JSON only by a schema), audio input,
whitespace-only stop sequences and OpenAI-only features (audio output,
predictions, web search, legacy ``functions``, ``service_tier``, ``store``).
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
from app.providers import media, params
from app.providers.base import Call
from app.providers.shapes import arguments_object

DEFAULT_MAX_TOKENS = 4096

# reasoning_effort -> thinking budget in tokens (Anthropic's minimum is 1024)
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}

UNSUPPORTED = (
    "n", "seed", "logprobs", "top_logprobs", "logit_bias", "presence_penalty",
    "frequency_penalty", "modalities", "audio", "prediction",
    "web_search_options", "verbosity", "functions", "function_call",
    "service_tier", "store",
)

_TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none"}

# Anthropic refuses a metadata.user_id that looks like an email or a phone number.
_PERSONAL = re.compile(r"[^@\s]+@[^@\s]+|\+?[\d\s().-]{7,}")


def request_body(call: Call) -> dict:
    """The Messages API body for a chat ``call``."""
    params.refuse_all(call, UNSUPPORTED)
    system, turns = translate_messages(call)
    body: dict[str, Any] = {"model": call.model, "messages": turns}
    if system:
        body["system"] = system
    body.update(limits(call))
    body.update(sampling(call))
    body.update(tool_fields(call))
    body.update(output_format(call))
    extra = params.passthrough(call)
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
    limit = params.max_output_tokens(call.body)
    out: dict[str, Any] = {"max_tokens": limit or DEFAULT_MAX_TOKENS + (budget or 0)}
    if budget:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return out


def sampling(call: Call) -> dict:
    out = {name: call.body[name] for name in ("temperature", "top_p")
           if call.body.get(name) is not None}
    stops = params.stop_list(call.body)
    if any(not stop.strip() for stop in stops):
        params.refuse(call, "stop",
                      "Anthropic rejects whitespace-only stop sequences.")
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
    params.refuse(call, "response_format",
                  "Anthropic constrains JSON output only by a json_schema.")
    return {}


def user_metadata(call: Call) -> dict:
    user = call.body.get("user")
    if isinstance(user, str) and user and not _PERSONAL.fullmatch(user.strip()):
        return {"user_id": user}
    return {}


def tool_fields(call: Call) -> dict:
    """``tools`` and ``tool_choice``; a choice without tools is left out."""
    tools = call.body.get("tools")
    if not tools:
        return {}
    if not isinstance(tools, list):
        raise errors.InvalidRequest("'tools' must be a list.", param="tools")
    out: dict[str, Any] = {"tools": [tool_definition(tool) for tool in tools]}
    choice = tool_choice(call.body.get("tool_choice"))
    if call.body.get("parallel_tool_calls") is False and \
            choice.get("type") != "none":
        choice = {"type": "auto", **choice, "disable_parallel_tool_use": True}
    if choice:
        out["tool_choice"] = choice
    return out


def tool_definition(tool: Any) -> dict:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not isinstance(function, Mapping) or tool.get("type") != "function":
        raise errors.InvalidRequest("Only function tools are supported.",
                                    param="tools")
    out = {"name": function.get("name"),
           "input_schema": function.get("parameters")
           or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    if tool.get("cache_control"):
        out["cache_control"] = tool["cache_control"]
    return out


def tool_choice(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, str) and value in _TOOL_CHOICES:
        return {"type": _TOOL_CHOICES[value]}
    function = value.get("function") if isinstance(value, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str):
        raise errors.InvalidRequest("Unknown tool_choice.", param="tool_choice")
    return {"type": "tool", "name": name}


def translate_messages(call: Call) -> tuple[list[dict], list[dict]]:
    """The system blocks and the alternating turns of the chat."""
    messages = call.body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise errors.InvalidRequest("'messages' must be a non-empty list.",
                                    param="messages")
    system: list[dict] = []
    turns: list[dict] = []
    for message in messages:
        role = message.get("role") if isinstance(message, Mapping) else None
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


def add_turn(turns: list[dict], role: str, blocks: list[dict]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


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
        params.refuse(call, "messages", "Anthropic takes no audio input.")
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
                       "input": arguments_object(function.get("arguments"))})
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
