"""Translating OpenAI messages and tools into Gemini ``contents`` and tools.

Used by the Gemini and Vertex AI adapters, which share Google's
``generateContent`` format. System and developer messages become the
``systemInstruction``; assistant turns become ``model`` turns; tool results
become ``functionResponse`` parts of a user turn, named by looking the
``tool_call_id`` up in the earlier assistant ``tool_calls`` (Gemini's calls
carry no ids, so the adapter makes them up). Turns of one role are merged.

Images travel inline from base64 data URLs. ``fileData`` only takes files
Google can read itself (``gs://`` objects and Gemini Files API URIs): a plain
https image URL is refused, or dropped under drop_params, as the gateway does
not download on the client's behalf. Function parameters go as
``parametersJsonSchema``, so full JSON Schema passes unchanged.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Mapping
from typing import Any

from app import errors
from app.providers import media
from app.providers.base import Call, dumps, loads_or_none
from app.providers.openai_request import (
    ToolChoice,
    add_turn,
    chat_messages,
    content_text,
    function_tools,
    refuse,
    tool_arguments,
    tool_choice,
)

# Gemini 3 needs each function call's thoughtSignature back with the call; it
# rides in the tool call id the client returns, after this mark.
SIGNATURE_MARK = "__thought__"

_GOOGLE_FILES = ("gs://", "https://generativelanguage.googleapis.com/")

_TOOL_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}


def call_id(function_call: Mapping[str, Any], signature: str | None) -> str:
    """The OpenAI id of a Gemini function call, carrying its signature."""
    ident = function_call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
    return f"{ident}{SIGNATURE_MARK}{signature}" if signature else str(ident)


def signature_of(ident: str) -> str | None:
    _, mark, signature = ident.partition(SIGNATURE_MARK)
    return signature if mark and signature else None


def translate(call: Call) -> tuple[dict | None, list[dict]]:
    """The ``systemInstruction`` (or None) and the ``contents`` of the chat."""
    messages = chat_messages(call)
    names = tool_names(messages)
    system: list[dict] = []
    contents: list[dict] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            text = content_text(message.get("content"))
            system.extend([{"text": text}] if text else [])
        elif role == "user":
            add_turn(contents, "user", parts(message.get("content"), call), "parts")
        elif role == "assistant":
            add_turn(contents, "model", model_parts(message, call), "parts")
        elif role == "tool":
            add_turn(contents, "user", [function_response(message, names)],
                     "parts")
        else:
            raise errors.InvalidRequest(f"Unsupported message role '{role}'.",
                                        param="messages")
    return ({"parts": system} if system else None), contents


def tool_names(messages: list[Mapping[str, Any]]) -> dict[str, str]:
    """Each earlier tool call's id mapped to its function's name."""
    names = {}
    for message in messages:
        if message.get("role") != "assistant":
            continue
        for item in message.get("tool_calls") or ():
            function = item.get("function") if isinstance(item, Mapping) else None
            if isinstance(function, Mapping) and item.get("id"):
                names[str(item["id"])] = str(function.get("name"))
    return names


def parts(content: Any, call: Call) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise errors.InvalidRequest("Message content must be a string or a list "
                                    "of parts.", param="messages")
    found = [part_of(item, call) for item in content]
    return [part for part in found if part]


def part_of(item: Any, call: Call) -> dict | None:
    kind = item.get("type") if isinstance(item, Mapping) else None
    if kind in ("text", "refusal"):
        return {"text": item[kind]} if item.get(kind) else None
    if kind == "image_url":
        return image_part(media.image_url(item), call)
    if kind in ("input_audio", "file"):
        inline = media.audio_data(item) if kind == "input_audio" \
            else media.file_data(item)
        return {"inlineData": {"mimeType": inline.mime, "data": inline.data}}
    raise errors.InvalidRequest(f"Unsupported content part type '{kind}'.",
                                param="messages")


def image_part(url: str, call: Call) -> dict | None:
    inline = media.data_url(url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline.mime, "data": inline.data}}
    if url.startswith(_GOOGLE_FILES):
        mime = mimetypes.guess_type(url)[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    if url.startswith(("https://", "http://")):
        refuse(call, "messages", "Gemini takes images inline or from Google "
               "storage: send this image as a base64 data URL.")
        return None
    raise errors.InvalidRequest("An image URL must be a base64 data URL or a "
                                "gs:// URI.", param="messages")


def model_parts(message: Mapping[str, Any], call: Call) -> list[dict]:
    """The text of an assistant turn, then one functionCall per tool call."""
    found = parts(message.get("content"), call)
    for item in message.get("tool_calls") or ():
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not function.get("name"):
            raise errors.InvalidRequest("Each tool call needs a function name.",
                                        param="messages")
        part: dict[str, Any] = {"functionCall": {
            "name": function["name"],
            "args": tool_arguments(function.get("arguments"))}}
        signature = signature_of(str(item.get("id") or ""))
        if signature:
            part["thoughtSignature"] = signature
        found.append(part)
    return found


def function_response(message: Mapping[str, Any], names: dict[str, str]) -> dict:
    """A tool result as a ``functionResponse`` part naming the function called."""
    name = names.get(str(message.get("tool_call_id"))) or message.get("name")
    if not name:
        raise errors.InvalidRequest(
            "A tool message must answer a tool_call_id of an earlier assistant "
            "message.", param="messages")
    text = content_text(message.get("content"))
    value = loads_or_none(text.encode())
    response = value if isinstance(value, dict) else {"output": text}
    return {"functionResponse": {"name": name, "response": response}}


def tool_fields(call: Call) -> dict:
    """``tools`` and ``toolConfig``; a choice without tools is left out."""
    tools = function_tools(call)
    if not tools:
        return {}
    out: dict[str, Any] = {
        "tools": [{"functionDeclarations": [declaration(t) for t in tools]}]}
    config = calling_config(tool_choice(call))
    if config:
        out["toolConfig"] = {"functionCallingConfig": config}
    return out


def declaration(tool: Mapping[str, Any]) -> dict:
    function = tool["function"]
    out = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    if function.get("parameters"):
        out["parametersJsonSchema"] = function["parameters"]
    return out


def calling_config(choice: ToolChoice | None) -> dict:
    if choice is None:
        return {}
    if choice.name is not None:
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    return {"mode": _TOOL_MODES[choice.mode]}


def arguments_json(args: Any) -> str:
    """A functionCall's ``args`` as OpenAI's JSON-encoded ``arguments``."""
    return dumps(args if args is not None else {}).decode()
