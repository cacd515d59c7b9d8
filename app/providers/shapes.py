"""Building OpenAI's response, chunk, usage and embedding shapes for adapters.

Translating adapters all answer in the same few shapes; building them in one
place keeps the ids, the echoed model name and the usage block alike across
providers.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from app import errors
from app.providers.base import Call, loads_or_none, new_id, now


def usage(prompt: int, completion: int, total: int | None = None, *,
          cached: int | None = None, reasoning: int | None = None) -> dict:
    """OpenAI's usage block; the details appear only when the provider told."""
    block: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else prompt + completion,
    }
    if cached:
        block["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning:
        block["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return block


def chat_response(call: Call, choices: list[dict], usage_block: dict) -> dict:
    """A ``chat.completion`` answering ``call``, echoing the requested model."""
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": now(),
        "model": call.requested_model,
        "choices": choices,
        "usage": usage_block,
    }


def arguments_object(raw: Any) -> dict:
    """The JSON-encoded ``arguments`` of an OpenAI tool call, as an object."""
    if raw is None or raw == "":
        return {}
    value = loads_or_none(raw.encode()) if isinstance(raw, str) else raw
    if not isinstance(value, dict):
        raise errors.InvalidRequest(
            "A tool call's arguments must be a JSON object encoded as a string.",
            param="messages")
    return value


def tool_call(ident: str, name: str, arguments: str) -> dict:
    return {"id": ident, "type": "function",
            "function": {"name": name, "arguments": arguments}}


class ChunkWriter:
    """Makes the chunks of one stream, all with the same id and ``created``."""

    def __init__(self, call: Call) -> None:
        self.id = new_id("chatcmpl")
        self.created = now()
        self.model = call.requested_model

    def chunk(self, choices: list[dict], **extra: Any) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk",
                "created": self.created, "model": self.model,
                "choices": choices, **extra}

    def delta(self, delta: dict, index: int = 0,
              finish: str | None = None) -> dict:
        choice = {"index": index, "delta": delta, "logprobs": None,
                  "finish_reason": finish}
        return self.chunk([choice])

    def usage(self, usage_block: dict) -> dict:
        """The closing chunk ``stream_options.include_usage`` asks for."""
        return self.chunk([], usage=usage_block)


def embedding_list(call: Call, vectors: Iterable[list[float]],
                   prompt_tokens: int) -> dict:
    """OpenAI's embeddings answer, encoded as the client asked."""
    as_base64 = call.body.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": index,
             "embedding": encode_base64(vector) if as_base64 else vector}
            for index, vector in enumerate(vectors)]
    return {"object": "list", "data": data, "model": call.requested_model,
            "usage": {"prompt_tokens": prompt_tokens,
                      "total_tokens": prompt_tokens}}


def encode_base64(vector: list[float]) -> str:
    """OpenAI's base64 form: little-endian float32, which its SDK decodes."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


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


def estimate_tokens(texts: Iterable[str]) -> int:
    """About four characters a token, for providers that report no usage."""
    return sum(max(1, (len(text) + 3) // 4) for text in texts)


def text_of(content: Any) -> str:
    """The text of an OpenAI message ``content``: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content
                       if isinstance(part, Mapping) and part.get("type") == "text")
    return ""
