"""Serving the legacy ``/v1/completions`` endpoint from a chat-only provider.

The prompt becomes one user message, the request runs as a chat, and the
answer comes back as a ``text_completion``. One prompt per request: a list of
several prompts, token-id prompts, ``suffix``, ``echo``, ``best_of`` and
``logprobs`` have no chat equivalent and are refused (or dropped with
``drop_params``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from app import errors
from app.providers import params
from app.providers.base import Call

_LEGACY_ONLY = ("suffix", "echo", "best_of", "logprobs")


def as_chat(call: Call) -> Call:
    """The chat call that answers a completions call; other calls unchanged."""
    if call.endpoint != "completions":
        return call
    params.refuse_all(call, _LEGACY_ONLY)
    body = {key: value for key, value in call.body.items()
            if key not in _LEGACY_ONLY and key != "prompt"}
    body["messages"] = [{"role": "user", "content": prompt_text(call.body)}]
    return dataclasses.replace(call, endpoint="chat", body=body)


def prompt_text(body: Mapping[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise errors.InvalidRequest(
            "This provider takes one text prompt per completions request.",
            param="prompt")
    return prompt


def text_response(call: Call, response: dict) -> dict:
    """A chat answer reshaped as ``text_completion`` for a completions call."""
    if call.endpoint != "completions":
        return response
    choices = [{"index": choice["index"],
                "text": choice["message"].get("content") or "",
                "logprobs": None, "finish_reason": choice["finish_reason"]}
               for choice in response["choices"]]
    ident = response["id"].replace("chatcmpl-", "cmpl-", 1)
    return {**response, "id": ident, "object": "text_completion",
            "choices": choices}


def text_chunks(call: Call, chunks: Iterator[dict]) -> Iterator[dict]:
    """Chat chunks reshaped as ``text_completion`` chunks for a completions call."""
    if call.endpoint != "completions":
        yield from chunks
        return
    for chunk in chunks:
        choices = [{"index": choice["index"],
                    "text": choice["delta"].get("content") or "",
                    "logprobs": None, "finish_reason": choice["finish_reason"]}
                   for choice in chunk["choices"]]
        ident = chunk["id"].replace("chatcmpl-", "cmpl-", 1)
        yield {**chunk, "id": ident, "object": "text_completion",
               "choices": choices}
