"""The Anthropic adapter: request building, answers, streams and errors."""

from __future__ import annotations

import json

import pytest

from app import errors
from app.providers import anthropic
from app.providers.anthropic import ADAPTER
from tests.providers_support import (
    awkward_chunks,
    body_of,
    fixture_bytes,
    fixture_json,
    joined_arguments,
    joined_content,
    make_call,
)

MODEL = "claude-sonnet-4-5"


def call_with(body: dict | None = None, **overrides) -> object:
    return make_call("anthropic", MODEL, body, **overrides)


def chat(*messages: dict, **params) -> dict:
    return {"messages": list(messages), **params}


USER = {"role": "user", "content": "What is the weather in Paris?"}


# --- build: URL, headers, body ------------------------------------------------

def test_build_plain_chat():
    request = ADAPTER.build(call_with(chat(USER, temperature=0.2, top_p=0.9)))
    assert request.method == "POST"
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "test-key"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert "Authorization" not in request.headers
    assert body_of(request) == {
        "model": MODEL,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is the weather in Paris?"}]}],
        "max_tokens": 4096,
        "temperature": 0.2,
        "top_p": 0.9,
    }


@pytest.mark.parametrize("base, url", [
    (None, "https://api.anthropic.com/v1/messages"),
    ("https://proxy.test", "https://proxy.test/v1/messages"),
    ("https://proxy.test/", "https://proxy.test/v1/messages"),
    ("https://proxy.test/v1/messages", "https://proxy.test/v1/messages"),
    ("https://proxy.test/anthropic/v1/messages/",
     "https://proxy.test/anthropic/v1/messages"),
])
def test_api_base_is_the_host_root(base, url):
    assert ADAPTER.build(call_with(api_base=base)).url == url


def test_stream_flag_version_and_extra_headers():
    call = call_with(chat(USER, stream=True), stream=True, credentials={
        "anthropic_version": "2024-01-01",
        "extra_headers": {"anthropic-beta": "tools-2024"}})
    request = ADAPTER.build(call)
    assert body_of(request)["stream"] is True
    assert request.headers["anthropic-version"] == "2024-01-01"
    assert request.headers["anthropic-beta"] == "tools-2024"


def test_model_name_stays_in_the_body_not_the_url():
    request = ADAPTER.build(make_call("anthropic", "../x?y"))
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert body_of(request)["model"] == "../x?y"


def test_system_and_developer_messages_are_lifted_and_turns_merged():
    body = chat(
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "One"},
        {"role": "developer", "content": [{"type": "text", "text": "Use French.",
                                           "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": [{"type": "text", "text": "Two"}]},
        {"role": "system", "content": ""},
    )
    sent = body_of(ADAPTER.build(call_with(body)))
    assert sent["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Use French.", "cache_control": {"type": "ephemeral"}},
    ]
    assert sent["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "One"}, {"type": "text", "text": "Two"}]}]


@pytest.mark.parametrize("params, expected", [
    ({}, {"max_tokens": 4096}),
    ({"max_tokens": 300}, {"max_tokens": 300}),
    ({"max_tokens": 300, "max_completion_tokens": 500}, {"max_tokens": 500}),
    ({"reasoning_effort": "low"},
     {"max_tokens": 4096 + 1024,
      "thinking": {"type": "enabled", "budget_tokens": 1024}}),
    ({"reasoning_effort": "high", "max_tokens": 9000},
     {"max_tokens": 9000, "thinking": {"type": "enabled", "budget_tokens": 4096}}),
    ({"reasoning_effort": "none"}, {"max_tokens": 4096}),
])
def test_max_tokens_default_and_thinking(params, expected):
    sent = body_of(ADAPTER.build(call_with(chat(USER, **params))))
    assert {key: sent.get(key) for key in expected} == expected
    if "thinking" not in expected:
        assert "thinking" not in sent


@pytest.mark.parametrize("value", [0, -5, "100", True])
def test_bad_max_tokens_is_a_400(value):
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(call_with(chat(USER, max_tokens=value)))
    assert caught.value.param == "max_tokens"


# --- tools --------------------------------------------------------------------

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def test_tools_and_a_tool_round_trip_in_the_request():
    body = chat(
        USER,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city": "Lyon"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2",
         "content": [{"type": "text", "text": "21C"}]},
        {"role": "user", "content": "And tomorrow?"},
        tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "noop"}}],
        tool_choice="auto",
    )
    sent = body_of(ADAPTER.build(call_with(body)))
    assert sent["tools"] == [
        {"name": "get_weather", "description": "Weather for a city",
         "input_schema": WEATHER_TOOL["function"]["parameters"]},
        {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert sent["tool_choice"] == {"type": "auto"}
    assert [turn["role"] for turn in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
         "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather",
         "input": {"city": "Lyon"}},
    ]
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_2",
         "content": [{"type": "text", "text": "21C"}]},
        {"type": "text", "text": "And tomorrow?"},
    ]


@pytest.mark.parametrize("choice, parallel, expected", [
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, None,
     {"type": "tool", "name": "get_weather"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ("none", False, {"type": "none"}),
    (None, True, None),
])
def test_tool_choice_mapping(choice, parallel, expected):
    params = {"tools": [WEATHER_TOOL]}
    if choice is not None:
        params["tool_choice"] = choice
    if parallel is not None:
        params["parallel_tool_calls"] = parallel
    sent = body_of(ADAPTER.build(call_with(chat(USER, **params))))
    assert sent.get("tool_choice") == expected


@pytest.mark.parametrize("message", [
    {"role": "assistant", "tool_calls": [{"id": "t", "type": "function",
                                          "function": {"name": "f",
                                                       "arguments": "not json"}}]},
    {"role": "assistant", "tool_calls": [{"type": "function",
                                          "function": {"name": "f"}}]},
    {"role": "tool", "content": "no id"},
    {"role": "function", "name": "f", "content": "legacy"},
])
def test_malformed_tool_messages_are_400(message):
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(call_with(chat(USER, message)))
    assert caught.value.param == "messages"


# --- images and other parts ---------------------------------------------------

def test_images_data_url_and_https_url():
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url",
         "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://img.test/cat.jpg",
                                            "detail": "high"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}},
    ]
    sent = body_of(ADAPTER.build(call_with(chat({"role": "user", "content": content}))))
    assert sent["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://img.test/cat.jpg"}},
        {"type": "document", "source": {"type": "base64",
                                        "media_type": "application/pdf",
                                        "data": "JVBERi0="}},
    ]


def test_image_with_other_scheme_is_a_400():
    part = {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}
    with pytest.raises(errors.InvalidRequest):
        ADAPTER.build(call_with(chat({"role": "user", "content": [part]})))


def test_audio_input_is_refused_unless_dropped():
    audio = {"type": "input_audio", "input_audio": {"data": "AAA=", "format": "wav"}}
    body = chat({"role": "user", "content": [{"type": "text", "text": "hi"}, audio]})
    with pytest.raises(errors.UnsupportedParam):
        ADAPTER.build(call_with(body))
    sent = body_of(ADAPTER.build(call_with(body, drop_params=True)))
    assert sent["messages"][0]["content"] == [{"type": "text", "text": "hi"}]


# --- unsupported and pass-through params ---------------------------------------

@pytest.mark.parametrize("name, value", [
    ("n", 2), ("seed", 7), ("logit_bias", {"50256": -100}), ("logprobs", True),
    ("presence_penalty", 0.5), ("frequency_penalty", 1.0), ("top_logprobs", 2),
    ("modalities", ["text", "audio"]), ("functions", [{"name": "f"}]),
    ("response_format", {"type": "json_object"}),
])
def test_unsupported_param_is_400_or_dropped(name, value):
    with pytest.raises(errors.UnsupportedParam) as caught:
        ADAPTER.build(call_with(chat(USER, **{name: value})))
    assert caught.value.param == name
    assert caught.value.status == 400
    sent = body_of(ADAPTER.build(call_with(chat(USER, **{name: value}),
                                           drop_params=True)))
    assert name not in sent and "output_config" not in sent


@pytest.mark.parametrize("name, value", [
    ("n", 1), ("presence_penalty", 0), ("logprobs", False), ("store", False),
    ("parallel_tool_calls", True), ("safety_identifier", "u1"),
])
def test_default_valued_params_are_not_refused(name, value):
    sent = body_of(ADAPTER.build(call_with(chat(USER, **{name: value}))))
    assert name not in sent


def test_passthrough_params_go_top_level():
    thinking = {"type": "enabled", "budget_tokens": 2000}
    body = chat(USER, top_k=5, thinking=thinking, reasoning_effort="low",
                metadata={"trace": "x"}, user="user-42")
    sent = body_of(ADAPTER.build(call_with(body)))
    assert sent["top_k"] == 5
    assert sent["thinking"] == thinking  # the client's own block wins
    assert sent["metadata"] == {"user_id": "user-42", "trace": "x"}


@pytest.mark.parametrize("user, sent_user", [
    ("user-42", {"user_id": "user-42"}),
    ("ann@example.com", None),
    ("+1 (555) 010-9999", None),
])
def test_user_becomes_metadata_unless_it_is_personal(user, sent_user):
    sent = body_of(ADAPTER.build(call_with(chat(USER, user=user))))
    assert sent.get("metadata") == sent_user


def test_json_schema_response_format_becomes_output_config():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = chat(USER, response_format={"type": "json_schema", "json_schema": {
        "name": "x", "schema": schema}})
    sent = body_of(ADAPTER.build(call_with(body)))
    assert sent["output_config"] == {"format": {"type": "json_schema",
                                                "schema": schema}}


@pytest.mark.parametrize("stop, drop, expected", [
    ("END", False, ["END"]),
    (["a", "b"], False, ["a", "b"]),
    (["\n", "b"], True, ["b"]),
    (["\n"], True, None),
])
def test_stop_sequences(stop, drop, expected):
    sent = body_of(ADAPTER.build(call_with(chat(USER, stop=stop), drop_params=drop)))
    assert sent.get("stop_sequences") == expected


def test_whitespace_stop_is_refused_without_drop_params():
    with pytest.raises(errors.UnsupportedParam) as caught:
        ADAPTER.build(call_with(chat(USER, stop=["\n"])))
    assert caught.value.param == "stop"


# --- credentials ---------------------------------------------------------------

def test_environment_key_used_when_allowed(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    request = ADAPTER.build(call_with(api_key=None))
    assert request.headers["x-api-key"] == "env-key"


def test_deployment_key_wins_over_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    assert ADAPTER.build(call_with()).headers["x-api-key"] == "test-key"


def test_environment_key_never_used_when_forbidden(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(call_with(api_key=None, use_environment_credentials=False))
    assert "no credentials" in caught.value.message


def test_no_key_anywhere_is_a_400(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(errors.InvalidRequest):
        ADAPTER.build(call_with(api_key=None))


def test_embeddings_are_refused_naming_the_endpoint():
    call = call_with({"input": "hello"}, endpoint="embeddings")
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(call)
    assert caught.value.status == 400
    assert "embeddings" in caught.value.message


# --- parse ---------------------------------------------------------------------

def answer(content: list[dict], stop_reason: str = "end_turn", **usage) -> bytes:
    return json.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
        "content": content, "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 3, **usage}}).encode()


def test_parse_plain_answer():
    result = ADAPTER.parse(call_with(), 200, {}, answer([
        {"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}]))
    assert result["object"] == "chat.completion"
    assert result["id"].startswith("chatcmpl-")
    assert result["model"] == f"alias-{MODEL}"
    assert result["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "stop",
                                  "message": {"role": "assistant",
                                              "content": "Hello there"}}]
    assert result["usage"] == {"prompt_tokens": 10, "completion_tokens": 3,
                               "total_tokens": 13}


def test_parse_tool_use_thinking_and_cached_usage():
    content = json.dumps(fixture_json("anthropic_tool_use.json")).encode()
    result = ADAPTER.parse(call_with(), 200, {}, content)
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me look that up."
    assert message["reasoning_content"] == "The user wants weather."
    assert message["thinking_blocks"][0]["signature"] == "sig-abc"
    assert message["tool_calls"] == [{"id": "toolu_02", "type": "function",
                                      "function": {"name": "get_weather",
                                                   "arguments": '{"city":"Paris",'
                                                                '"unit":"c"}'}}]
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {
        "city": "Paris", "unit": "c"}
    assert result["usage"] == {"prompt_tokens": 150, "completion_tokens": 15,
                               "total_tokens": 165,
                               "prompt_tokens_details": {"cached_tokens": 30}}


def test_thinking_blocks_go_back_on_the_assistant_turn():
    blocks = [{"type": "thinking", "thinking": "hmm", "signature": "sig"}]
    body = chat(USER, {"role": "assistant", "content": "Yes",
                       "thinking_blocks": blocks}, {"role": "user", "content": "ok"})
    sent = body_of(ADAPTER.build(call_with(body)))
    assert sent["messages"][1]["content"] == [blocks[0], {"type": "text",
                                                          "text": "Yes"}]


def test_parse_only_tool_use_gives_null_content():
    result = ADAPTER.parse(call_with(), 200, {}, answer(
        [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}], "tool_use"))
    assert result["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize("stop_reason, finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("tool_use", "tool_calls"), ("refusal", "content_filter"),
    ("model_context_window_exceeded", "length"), ("pause_turn", "stop"),
    ("something_new", "stop"),
])
def test_finish_reasons(stop_reason, finish):
    result = ADAPTER.parse(call_with(), 200, {}, answer(
        [{"type": "text", "text": "x"}], stop_reason))
    assert result["choices"][0]["finish_reason"] == finish


def test_parse_malformed_json_is_bad_gateway():
    with pytest.raises(errors.BadGateway):
        ADAPTER.parse(call_with(), 200, {}, b"<html>")


# --- legacy completions --------------------------------------------------------

def completions_call(**overrides) -> object:
    body = {"prompt": "Say hi", "max_tokens": 20, **overrides.pop("body", {})}
    return call_with(body, endpoint="completions", **overrides)


def test_completions_prompt_becomes_one_user_message():
    sent = body_of(ADAPTER.build(completions_call()))
    assert sent["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Say hi"}]}]
    assert sent["max_tokens"] == 20
    assert "prompt" not in sent


def test_completions_answer_is_a_text_completion():
    result = ADAPTER.parse(completions_call(), 200, {}, answer(
        [{"type": "text", "text": "hi!"}], "max_tokens"))
    assert result["object"] == "text_completion"
    assert result["id"].startswith("cmpl-")
    assert result["choices"] == [{"index": 0, "text": "hi!", "logprobs": None,
                                  "finish_reason": "length"}]
    assert result["usage"]["total_tokens"] == 13


@pytest.mark.parametrize("body", [
    {"prompt": ["one", "two"]}, {"prompt": [1, 2, 3]}, {"prompt": None}])
def test_completions_need_one_text_prompt(body):
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(call_with(body, endpoint="completions"))
    assert caught.value.param == "prompt"


def test_completions_legacy_only_params_are_refused():
    with pytest.raises(errors.UnsupportedParam) as caught:
        ADAPTER.build(completions_call(body={"echo": True}))
    assert caught.value.param == "echo"
    sent = body_of(ADAPTER.build(completions_call(body={"suffix": "x"},
                                                  drop_params=True)))
    assert "suffix" not in sent


def test_completions_stream_yields_text_chunks():
    raw = awkward_chunks(fixture_bytes("anthropic_stream.sse"), 11)
    chunks = list(ADAPTER.stream(completions_call(stream=True), raw))
    assert {chunk["object"] for chunk in chunks} == {"text_completion"}
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == \
        "Checking Zürich weather 🌤"


# --- stream --------------------------------------------------------------------

def stream_call(include_usage: bool = True) -> object:
    body = chat(USER, stream=True)
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return call_with(body, stream=True)


@pytest.mark.parametrize("size", [1, 3, 7, 64, 100000])
def test_stream_full_recording(size):
    raw = awkward_chunks(fixture_bytes("anthropic_stream.sse"), size)
    chunks = list(ADAPTER.stream(stream_call(), raw))
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert len({chunk["created"] for chunk in chunks}) == 1
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["model"] for chunk in chunks} == {f"alias-{MODEL}"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert joined_content(chunks) == "Checking Zürich weather 🌤"
    starts = [call for chunk in chunks for choice in chunk["choices"]
              for call in choice["delta"].get("tool_calls") or () if "id" in call]
    assert starts == [{"index": 0, "id": "toolu_01", "type": "function",
                       "function": {"name": "get_weather", "arguments": ""}}]
    assert json.loads(joined_arguments(chunks)) == {"city": "Zürich"}
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "tool_calls" and finish.count(None) == len(finish) - 1
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 30, "completion_tokens": 42,
                                   "total_tokens": 72,
                                   "prompt_tokens_details": {"cached_tokens": 5}}


def test_stream_without_include_usage_has_no_usage_chunk():
    raw = awkward_chunks(fixture_bytes("anthropic_stream.sse"))
    chunks = list(ADAPTER.stream(stream_call(include_usage=False), raw))
    assert all(chunk["choices"] for chunk in chunks)
    assert all("usage" not in chunk for chunk in chunks)


def test_stream_thinking_deltas_become_reasoning_content():
    def block_delta(delta: dict) -> tuple[str, dict]:
        return ("content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": delta})

    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "m", "usage": {"input_tokens": 3, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking",
                                                   "thinking": ""}}),
        block_delta({"type": "thinking_delta", "thinking": "Hm."}),
        block_delta({"type": "signature_delta", "signature": "s"}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 4}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    raw = "".join(f"event: {n}\ndata: {json.dumps(d)}\n\n" for n, d in events)
    chunks = list(ADAPTER.stream(stream_call(include_usage=False), [raw.encode()]))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert {"reasoning_content": "Hm."} in deltas
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("error_type, cls", [
    ("overloaded_error", errors.ServiceUnavailable),
    ("rate_limit_error", errors.RateLimited),
    ("api_error", errors.UpstreamServerError),
    ("invalid_request_error", errors.InvalidRequest),
])
def test_stream_error_event_raises_its_class(error_type, cls):
    raw = fixture_bytes("anthropic_stream.sse").split(b"event: content_block_stop")[0]
    raw += (b"event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \""
            + error_type.encode() + b"\", \"message\": \"Overloaded\"}}\n\n")
    stream = ADAPTER.stream(stream_call(), awkward_chunks(raw))
    with pytest.raises(cls) as caught:
        list(stream)
    assert type(caught.value) is cls
    assert caught.value.message == "Overloaded"


def test_stream_cut_short_is_bad_gateway():
    raw = fixture_bytes("anthropic_stream.sse").split(b"event: message_delta")[0]
    with pytest.raises(errors.BadGateway):
        list(ADAPTER.stream(stream_call(), awkward_chunks(raw)))


# --- errors --------------------------------------------------------------------

def error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": error_type,
                                                  "message": message},
                       "request_id": "req_1"}).encode()


@pytest.mark.parametrize("status, content, cls", [
    (400, error_body("invalid_request_error",
                     "prompt is too long: 210000 tokens > 200000 maximum"),
     errors.ContextWindowExceeded),
    (400, error_body("invalid_request_error", "input length and `max_tokens` "
                     "exceed context limit: 198000 + 8192 > 200000"),
     errors.ContextWindowExceeded),
    (400, error_body("invalid_request_error",
                     "Output blocked by content filtering policy"),
     errors.ContentPolicyViolation),
    (400, error_body("invalid_request_error", "messages: field required"),
     errors.InvalidRequest),
    (400, error_body("invalid_request_error", "Your credit balance is too low to "
                     "access the Anthropic API."), errors.PermissionDenied),
    (401, error_body("authentication_error", "invalid x-api-key"),
     errors.AuthenticationError),
    (402, error_body("billing_error", "Billing issue"), errors.PermissionDenied),
    (403, error_body("permission_error", "No access"), errors.PermissionDenied),
    (404, error_body("not_found_error", "model: claude-x"), errors.NotFound),
    (413, b"<html>Request Entity Too Large</html>", errors.InvalidRequest),
    (413, error_body("request_too_large", "Request exceeds the maximum size"),
     errors.InvalidRequest),
    (429, error_body("rate_limit_error", "Number of requests has exceeded"),
     errors.RateLimited),
    (500, error_body("api_error", "Internal server error"),
     errors.UpstreamServerError),
    (504, error_body("timeout_error", "Request timed out"), errors.UpstreamTimeout),
    (529, error_body("overloaded_error", "Overloaded"), errors.ServiceUnavailable),
    (529, b"", errors.ServiceUnavailable),
])
def test_error_classes(status, content, cls):
    error = ADAPTER.error(call_with(), status, {}, content)
    assert type(error) is cls
    assert error.upstream_status == status


def test_error_keeps_message_and_retry_headers():
    headers = {"retry-after": "12", "request-id": "req_1"}
    error = ADAPTER.error(call_with(), 429, headers,
                          error_body("rate_limit_error", "Slow down"))
    assert isinstance(error, errors.RateLimited)
    assert error.message == "Slow down"
    assert error.headers == {"retry-after": "12"}


def test_529_overloaded_is_retryable():
    error = ADAPTER.error(call_with(), 529, {},
                          error_body("overloaded_error", "Overloaded"))
    assert error.retryable and error.status == 503


def test_module_constants_match_the_docs():
    assert anthropic.DEFAULT_VERSION == "2023-06-01"
    assert anthropic.messages_url("https://h") == "https://h/v1/messages"


def test_config_anthropic_version_is_a_header_not_a_body_field():
    """A config's litellm_params reach the adapter as body params."""
    request = ADAPTER.build(call_with(chat(USER, anthropic_version="2024-10-22")))
    assert request.headers["anthropic-version"] == "2024-10-22"
    assert "anthropic_version" not in body_of(request)


@pytest.mark.parametrize("limit, status", [(1024, 400), (1025, 200)])
def test_max_tokens_must_exceed_the_thinking_budget(limit, status):
    body = chat(USER, reasoning_effort="low", max_tokens=limit)
    if status == 400:
        with pytest.raises(errors.InvalidRequest) as caught:
            ADAPTER.build(call_with(body))
        assert caught.value.param == "max_tokens"
    else:
        sent = body_of(ADAPTER.build(call_with(body)))
        assert sent["max_tokens"] == 1025
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
