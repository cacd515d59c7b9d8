"""The Ollama adapter: /api/chat and /api/embed bodies, answers, NDJSON and errors.

One test sends a built request to a loopback server started here, to show the
request is sendable as built and the stream reads from a real chunked answer.
"""

from __future__ import annotations

import base64
import http.server
import threading

import orjson
import pytest
import requests

from app import errors
from app.providers import ollama
from app.providers.base import Call

HELLO = [{"role": "user", "content": "Hello"}]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


@pytest.fixture(autouse=True)
def no_ollama_key(monkeypatch):
    monkeypatch.delenv(ollama.KEY_VARIABLE, raising=False)


def make_call(body=None, **overrides) -> Call:
    settings = {
        "endpoint": "chat", "provider": "ollama", "model": "llama3.2:3b",
        "body": {"messages": HELLO} if body is None else body,
        "requested_model": "my-llama",
    }
    settings.update(overrides)
    return Call(**settings)


def sent(call: Call) -> dict:
    return orjson.loads(ollama.ADAPTER.build(call).body)


# --- build ---------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, url", [
    ({}, "http://localhost:11434/api/chat"),
    ({"api_base": "http://gpu-box.test:11434/"}, "http://gpu-box.test:11434/api/chat"),
    ({"endpoint": "embeddings", "body": {"input": "x"}},
     "http://localhost:11434/api/embed"),
])
def test_urls(overrides, url):
    assert ollama.ADAPTER.build(make_call(**overrides)).url == url


def test_model_travels_in_the_body_not_the_path():
    request = ollama.ADAPTER.build(make_call(model="../x?y"))
    assert request.url == "http://localhost:11434/api/chat"
    assert orjson.loads(request.body)["model"] == "../x?y"


@pytest.mark.parametrize("overrides, allowed, expected", [
    ({}, True, None),
    ({"api_key": "k1"}, False, "Bearer k1"),
    ({}, False, None),
])
def test_auth_is_optional(monkeypatch, overrides, allowed, expected):
    call = make_call(use_environment_credentials=allowed, **overrides)
    assert ollama.ADAPTER.build(call).headers.get("Authorization") == expected


@pytest.mark.parametrize("allowed, expected", [(True, "Bearer env-k"), (False, None)])
def test_environment_key_only_when_allowed(monkeypatch, allowed, expected):
    monkeypatch.setenv("OLLAMA_API_KEY", "env-k")
    call = make_call(use_environment_credentials=allowed)
    assert ollama.ADAPTER.build(call).headers.get("Authorization") == expected


def test_stream_flag_is_always_explicit():
    assert sent(make_call())["stream"] is False
    assert sent(make_call(stream=True))["stream"] is True


def test_message_mapping():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url",
             "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_7", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q": "cat"}'}}]},
        {"role": "tool", "tool_call_id": "call_7", "content": "a cat"},
    ]
    assert sent(make_call({"messages": messages}))["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is this?", "images": [PNG]},
        {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "lookup", "arguments": {"q": "cat"}}}]},
        {"role": "tool", "content": "a cat", "tool_name": "lookup"},
    ]


@pytest.mark.parametrize("message", [
    {"role": "user", "content": [{"type": "image_url",
                                  "image_url": {"url": "http://example.test/a.png"}}]},
    {"role": "user", "content": [{"type": "file", "file": {}}]},
    {"role": "function", "content": "x"},
])
def test_untranslatable_messages_are_400(message):
    with pytest.raises(errors.InvalidRequest) as caught:
        ollama.ADAPTER.build(make_call({"messages": [message]}))
    assert caught.value.param == "messages"


def test_options_and_passthrough_placement():
    body = sent(make_call({
        "messages": HELLO, "temperature": 0.1, "top_p": 0.5, "max_tokens": 64,
        "stop": ["\n"], "seed": 3, "presence_penalty": 0.4, "frequency_penalty": 0.2,
        "top_k": 20, "num_ctx": 8192, "repeat_penalty": 1.1,
        "options": {"mirostat": 1}, "keep_alive": "10m", "think": False,
    }))
    assert body["options"] == {
        "temperature": 0.1, "top_p": 0.5, "num_predict": 64, "stop": ["\n"],
        "seed": 3, "presence_penalty": 0.4, "frequency_penalty": 0.2,
        "top_k": 20, "num_ctx": 8192, "repeat_penalty": 1.1, "mirostat": 1,
    }
    assert body["keep_alive"] == "10m" and body["think"] is False
    assert "top_k" not in body and "num_ctx" not in body


@pytest.mark.parametrize("value, expected", [
    ({"type": "json_object"}, "json"),
    ({"type": "json_schema",
      "json_schema": {"name": "x", "schema": {"type": "object"}}},
     {"type": "object"}),
])
def test_response_format_becomes_format(value, expected):
    assert sent(make_call({"messages": HELLO, "response_format": value}))[
        "format"] == expected


def test_reasoning_effort_becomes_think():
    assert sent(make_call({"messages": HELLO, "reasoning_effort": "high"}))[
        "think"] == "high"


TOOLS = [{"type": "function", "function": {"name": "lookup",
                                           "parameters": {"type": "object"}}}]


def test_tools_pass_and_none_sends_no_tools():
    assert sent(make_call({"messages": HELLO, "tools": TOOLS}))["tools"] == TOOLS
    body = sent(make_call({"messages": HELLO, "tools": TOOLS, "tool_choice": "none"}))
    assert "tools" not in body


@pytest.mark.parametrize("name, value", [
    ("n", 2), ("logprobs", True), ("logit_bias", {"1": 1}), ("tool_choice", "required"),
    ("reasoning_effort", "minimal"), ("parallel_tool_calls", False),
])
def test_unsupported_params_400_unless_dropped(name, value):
    body = {"messages": HELLO, "tools": TOOLS, name: value}
    with pytest.raises(errors.UnsupportedParam) as caught:
        ollama.ADAPTER.build(make_call(body))
    assert caught.value.param == name
    dropped = sent(make_call(body, drop_params=True))
    assert name not in dropped and name not in dropped.get("options", {})


def test_legacy_prompt():
    body = sent(make_call({"prompt": "Say hi"}, endpoint="completions"))
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]
    with pytest.raises(errors.UnsupportedParam) as caught:
        ollama.ADAPTER.build(make_call({"prompt": "def f(", "suffix": "return x"},
                                       endpoint="completions"))
    assert caught.value.param == "suffix"


# --- parse ---------------------------------------------------------------------------

def chat_answer(message, done_reason="stop") -> bytes:
    return orjson.dumps({
        "model": "llama3.2:3b", "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", **message}, "done_reason": done_reason,
        "done": True, "total_duration": 5, "prompt_eval_count": 26, "eval_count": 7,
    })


def parse(call, content: bytes) -> dict:
    return ollama.ADAPTER.parse(call, 200, {}, content)


def test_parse_plain_answer():
    answer = parse(make_call(), chat_answer({"content": "Hi there", "thinking": "hm"}))
    assert answer["model"] == "my-llama"
    assert answer["choices"][0]["message"] == {
        "role": "assistant", "content": "Hi there", "reasoning_content": "hm"}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 26, "completion_tokens": 7,
                               "total_tokens": 33}


def test_parse_tool_calls_get_json_text_arguments():
    answer = parse(make_call(), chat_answer({"content": "", "tool_calls": [
        {"function": {"name": "lookup", "arguments": {"q": "cat", "n": 2}}}]}))
    message = answer["choices"][0]["message"]
    assert message["content"] is None
    call = message["tool_calls"][0]
    assert call["type"] == "function" and call["id"]
    assert call["function"]["name"] == "lookup"
    assert orjson.loads(call["function"]["arguments"]) == {"q": "cat", "n": 2}
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("done_reason, finish", [
    ("stop", "stop"), ("length", "length"), ("load", "stop"), (None, "stop"),
])
def test_finish_reasons(done_reason, finish):
    answer = parse(make_call(), chat_answer({"content": "x"}, done_reason))
    assert answer["choices"][0]["finish_reason"] == finish


def test_parse_legacy_completion():
    call = make_call({"prompt": "x"}, endpoint="completions")
    answer = parse(call, chat_answer({"content": "done"}, "length"))
    assert answer["object"] == "text_completion"
    assert answer["choices"][0] == {"index": 0, "text": "done", "logprobs": None,
                                    "finish_reason": "length"}


def test_error_body_on_200_raises():
    with pytest.raises(errors.UpstreamServerError, match="runner crashed"):
        parse(make_call(), b'{"error": "runner crashed"}')


def test_embeddings_body_and_parse():
    call = make_call({"input": ["a", "b"], "dimensions": 64, "truncate": False,
                      "keep_alive": 0}, endpoint="embeddings", model="all-minilm")
    assert sent(call) == {"model": "all-minilm", "input": ["a", "b"],
                          "dimensions": 64, "truncate": False, "keep_alive": 0}
    answer = parse(call, orjson.dumps({"model": "all-minilm",
                                       "embeddings": [[0.1, 0.2], [0.3, 0.4]],
                                       "prompt_eval_count": 8}))
    assert [item["embedding"] for item in answer["data"]] == [[0.1, 0.2], [0.3, 0.4]]
    assert answer["usage"] == {"prompt_tokens": 8, "total_tokens": 8}


# --- stream --------------------------------------------------------------------------

def ndjson(*objects: dict) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in objects)


RECORDED = ndjson(
    {"model": "m", "message": {"role": "assistant", "content": "",
                               "thinking": "Let me see."}, "done": False},
    {"model": "m", "message": {"role": "assistant", "content": "It is"}, "done": False},
    {"model": "m", "message": {"role": "assistant", "content": " sunny."},
     "done": False},
    {"model": "m", "message": {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "weather", "arguments": {"city": "Oslo"}}}]},
     "done": False},
    {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
     "done_reason": "stop", "prompt_eval_count": 11, "eval_count": 6},
)


@pytest.mark.parametrize("size", [1, 9, 100, len(RECORDED)])
def test_stream_in_awkward_splits(size):
    call = make_call({"messages": HELLO, "stream_options": {"include_usage": True}},
                     stream=True)
    pieces = [RECORDED[i:i + size] for i in range(0, len(RECORDED), size)]
    chunks = list(ollama.ADAPTER.stream(call, iter(pieces)))
    assert len({chunk["id"] for chunk in chunks}) == 1
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[:-1]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"reasoning_content": "Let me see."}
    assert "".join(d.get("content", "") for d in deltas) == "It is sunny."
    tool = next(d["tool_calls"][0] for d in deltas if "tool_calls" in d)
    assert tool["index"] == 0 and tool["function"]["name"] == "weather"
    assert orjson.loads(tool["function"]["arguments"]) == {"city": "Oslo"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 17


def test_stream_error_line_raises():
    data = ndjson({"message": {"role": "assistant", "content": "Hi"}, "done": False},
                  {"error": "an error was encountered while running the model"})
    stream = ollama.ADAPTER.stream(make_call(stream=True), iter([data]))
    assert next(stream)["choices"][0]["delta"]["role"] == "assistant"
    assert next(stream)["choices"][0]["delta"]["content"] == "Hi"
    with pytest.raises(errors.UpstreamServerError, match="running the model"):
        next(stream)


def test_stream_context_error_line_is_context_window():
    data = ndjson({"error": "input length exceeds the context length"})
    with pytest.raises(errors.ContextWindowExceeded):
        list(ollama.ADAPTER.stream(make_call(stream=True), iter([data])))


@pytest.mark.parametrize("data", [
    ndjson({"message": {"content": "cut"}, "done": False}),
    b"not json\n",
])
def test_broken_streams_are_bad_gateway(data):
    with pytest.raises(errors.BadGateway):
        list(ollama.ADAPTER.stream(make_call(stream=True), iter([data])))


# --- errors --------------------------------------------------------------------------

@pytest.mark.parametrize("status, message, cls", [
    (400, "invalid options: num_ctx", errors.InvalidRequest),
    (400, "input length exceeds the context length", errors.ContextWindowExceeded),
    (401, "unauthorized", errors.AuthenticationError),
    (404, 'model "llama9" not found, try pulling it first', errors.NotFound),
    (429, "too many requests", errors.RateLimited),
    (500, "llama runner process has terminated", errors.UpstreamServerError),
    (503, "server busy", errors.ServiceUnavailable),
])
def test_error_mapping(status, message, cls):
    error = ollama.ADAPTER.error(make_call(), status, {},
                                 orjson.dumps({"error": message}))
    assert type(error) is cls and error.message == message


# --- one real exchange over loopback -------------------------------------------------

class _FakeOllama(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
        length = int(self.headers["Content-Length"])
        self.received.append((self.path, dict(self.headers),
                              orjson.loads(self.rfile.read(length))))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (RECORDED[:50], RECORDED[50:51], RECORDED[51:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def loopback_ollama():
    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeOllama)
    _FakeOllama.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_built_request_streams_from_a_real_server(loopback_ollama):
    call = make_call(api_base=loopback_ollama, api_key="k", stream=True)
    request = ollama.ADAPTER.build(call)
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(request.url, data=request.body,
                                headers=request.headers, stream=True, timeout=5)
        chunks = list(ollama.ADAPTER.stream(call, response.iter_content(None)))
    path, headers, body = _FakeOllama.received[0]
    assert path == "/api/chat" and headers["Authorization"] == "Bearer k"
    assert body["model"] == "llama3.2:3b" and body["stream"] is True
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "It is sunny."
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
