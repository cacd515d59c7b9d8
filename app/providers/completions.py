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
from app.providers import openai_request
from app.providers.base import Call

_LEGACY_ONLY = ("suffix", "echo", "best_of", "logprobs")


def as_chat(call: Call) -> Call:
    """The chat call that answers a completions call; other calls unchanged."""
    if call.endpoint != "completions":
        return call
    for name in _LEGACY_ONLY:
        if openai_request.asked(call.body, name):
            openai_request.refuse(call, name)
    body = {key: value for key, value in call.body.items()
            if key not in _LEGACY_ONLY and key != "prompt"}
    body["messages"] = [{"role": "user", "content": prompt_text(call)}]
    return dataclasses.replace(call, endpoint="chat", body=body)


def prompt_text(call: Call) -> str:
    prompt = call.body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' takes one text prompt per completions "
            "request.", param="prompt")
    return prompt


def text_response(call: Call, response: dict) -> dict:
    """A chat answer reshaped as ``text_completion`` for a completions call."""
    if call.endpoint != "completions":
        return response
    choices = [_text_choice(choice, choice["message"])
               for choice in response["choices"]]
    return _as_text(response, choices)


def text_chunks(call: Call, chunks: Iterator[dict]) -> Iterator[dict]:
    """Chat chunks reshaped as ``text_completion`` chunks for a completions call."""
    if call.endpoint != "completions":
        yield from chunks
        return
    for chunk in chunks:
        choices = [_text_choice(choice, choice["delta"])
                   for choice in chunk["choices"]]
        yield _as_text(chunk, choices)


def _text_choice(choice: Mapping[str, Any], message: Mapping[str, Any]) -> dict:
    return {"index": choice["index"], "text": message.get("content") or "",
            "logprobs": None, "finish_reason": choice["finish_reason"]}


def _as_text(answer: dict, choices: list[dict]) -> dict:
    ident = answer["id"].replace("chatcmpl-", "cmpl-", 1)
    return {**answer, "id": ident, "object": "text_completion", "choices": choices}
