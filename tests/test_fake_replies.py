"""The reply builders give the shapes OpenAI clients expect, framed correctly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fake_replies import (
    Reply,
    as_reply,
    chat_ok,
    completion_ok,
    embeddings_ok,
    openai_error,
    sse_ok,
)


def test_chat_ok_is_a_minimal_chat_completion() -> None:
    body = chat_ok("hello there", model="gpt-x")
    assert body["object"] == "chat.completion" and body["model"] == "gpt-x"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "hello there",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize(
    ("text", "parts", "pieces"),
    [
        ("ok-from-A", 2, ["ok-fr", "om-A"]),
        ("abc", 5, ["a", "b", "c"]),
        ("", 2, [""]),
    ],
)
def test_sse_ok_spells_the_text_and_finishes_cleanly(
    text: str, parts: int, pieces: list[str]
) -> None:
    *chunks, done = sse_ok(text, parts=parts)
    decoded = [json.loads(chunk) for chunk in chunks]
    deltas = [chunk["choices"][0]["delta"] for chunk in decoded]

    assert done == "[DONE]"
    assert len({chunk["id"] for chunk in decoded}) == 1
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert [delta["content"] for delta in deltas[1:-1]] == pieces
    assert decoded[-1]["choices"][0]["finish_reason"] == "stop"


def test_completion_and_embeddings_shapes() -> None:
    completion = completion_ok("hi")
    assert completion["object"] == "text_completion"
    assert completion["choices"][0]["text"] == "hi"

    embeddings = embeddings_ok(n=3, dims=4)
    assert [item["index"] for item in embeddings["data"]] == [0, 1, 2]
    assert {len(item["embedding"]) for item in embeddings["data"]} == {4}


def test_openai_error_carries_status_and_envelope() -> None:
    reply = openai_error(429, "slow down", "requests", code="rate_limit_exceeded")
    assert reply.status == 429
    assert reply.json == {
        "error": {
            "message": "slow down",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert reply.head(close=False).startswith(b"HTTP/1.1 429 Too Many Requests\r\n")


def test_plain_reply_is_serialised_once_with_its_length() -> None:
    reply = Reply(json={"a": 1})
    head = reply.head(close=True)
    assert b"Content-Type: application/json\r\n" in head
    assert b"Content-Length: 7\r\n" in head
    assert head.endswith(b"Connection: close\r\n\r\n")
    assert reply.payload() == b'{"a":1}'


def test_stream_reply_is_chunked_per_event() -> None:
    reply = Reply(sse=["one", "[DONE]"], headers={"content-type": "text/x"})
    head = reply.head(close=False)
    assert b"Transfer-Encoding: chunked" in head
    assert head.count(b"ontent-") == 1  # the script's own type, no default
    assert reply.wire_events()[0] == b"b\r\ndata: one\n\n\r\n"


@pytest.mark.parametrize(
    "spec",
    [
        {"json": {}, "sse": ["x"]},
        {"body": b"x", "raw_chunks": [b"y"]},
        {"sse": ["x"], "stall_after_chunks": 1, "close_after_chunks": 1},
        {"raw_chunks": [b"a", b""]},
        {"unknown_key": 1},
    ],
)
def test_contradictory_replies_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        as_reply(spec)
