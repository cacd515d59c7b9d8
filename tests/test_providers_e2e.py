"""End to end, per provider: the OpenAI SDK, the real gateway, a fake provider API.

Each test starts gunicorn with an operator config whose one deployment's
``api_base`` points at a loopback fake speaking that provider's own HTTP API,
drives the gateway with the OpenAI SDK (whole and streamed answers, and
embeddings where the provider has them), and checks what the fake received:
the URL, the auth headers and the translated body. Vertex AI and Bedrock have
files of their own (token endpoint, SigV4).
"""

from __future__ import annotations

import json

import pytest

from tests.e2e_support import (
    assert_secret_kept,
    check_stream,
    one_model_config,
    sdk,
    streamed,
)

SYSTEM = {"role": "system", "content": "Answer in French."}
USER = {"role": "user", "content": "Say hello."}


def sse_events(*events: tuple[str, dict]) -> list[bytes]:
    """Named server-sent events, as Anthropic writes them."""
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            for name, data in events]


# --- Anthropic -----------------------------------------------------------------

ANTHROPIC_KEY = "sk-ant-test-SECRET-1"
ANTHROPIC_ANSWER = {
    "id": "msg_01", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "Bonjour !"}],
    "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 4},
}
ANTHROPIC_STREAM = sse_events(
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_02", "type": "message", "role": "assistant", "content": [],
        "usage": {"input_tokens": 12, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Bon"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "jour !"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta",
                       "delta": {"stop_reason": "end_turn"},
                       "usage": {"output_tokens": 5}}),
    ("message_stop", {"type": "message_stop"}),
)


def test_anthropic(make_gateway, fake_upstream):
    fake_upstream.script_path("/v1/messages", {"json": ANTHROPIC_ANSWER},
                              {"raw_chunks": ANTHROPIC_STREAM})
    gateway = make_gateway(one_model_config("claude", {
        "model": "anthropic/claude-sonnet-4-5", "api_key": ANTHROPIC_KEY,
        "api_base": fake_upstream.base}))
    with sdk(gateway) as client:
        answer = client.chat.completions.create(model="claude", messages=[SYSTEM, USER],
                                                temperature=0.3)
        assert answer.model == "claude" and answer.object == "chat.completion"
        assert answer.choices[0].message.content == "Bonjour !"
        assert answer.choices[0].finish_reason == "stop"
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens,
                answer.usage.total_tokens) == (12, 4, 16)

        chunks = streamed(client, model="claude", messages=[USER], max_tokens=50)
        assert check_stream(chunks) == "Bonjour !"
        assert chunks[-1].usage.completion_tokens == 5

    whole, stream = fake_upstream.calls_to("/v1/messages")
    for call in (whole, stream):
        assert call.path == "/v1/messages" and call.query == {}
        assert call.headers["x-api-key"] == ANTHROPIC_KEY
        assert call.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in {name.lower() for name in call.headers}
    assert whole.json == {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "Answer in French."}],
        "messages": [{"role": "user",
                      "content": [{"type": "text", "text": "Say hello."}]}],
        "max_tokens": 4096, "temperature": 0.3,
    }
    assert stream.json["stream"] is True and stream.json["max_tokens"] == 50
    assert "stream_options" not in stream.json
    assert_secret_kept(gateway, ANTHROPIC_KEY)


# --- Gemini (AI Studio) ----------------------------------------------------------

GEMINI_KEY = "AIza-test-SECRET-2"
GEMINI_USAGE = {"promptTokenCount": 9, "candidatesTokenCount": 3,
                "totalTokenCount": 12}


def gemini_answer(text: str, finish: str | None = "STOP", **extra) -> dict:
    candidate: dict = {"content": {"role": "model", "parts": [{"text": text}]},
                       "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", **extra}


def test_gemini(make_gateway, fake_upstream):
    fake_upstream.script_path(":generateContent",
                              {"json": gemini_answer("Bonjour !",
                                                     usageMetadata=GEMINI_USAGE)})
    fake_upstream.script_path(":streamGenerateContent", {"sse": [
        json.dumps(gemini_answer("Bon", None)),
        json.dumps(gemini_answer("jour !", "STOP", usageMetadata=GEMINI_USAGE)),
    ]})
    fake_upstream.script_path(":batchEmbedContents", {"json": {"embeddings": [
        {"values": [0.5, -0.25]}, {"values": [1.0, 0.0]}]}})
    gateway = make_gateway(one_model_config("gemini", {
        "model": "gemini/gemini-2.5-flash", "api_key": GEMINI_KEY,
        "api_base": f"{fake_upstream.base}/v1beta"}))
    with sdk(gateway) as client:
        answer = client.chat.completions.create(model="gemini", messages=[SYSTEM, USER],
                                                max_tokens=64)
        assert answer.choices[0].message.content == "Bonjour !"
        assert answer.usage.total_tokens == 12
        assert check_stream(streamed(client, model="gemini",
                                     messages=[USER])) == "Bonjour !"
        vectors = client.embeddings.create(model="gemini", input=["a", "b"])
        assert [item.embedding for item in vectors.data] == [[0.5, -0.25], [1.0, 0.0]]

    whole, stream, embed = fake_upstream.calls
    assert whole.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert stream.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert stream.query == {"alt": ["sse"]} and whole.query == {}
    assert embed.path == "/v1beta/models/gemini-2.5-flash:batchEmbedContents"
    for call in (whole, stream, embed):
        assert call.headers["x-goog-api-key"] == GEMINI_KEY
    assert whole.json == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
        "systemInstruction": {"parts": [{"text": "Answer in French."}]},
        "generationConfig": {"maxOutputTokens": 64},
    }
    assert embed.json == {"requests": [
        {"model": "models/gemini-2.5-flash", "content": {"parts": [{"text": t}]}}
        for t in ("a", "b")]}
    assert_secret_kept(gateway, GEMINI_KEY)


# --- Cohere -------------------------------------------------------------------------

COHERE_KEY = "co-test-SECRET-3"
COHERE_USAGE = {"billed_units": {"input_tokens": 8, "output_tokens": 3},
                "tokens": {"input_tokens": 70, "output_tokens": 3}}
COHERE_STREAM = [json.dumps(event) for event in (
    {"type": "message-start", "id": "c-2",
     "delta": {"message": {"role": "assistant"}}},
    {"type": "content-start", "index": 0,
     "delta": {"message": {"content": {"type": "text", "text": ""}}}},
    {"type": "content-delta", "index": 0,
     "delta": {"message": {"content": {"text": "Bon"}}}},
    {"type": "content-delta", "index": 0,
     "delta": {"message": {"content": {"text": "jour !"}}}},
    {"type": "content-end", "index": 0},
    {"type": "message-end",
     "delta": {"finish_reason": "COMPLETE", "usage": COHERE_USAGE}},
)]


def test_cohere(make_gateway, fake_upstream):
    fake_upstream.script_path("/v2/chat", {"json": {
        "id": "c-1", "finish_reason": "COMPLETE",
        "message": {"role": "assistant",
                    "content": [{"type": "text", "text": "Bonjour !"}]},
        "usage": COHERE_USAGE}}, {"sse": COHERE_STREAM})
    fake_upstream.script_path("/v2/embed", {"json": {
        "id": "e-1", "embeddings": {"float": [[0.25, 0.75]]},
        "meta": {"billed_units": {"input_tokens": 2}}}})
    gateway = make_gateway(one_model_config("command", {
        "model": "cohere/command-a-03-2025", "api_key": COHERE_KEY,
        "api_base": f"{fake_upstream.base}/v2/chat"}))
    with sdk(gateway) as client:
        answer = client.chat.completions.create(
            model="command", messages=[SYSTEM, USER], top_p=0.5, stop="END")
        assert answer.choices[0].message.content == "Bonjour !"
        assert answer.usage.prompt_tokens == 70 and answer.usage.total_tokens == 73
        assert check_stream(streamed(client, model="command",
                                     messages=[USER])) == "Bonjour !"
        vectors = client.embeddings.create(model="command", input="a")
        assert vectors.data[0].embedding == [0.25, 0.75]
        assert vectors.usage.prompt_tokens == 2

    whole, stream = fake_upstream.calls_to("/v2/chat")
    (embed,) = fake_upstream.calls_to("/v2/embed")
    for call in (whole, stream, embed):
        assert call.headers["authorization"] == f"Bearer {COHERE_KEY}"
    assert whole.json == {
        "model": "command-a-03-2025",
        "messages": [{"role": "system", "content": "Answer in French."},
                     {"role": "user", "content": "Say hello."}],
        "p": 0.5, "stop_sequences": ["END"],
    }
    assert stream.json["stream"] is True
    assert embed.json == {"model": "command-a-03-2025", "texts": ["a"],
                          "input_type": "search_document",
                          "embedding_types": ["float"]}
    assert_secret_kept(gateway, COHERE_KEY)


# --- Ollama -------------------------------------------------------------------------

def ollama_line(content: str, done: bool = False) -> bytes:
    line: dict = {"model": "llama3.2", "created_at": "2025-01-01T00:00:00Z",
                  "message": {"role": "assistant", "content": content}, "done": done}
    if done:
        line.update(done_reason="stop", prompt_eval_count=7, eval_count=3)
    return json.dumps(line).encode() + b"\n"


@pytest.mark.parametrize("with_key", [False, True])
def test_ollama(make_gateway, fake_upstream, with_key):
    fake_upstream.script_path("/api/chat", {"json": json.loads(
        ollama_line("Bonjour !", done=True))},
        {"raw_chunks": [ollama_line("Bon"), ollama_line("jour !"),
                        ollama_line("", done=True)],
         "headers": {"Content-Type": "application/x-ndjson"}})
    fake_upstream.script_path("/api/embed", {"json": {
        "model": "llama3.2", "embeddings": [[0.5, 0.5]], "prompt_eval_count": 2}})
    params = {"model": "ollama/llama3.2", "api_base": fake_upstream.base}
    if with_key:
        params["api_key"] = "ollama-test-SECRET-4"
    gateway = make_gateway(one_model_config("llama", params))
    with sdk(gateway) as client:
        answer = client.chat.completions.create(model="llama", messages=[SYSTEM, USER],
                                                max_tokens=20, seed=3)
        assert answer.choices[0].message.content == "Bonjour !"
        assert answer.usage.total_tokens == 10
        assert check_stream(streamed(client, model="llama", messages=[USER])) == \
            "Bonjour !"
        vectors = client.embeddings.create(model="llama", input="a")
        assert vectors.data[0].embedding == [0.5, 0.5]

    whole, stream = fake_upstream.calls_to("/api/chat")
    (embed,) = fake_upstream.calls_to("/api/embed")
    assert whole.json == {
        "model": "llama3.2", "stream": False,
        "messages": [{"role": "system", "content": "Answer in French."},
                     {"role": "user", "content": "Say hello."}],
        "options": {"num_predict": 20, "seed": 3},
    }
    assert stream.json["stream"] is True
    assert embed.json == {"model": "llama3.2", "input": ["a"]}
    expected = "Bearer ollama-test-SECRET-4" if with_key else None
    for call in (whole, stream, embed):
        assert call.headers.get("authorization") == expected
