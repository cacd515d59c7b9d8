"""Answers from the deployment's ``mock_response``, with no network at all.

LiteLLM's ``mock_response`` litellm_param lets a config serve requests with no
provider: the shipped ``demo`` model uses it so a fresh install answers. Token
counts are estimated at four characters a token, which is close enough for a
demo and for load tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from app.providers.base import Adapter, Call, new_id, now

_CHUNK_CHARS = 12


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def prompt_text(call: Call) -> str:
    """All text the client sent, for a plausible prompt token count."""
    body = call.body
    if call.endpoint == "chat":
        parts = []
        for message in body.get("messages") or ():
            content = message.get("content") if isinstance(message, Mapping) else None
            parts.append(content if isinstance(content, str) else str(content or ""))
        return " ".join(parts)
    value = body.get("prompt" if call.endpoint == "completions" else "input")
    return value if isinstance(value, str) else str(value or "")


def usage(call: Call, reply: str) -> dict[str, int]:
    prompt = estimate_tokens(prompt_text(call))
    completion = 0 if call.endpoint == "embeddings" else estimate_tokens(reply)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class MockAdapter(Adapter):
    name = "mock"

    def offline(self, call: Call) -> bool:
        return True

    def answer(self, call: Call) -> dict:
        reply = call.mock_response or ""
        if call.endpoint == "embeddings":
            return self.embeddings(call)
        if call.endpoint == "completions":
            choice: dict[str, Any] = {"index": 0, "text": reply,
                                      "logprobs": None, "finish_reason": "stop"}
            kind, prefix = "text_completion", "cmpl"
        else:
            choice = {"index": 0, "finish_reason": "stop", "logprobs": None,
                      "message": {"role": "assistant", "content": reply}}
            kind, prefix = "chat.completion", "chatcmpl"
        return {"id": new_id(prefix), "object": kind, "created": now(),
                "model": call.requested_model, "choices": [choice],
                "usage": usage(call, reply)}

    def embeddings(self, call: Call) -> dict:
        value = call.body.get("input")
        inputs = value if isinstance(value, list) else [value]
        data = [{"object": "embedding", "index": i, "embedding": [0.0, 0.1, 0.2]}
                for i in range(len(inputs))]
        return {"object": "list", "data": data, "model": call.requested_model,
                "usage": usage(call, "")}

    def answer_stream(self, call: Call) -> Iterator[dict]:
        reply = call.mock_response or ""
        ident, created = new_id("chatcmpl"), now()
        kind = "text_completion" if call.endpoint == "completions" \
            else "chat.completion.chunk"

        def chunk(delta: dict, finish: str | None) -> dict:
            if call.endpoint == "completions":
                choice = {"index": 0, "text": delta.get("content", ""),
                          "logprobs": None, "finish_reason": finish}
            else:
                choice = {"index": 0, "delta": delta, "logprobs": None,
                          "finish_reason": finish}
            return {"id": ident, "object": kind, "created": created,
                    "model": call.requested_model, "choices": [choice]}

        yield chunk({"role": "assistant", "content": ""}, None)
        for start in range(0, len(reply), _CHUNK_CHARS):
            yield chunk({"content": reply[start:start + _CHUNK_CHARS]}, None)
        yield chunk({}, "stop")
        if call.include_usage:
            yield {"id": ident, "object": kind, "created": created,
                   "model": call.requested_model, "choices": [],
                   "usage": usage(call, reply)}


ADAPTER = MockAdapter()
