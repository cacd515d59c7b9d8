"""OpenAI chat bodies to Bedrock Converse requests, and Converse answers back.

Converse keeps system text apart, wants strictly alternating user and assistant
turns, carries tool results as blocks of a user turn, and has no knob for
``n``, ``seed``, penalties, log-probabilities or ``tool_choice: "none"``: those
are refused unless the deployment drops unsupported params. Anything the client
sends that OpenAI does not define goes to ``additionalModelRequestFields``
(``top_k``, ``thinking``, ...), except Converse's own top-level fields, which
keep their place.

Not translated, and answered with a 400: audio and file parts, and images given
by URL (adapters do no I/O, so images must be inline data URLs). Usage reports
Converse's ``inputTokens`` as the prompt tokens and its cache reads as
``cached_tokens``; cache writes are not reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app import errors
from app.providers.base import Call, dumps
from app.providers.media import inline_image
from app.providers.openai_request import (
    add_turn,
    chat_messages,
    content_text,
    function_tools,
    max_tokens,
    passthrough,
    refuse,
    requested,
    stop_list,
    tool_arguments,
    tool_choice,
)
from app.providers.openai_shapes import assistant_message, completion, tool_call, usage

HANDLED = frozenset({
    "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
    "stop", "tools", "tool_choice", "response_format",
})

# Converse request fields a client may send as they are.
CONVERSE_FIELDS = frozenset({
    "additionalModelRequestFields", "additionalModelResponseFieldPaths",
    "guardrailConfig", "performanceConfig", "promptVariables", "requestMetadata",
    "serviceTier", "outputConfig",
})

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

IMAGE_FORMATS = {
    "image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
    "image/gif": "gif", "image/webp": "webp",
}


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(str(stop_reason), "stop")


def converse_body(call: Call) -> dict[str, Any]:
    """The Converse request for a chat or legacy completions call."""
    params = requested(call, HANDLED)
    system, turns = conversation(call)
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system

    optional = {
        "inferenceConfig": inference_config(params),
        "toolConfig": tool_config(call),
        "outputConfig": output_config(call, params),
    }
    body.update({name: value for name, value in optional.items() if value})
    add_passthrough(body, passthrough(call))
    return body


def conversation(call: Call) -> tuple[list[dict], list[dict]]:
    """System blocks and alternating turns; same-role neighbours are merged."""
    system: list[dict] = []
    turns: list[dict] = []
    for message in chat_messages(call):
        role = message.get("role")
        if role in ("system", "developer"):
            text = content_text(message.get("content"))
            if text:
                system.append({"text": text})
            continue
        add_turn(turns, *message_blocks(call, message))
    return system, turns


def message_blocks(call: Call, message: Mapping[str, Any]) -> tuple[str, list[dict]]:
    role = message.get("role")
    if role == "user":
        return "user", user_blocks(call, message.get("content"))
    if role == "assistant":
        return "assistant", assistant_blocks(message)
    if role == "tool":
        return "user", [tool_result(message)]
    raise errors.InvalidRequest(
        f"Bedrock does not take messages with role '{role}'.", param="messages")


def user_blocks(call: Call, content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks = []
    for part in content or ():
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            blocks.append({"text": part.get("text", "")})
        elif kind == "image_url":
            blocks.append(image_block(call, part))
        else:
            raise errors.InvalidRequest(
                f"Bedrock does not take '{kind}' content parts here.",
                param="messages")
    return blocks


def image_block(call: Call, part: Mapping[str, Any]) -> dict:
    inline = inline_image(call, part)
    image_format = IMAGE_FORMATS.get(inline.mime)
    if image_format is None:
        raise errors.InvalidRequest(
            f"Bedrock takes png, jpeg, gif or webp images, not '{inline.mime}'.",
            param="messages")
    return {"image": {"format": image_format, "source": {"bytes": inline.data}}}


def assistant_blocks(message: Mapping[str, Any]) -> list[dict]:
    """Text, then tool uses; blank text is left out because Converse rejects it."""
    text = content_text(message.get("content"))
    blocks: list[dict] = [{"text": text}] if text.strip() else []
    for call_item in message.get("tool_calls") or ():
        function = call_item.get("function") or {}
        blocks.append({"toolUse": {
            "toolUseId": call_item.get("id"),
            "name": function.get("name"),
            "input": tool_arguments(function.get("arguments")),
        }})
    return blocks


def tool_result(message: Mapping[str, Any]) -> dict:
    ident = message.get("tool_call_id")
    if not ident:
        raise errors.InvalidRequest(
            "A tool message needs its 'tool_call_id'.", param="messages")
    text = content_text(message.get("content"))
    return {"toolResult": {"toolUseId": ident, "content": [{"text": text}]}}


def inference_config(params: Mapping[str, Any]) -> dict[str, Any]:
    config = {
        "maxTokens": max_tokens(params),
        "temperature": params.get("temperature"),
        "topP": params.get("top_p"),
        "stopSequences": stop_list(params) or None,
    }
    return {name: value for name, value in config.items() if value is not None}


def tool_config(call: Call) -> dict[str, Any] | None:
    tools = [tool_spec(tool["function"]) for tool in function_tools(call)]
    if not tools:
        return None
    config: dict[str, Any] = {"tools": tools}
    choice = choice_block(call)
    if choice:
        config["toolChoice"] = choice
    return config


def tool_spec(function: Mapping[str, Any]) -> dict:
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    spec: dict[str, Any] = {"name": function.get("name"),
                            "inputSchema": {"json": schema}}
    if function.get("description"):
        spec["description"] = function["description"]
    if function.get("strict") is not None:
        spec["strict"] = function["strict"]
    return {"toolSpec": spec}


def choice_block(call: Call) -> dict | None:
    choice = tool_choice(call)
    if choice is None or choice.mode == "auto":
        return None
    if choice.mode == "required":
        return {"any": {}}
    if choice.name is not None:
        return {"tool": {"name": choice.name}}
    refuse(call, "tool_choice", "Bedrock has no 'none' choice; leave out the tools.")
    return None


def output_config(call: Call, params: Mapping[str, Any]) -> dict | None:
    """``response_format`` as Converse's JSON-schema output format."""
    response_format = params.get("response_format") or {}
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind != "json_schema":
        refuse(call, "response_format", "Bedrock takes only 'json_schema'.")
        return None
    spec = response_format.get("json_schema") or {}
    schema = {"schema": dumps(spec.get("schema") or {}).decode(),
              "name": spec.get("name") or "response"}
    if spec.get("description"):
        schema["description"] = spec["description"]
    return {"textFormat": {"type": "json_schema",
                           "structure": {"jsonSchema": schema}}}


def add_passthrough(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Converse's own fields at the top; every other extra in the model fields."""
    model_fields: dict[str, Any] = {}
    for name, value in extra.items():
        if name not in CONVERSE_FIELDS:
            model_fields[name] = value
        elif isinstance(value, Mapping) and isinstance(body.get(name), Mapping):
            body[name] = {**value, **body[name]}
        else:
            body[name] = value
    explicit = body.get("additionalModelRequestFields")
    if isinstance(explicit, Mapping):
        model_fields.update(explicit)
    if model_fields:
        body["additionalModelRequestFields"] = model_fields


def converse_usage(raw: Any) -> dict[str, Any]:
    """OpenAI usage from Converse's; cache reads count as cached prompt tokens."""
    raw = raw if isinstance(raw, Mapping) else {}
    return usage(int(raw.get("inputTokens") or 0), int(raw.get("outputTokens") or 0),
                 cached=int(raw.get("cacheReadInputTokens") or 0))


def parse_converse(call: Call, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI answer for a Converse response body."""
    output = payload.get("output") or {}
    blocks = (output.get("message") or {}).get("content") or []
    texts, reasoning, calls = [], [], []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(tool_call(use.get("toolUseId", ""), use.get("name", ""),
                                   dumps(use.get("input") or {}).decode()))
        elif "reasoningContent" in block:
            thought = block["reasoningContent"].get("reasoningText") or {}
            reasoning.append(thought.get("text") or "")
    text = "".join(texts) if texts or not calls else None
    message = assistant_message(text, calls, "".join(reasoning) or None)
    return completion(call, message, finish_reason(payload.get("stopReason")),
                      converse_usage(payload.get("usage")))
