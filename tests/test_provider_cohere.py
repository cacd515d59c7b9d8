"""The Cohere adapter: Chat v2 and Embed v2 bodies, answers, typed SSE and errors."""

from __future__ import annotations


import orjson
import pytest

from app import errors
from app.providers import cohere
from app.providers.base import Call

HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(autouse=True)
def no_cohere_keys(monkeypatch):
    for name in cohere.KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def make_call(body=None, **overrides) -> Call:
    settings = {
        "endpoint": "chat", "provider": "cohere", "model": "command-a-03-2025",
        "body": {"messages": HELLO} if body is None else body,
        "api_key": "co-test-key", "requested_model": "my-command",
    }
    settings.update(overrides)
    return Call(**settings)


def sent(call: Call) -> dict:
    return orjson.loads(cohere.ADAPTER.build(call).body)


# --- build ---------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, url", [
    ({}, "https://api.cohere.com/v2/chat"),
    ({"api_base": "https://cohere.example.test/v2/chat"},
     "https://cohere.example.test/v2/chat"),
    ({"endpoint": "embeddings", "body": {"input": "x"}},
     "https://api.cohere.com/v2/embed"),
    ({"endpoint": "embeddings", "body": {"input": "x"},
      "api_base": "https://cohere.example.test/v2/chat/"},
     "https://cohere.example.test/v2/embed"),
    ({"endpoint": "embeddings", "body": {"input": "x"},
      "api_base": "https://cohere.example.test/v2"},
     "https://cohere.example.test/v2/embed"),
])
def test_urls(overrides, url):
    assert cohere.ADAPTER.build(make_call(**overrides)).url == url


def test_bearer_key_and_extra_headers():
    call = make_call(credentials={"extra_headers": {"X-Client-Name": "gw"}})
    headers = cohere.ADAPTER.build(call).headers
    assert headers["Authorization"] == "Bearer co-test-key"
    assert headers["X-Client-Name"] == "gw"


@pytest.mark.parametrize("allowed, expected", [(True, "Bearer env-key"), (False, None)])
def test_environment_key_only_when_allowed(monkeypatch, allowed, expected):
    monkeypatch.setenv("COHERE_API_KEY", "env-key")
    call = make_call(api_key=None, use_environment_credentials=allowed)
    if expected:
        assert cohere.ADAPTER.build(call).headers["Authorization"] == expected
    else:
        with pytest.raises(errors.InvalidRequest, match="no credentials"):
            cohere.ADAPTER.build(call)


def test_message_mapping():
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "found"},
    ]
    assert sent(make_call({"messages": messages}))["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]},
        {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "found"},
    ]


@pytest.mark.parametrize("message", [
    {"role": "function", "content": "x"},
    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
])
def test_untranslatable_messages_are_400(message):
    with pytest.raises(errors.InvalidRequest) as caught:
        cohere.ADAPTER.build(make_call({"messages": [message]}))
    assert caught.value.param == "messages"


def test_params_mapping_and_passthrough():
    body = sent(make_call({
        "messages": HELLO, "temperature": 0.3, "top_p": 0.8, "max_tokens": 9,
        "stop": "END", "seed": 4, "frequency_penalty": 0.1, "presence_penalty": 0.2,
        "k": 5, "safety_mode": "STRICT",
    }, stream=True))
    assert body == {
        "model": "command-a-03-2025", "messages": HELLO, "temperature": 0.3,
        "p": 0.8, "max_tokens": 9, "stop_sequences": ["END"], "seed": 4,
        "frequency_penalty": 0.1, "presence_penalty": 0.2, "stream": True,
        "k": 5, "safety_mode": "STRICT",
    }


@pytest.mark.parametrize("choice, expected", [
    ("auto", None), ("required", "REQUIRED"), ("none", "NONE"),
])
def test_tools_and_choice(choice, expected):
    tools = [{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object"}, "strict": True}}]
    body = sent(make_call({"messages": HELLO, "tools": tools, "tool_choice": choice}))
    assert body["tools"] == [{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object"}}}]
    assert body["strict_tools"] is True
    assert body.get("tool_choice") == expected


@pytest.mark.parametrize("value, expected", [
    ({"type": "json_object"}, {"type": "json_object"}),
    ({"type": "json_schema",
      "json_schema": {"name": "x", "schema": {"type": "object"}}},
     {"type": "json_object", "json_schema": {"type": "object"}}),
])
def test_response_format(value, expected):
    body = sent(make_call({"messages": HELLO, "response_format": value}))
    assert body["response_format"] == expected


@pytest.mark.parametrize("name, value", [
    ("n", 3), ("logprobs", True), ("top_logprobs", 2), ("logit_bias", {"5": 1}),
    ("reasoning_effort", "high"), ("parallel_tool_calls", False),
    ("tool_choice", {"type": "function", "function": {"name": "lookup"}}),
])
def test_unsupported_params_400_unless_dropped(name, value):
    body = {"messages": HELLO, name: value}
    with pytest.raises(errors.UnsupportedParam) as caught:
        cohere.ADAPTER.build(make_call(body))
    assert caught.value.param == name
    assert name not in sent(make_call(body, drop_params=True))


def test_legacy_prompt():
    body = sent(make_call({"prompt": "Say hi"}, endpoint="completions"))
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]


# --- parse ---------------------------------------------------------------------------

def chat_answer(content, finish="COMPLETE", tool_calls=None, **message) -> bytes:
    return orjson.dumps({
        "id": "c-1", "finish_reason": finish,
        "message": {"role": "assistant", "content": content,
                    **({"tool_calls": tool_calls} if tool_calls else {}), **message},
        "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2},
                  "tokens": {"input_tokens": 70, "output_tokens": 2}},
    })


def parse(call, content: bytes) -> dict:
    return cohere.ADAPTER.parse(call, 200, {}, content)


def test_parse_plain_answer():
    answer = parse(make_call(), chat_answer([{"type": "text", "text": "Hi!"}]))
    assert answer["object"] == "chat.completion" and answer["model"] == "my-command"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Hi!"}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 70, "completion_tokens": 2,
                               "total_tokens": 72}


def test_parse_tool_call_with_plan():
    calls = [{"id": "t1", "type": "function",
              "function": {"name": "lookup", "arguments": '{"q":"x"}'}}]
    answer = parse(make_call(), chat_answer(None, "TOOL_CALL", calls,
                                            tool_plan="I will look it up."))
    message = answer["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == calls
    assert message["reasoning_content"] == "I will look it up."
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("finish, expected", [
    ("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("MAX_TOKENS", "length"),
    ("TOOL_CALL", "tool_calls"),
])
def test_finish_reasons(finish, expected):
    answer = parse(make_call(), chat_answer([{"type": "text", "text": "x"}], finish))
    assert answer["choices"][0]["finish_reason"] == expected


@pytest.mark.parametrize("finish, cls", [
    ("ERROR", errors.UpstreamServerError), ("TIMEOUT", errors.UpstreamTimeout),
])
def test_failed_generation_raises(finish, cls):
    with pytest.raises(cls):
        parse(make_call(), chat_answer([], finish))


def test_parse_legacy_completion():
    call = make_call({"prompt": "x"}, endpoint="completions")
    answer = parse(call, chat_answer([{"type": "text", "text": "done"}], "MAX_TOKENS"))
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["text"] == "done"
    assert answer["choices"][0]["finish_reason"] == "length"


def test_embeddings_body_and_parse():
    call = make_call({"input": ["a", "b"], "dimensions": 256, "input_type":
                      "search_query"}, endpoint="embeddings", model="embed-v4.0")
    assert sent(call) == {"model": "embed-v4.0", "texts": ["a", "b"],
                          "input_type": "search_query", "embedding_types": ["float"],
                          "output_dimension": 256}
    answer = parse(call, orjson.dumps({
        "id": "e", "embeddings": {"float": [[0.1], [0.2]]}, "texts": ["a", "b"],
        "meta": {"billed_units": {"input_tokens": 2}}}))
    assert [item["embedding"] for item in answer["data"]] == [[0.1], [0.2]]
    assert answer["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


def test_embeddings_refuse_token_ids():
    with pytest.raises(errors.InvalidRequest) as caught:
        cohere.ADAPTER.build(make_call({"input": [1, 2]}, endpoint="embeddings"))
    assert caught.value.param == "input"


# --- stream --------------------------------------------------------------------------

def sse(*events: dict) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e)
                    + b"\n\n" for e in events)


RECORDED = sse(
    {"type": "message-start", "id": "m-1",
     "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "",
                           "tool_calls": [], "citations": []}}},
    {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "Look up."}}},
    {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
        "id": "lookup_1", "type": "function",
        "function": {"name": "lookup", "arguments": ""}}}}},
    {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {
        "function": {"arguments": '{"q":'}}}}},
    {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {
        "function": {"arguments": '"x"}'}}}}},
    {"type": "tool-call-end", "index": 0},
    {"type": "content-start", "index": 0,
     "delta": {"message": {"content": {"type": "text", "text": ""}}}},
    {"type": "content-delta", "index": 0,
     "delta": {"message": {"content": {"text": "Done"}}}},
    {"type": "content-end", "index": 0},
    {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": {
        "billed_units": {"input_tokens": 3, "output_tokens": 4},
        "tokens": {"input_tokens": 30, "output_tokens": 4}}}},
)


@pytest.mark.parametrize("size", [1, 5, 50, len(RECORDED)])
def test_stream_in_awkward_splits(size):
    call = make_call({"messages": HELLO, "stream_options": {"include_usage": True}},
                     stream=True)
    pieces = [RECORDED[i:i + size] for i in range(0, len(RECORDED), size)]
    chunks = list(cohere.ADAPTER.stream(call, iter(pieces)))
    assert len({chunk["id"] for chunk in chunks}) == 1
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[:-1]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"reasoning_content": "Look up."}
    assert deltas[2]["tool_calls"][0] == {
        "index": 0, "id": "lookup_1", "type": "function",
        "function": {"name": "lookup", "arguments": ""}}
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"]
                        for d in deltas if "tool_calls" in d)
    assert arguments == '{"q":"x"}'
    assert any(d.get("content") == "Done" for d in deltas)
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 30


def test_stream_message_end_error_raises():
    data = sse({"type": "message-start", "id": "m"},
               {"type": "content-delta", "delta": {"message": {"content": {
                   "text": "par"}}}},
               {"type": "message-end", "delta": {"finish_reason": "ERROR",
                                                 "error": "internal failure"}})
    stream = cohere.ADAPTER.stream(make_call(stream=True), iter([data]))
    assert next(stream)["choices"][0]["delta"]["role"] == "assistant"
    assert next(stream)["choices"][0]["delta"]["content"] == "par"
    with pytest.raises(errors.UpstreamServerError, match="internal failure"):
        next(stream)


def test_stream_cut_short_is_bad_gateway():
    data = sse({"type": "message-start", "id": "m"})
    with pytest.raises(errors.BadGateway):
        list(cohere.ADAPTER.stream(make_call(stream=True), iter([data])))


def test_stream_malformed_event_is_bad_gateway():
    with pytest.raises(errors.BadGateway):
        list(cohere.ADAPTER.stream(make_call(stream=True), iter([b"data: {oops\n\n"])))


# --- errors --------------------------------------------------------------------------

@pytest.mark.parametrize("status, message, cls", [
    (400, "invalid request: message must be at least 1 token long",
     errors.InvalidRequest),
    (400, "too many tokens: total number of tokens in the prompt cannot exceed 128000",
     errors.ContextWindowExceeded),
    (400, "invalid api token", errors.AuthenticationError),
    (401, "no api key supplied", errors.AuthenticationError),
    (498, "invalid api token", errors.AuthenticationError),
    (402, "Please add a payment method.", errors.RateLimited),
    (404, "model 'x' not found", errors.NotFound),
    (422, "unknown field: parameter foo is not a valid field", errors.InvalidRequest),
    (429, "too many tokens per minute", errors.RateLimited),
    (499, "request cancelled", errors.BadGateway),
    (500, "internal server error", errors.UpstreamServerError),
    (503, "unavailable", errors.ServiceUnavailable),
    (504, "timeout", errors.UpstreamTimeout),
])
def test_error_mapping(status, message, cls):
    error = cohere.ADAPTER.error(make_call(), status, {"retry-after": "1"},
                                 orjson.dumps({"id": "x", "message": message}))
    assert type(error) is cls
    assert error.message == message and error.upstream_status == status


def test_billing_block_says_insufficient_quota():
    error = cohere.ADAPTER.error(make_call(), 402, {}, b'{"message": "billing"}')
    assert error.code == "insufficient_quota" and error.status == 429
