"""The Gemini adapter: request building, answers, streams, embeddings and errors."""

from __future__ import annotations

import base64
import json
import struct
from urllib.parse import urlsplit

import pytest

from app import errors
from app.providers.gemini import ADAPTER
from app.providers.gemini_messages import SIGNATURE_MARK
from tests.providers_support import (
    awkward_chunks,
    body_of,
    fixture_bytes,
    fixture_json,
    joined_content,
    make_call,
)

MODEL = "gemini-2.5-flash"
BASE = "https://generativelanguage.googleapis.com/v1beta"
USER = {"role": "user", "content": "What is the weather in Paris?"}


def call_with(body: dict | None = None, **overrides) -> object:
    return make_call("gemini", MODEL, body, **overrides)


def chat(*messages: dict, **params) -> dict:
    return {"messages": list(messages), **params}


def sent(body: dict, **overrides) -> dict:
    return body_of(ADAPTER.build(call_with(body, **overrides)))


# --- build: URL, headers, body ------------------------------------------------

def test_build_plain_chat():
    request = ADAPTER.build(call_with(chat(USER)))
    assert request.method == "POST"
    assert request.url == f"{BASE}/models/{MODEL}:generateContent"
    assert request.headers["x-goog-api-key"] == "test-key"
    assert "key=" not in request.url
    assert body_of(request) == {"contents": [
        {"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}]}


@pytest.mark.parametrize("base, stream, url", [
    (None, True, f"{BASE}/models/{MODEL}:streamGenerateContent?alt=sse"),
    ("https://proxy.test/v1", False,
     f"https://proxy.test/v1/models/{MODEL}:generateContent"),
    ("https://proxy.test/v1/", True,
     f"https://proxy.test/v1/models/{MODEL}:streamGenerateContent?alt=sse"),
])
def test_api_base_is_the_versioned_root(base, stream, url):
    assert ADAPTER.build(call_with(api_base=base, stream=stream)).url == url


@pytest.mark.parametrize("model, segment", [
    ("../x?y", "..%2Fx%3Fy"),
    ("a/b#c", "a%2Fb%23c"),
    ("models/gemini-pro", "gemini-pro"),
    ("tuned model", "tuned%20model"),
])
def test_model_name_is_one_encoded_path_segment(model, segment):
    request = ADAPTER.build(make_call("gemini", model))
    parts = urlsplit(request.url)
    assert parts.path == f"/v1beta/models/{segment}:generateContent"
    assert parts.query == "" and parts.fragment == ""
    assert parts.netloc == "generativelanguage.googleapis.com"


def test_system_and_developer_become_system_instruction():
    body = chat({"role": "system", "content": "Be brief."},
                USER,
                {"role": "developer", "content": [{"type": "text",
                                                   "text": "Answer in French."}]},
                {"role": "user", "content": "Thanks"},
                {"role": "assistant", "content": "De rien"})
    out = sent(body)
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."},
                                                  {"text": "Answer in French."}]}
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "What is the weather in Paris?"},
                                   {"text": "Thanks"}]},
        {"role": "model", "parts": [{"text": "De rien"}]},
    ]


@pytest.mark.parametrize("params, config", [
    ({}, None),
    ({"temperature": 0, "top_p": 0.5}, {"temperature": 0, "topP": 0.5}),
    ({"max_tokens": 100}, {"maxOutputTokens": 100}),
    ({"max_tokens": 100, "max_completion_tokens": 50}, {"maxOutputTokens": 50}),
    ({"stop": "END"}, {"stopSequences": ["END"]}),
    ({"n": 2, "seed": 3}, {"candidateCount": 2, "seed": 3}),
    ({"n": 1}, None),
    ({"presence_penalty": 0.5, "frequency_penalty": -1},
     {"presencePenalty": 0.5, "frequencyPenalty": -1}),
    ({"reasoning_effort": "low"}, {"thinkingConfig": {"thinkingBudget": 1024}}),
    ({"reasoning_effort": "none"}, {"thinkingConfig": {"thinkingBudget": 0}}),
    ({"response_format": {"type": "text"}}, None),
    ({"response_format": {"type": "json_object"}},
     {"responseMimeType": "application/json"}),
    ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object"}}}},
     {"responseMimeType": "application/json",
      "responseJsonSchema": {"type": "object"}}),
])
def test_generation_config(params, config):
    assert sent(chat(USER, **params)).get("generationConfig") == config


@pytest.mark.parametrize("params, param", [
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"response_format": {"type": "json_schema"}}, "response_format"),
    ({"stop": [1, 2]}, "stop"),
])
def test_malformed_params_are_400(params, param):
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(call_with(chat(USER, **params)))
    assert caught.value.param == param


# --- tools --------------------------------------------------------------------

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "additionalProperties": False,
                   "properties": {"city": {"type": "string"}}}}}


def test_tools_and_a_tool_round_trip_in_the_request():
    signed = f"call_abc{SIGNATURE_MARK}c2lnLzE="
    body = chat(
        USER,
        {"role": "assistant", "content": "Looking.", "tool_calls": [
            {"id": signed, "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_def", "type": "function", "function": {
                "name": "get_time", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": signed, "content": '{"temp": 18}'},
        {"role": "tool", "tool_call_id": "call_def", "content": "noon"},
        tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "get_time"}}],
        tool_choice="required",
    )
    out = sent(body)
    assert out["tools"] == [{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather for a city",
         "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"]},
        {"name": "get_time"}]}]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert out["contents"][1] == {"role": "model", "parts": [
        {"text": "Looking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
         "thoughtSignature": "c2lnLzE="},
        {"functionCall": {"name": "get_time", "args": {}}}]}
    assert out["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
        {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}}]}


@pytest.mark.parametrize("choice, config", [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
])
def test_tool_choice_modes(choice, config):
    out = sent(chat(USER, tools=[WEATHER_TOOL], tool_choice=choice))
    assert out["toolConfig"] == {"functionCallingConfig": config}


def test_tool_message_for_an_unknown_call_is_400():
    body = chat(USER, {"role": "tool", "tool_call_id": "call_zzz", "content": "x"})
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(call_with(body))
    assert caught.value.param == "messages"


# --- images and media ---------------------------------------------------------

def image(url: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": "Look"},
                                        {"type": "image_url",
                                         "image_url": {"url": url}}]}


@pytest.mark.parametrize("url, part", [
    ("data:image/png;base64,iVBORw0KGgo=",
     {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}),
    ("gs://bucket/cat.png",
     {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.png"}}),
    ("https://generativelanguage.googleapis.com/v1beta/files/abc",
     {"fileData": {"mimeType": "image/jpeg", "fileUri":
                   "https://generativelanguage.googleapis.com/v1beta/files/abc"}}),
])
def test_image_parts(url, part):
    assert sent(chat(image(url)))["contents"][0]["parts"][1] == part


def test_plain_https_image_is_refused_unless_dropped():
    body = chat(image("https://img.test/cat.jpg"))
    with pytest.raises(errors.UnsupportedParam) as caught:
        ADAPTER.build(call_with(body))
    assert caught.value.param == "messages"
    out = sent(body, drop_params=True)
    assert out["contents"][0]["parts"] == [{"text": "Look"}]


def test_audio_and_file_parts_go_inline():
    content = [{"type": "input_audio",
                "input_audio": {"data": "UklG", "format": "wav"}},
               {"type": "file",
                "file": {"file_data": "data:application/pdf;base64,JVBE"}}]
    parts = sent(chat({"role": "user", "content": content}))["contents"][0]["parts"]
    assert parts == [{"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
                     {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]


# --- unsupported and pass-through params ---------------------------------------

@pytest.mark.parametrize("name, value", [
    ("logprobs", True), ("top_logprobs", 3), ("logit_bias", {"1": 2}),
    ("parallel_tool_calls", False), ("modalities", ["audio"]),
    ("prediction", {"type": "content"}), ("store", True),
])
def test_unsupported_param_is_400_or_dropped(name, value):
    with pytest.raises(errors.UnsupportedParam) as caught:
        ADAPTER.build(call_with(chat(USER, **{name: value})))
    assert caught.value.param == name
    out = sent(chat(USER, **{name: value}), drop_params=True)
    assert name not in out and name not in out.get("generationConfig", {})


def test_user_is_ignored():
    assert "user" not in sent(chat(USER, user="u-1"))


def test_passthrough_params_placement():
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    out = sent(chat(USER, top_k=40, safety_settings=safety, cachedContent="c/1",
                    thinking_config={"includeThoughts": True},
                    generationConfig={"responseModalities": ["TEXT"]},
                    temperature=0.3))
    assert out["generationConfig"] == {
        "temperature": 0.3, "topK": 40, "thinkingConfig": {"includeThoughts": True},
        "responseModalities": ["TEXT"]}
    assert out["safetySettings"] == safety
    assert out["cachedContent"] == "c/1"
    assert "top_k" not in out and "safety_settings" not in out


def test_camel_case_safety_settings_stay_top_level():
    safety = [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]
    assert sent(chat(USER, safetySettings=safety))["safetySettings"] == safety


# --- credentials ---------------------------------------------------------------

def test_environment_key_used_when_allowed(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "env-key")
    assert ADAPTER.build(call_with(api_key=None)).headers["x-goog-api-key"] == \
        "env-key"


def test_environment_key_never_used_when_forbidden(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "env-key")
    monkeypatch.setenv("GOOGLE_API_KEY", "env-key-2")
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(call_with(api_key=None, use_environment_credentials=False))
    assert "no credentials" in caught.value.message


def test_extra_headers_are_added():
    call = call_with(credentials={"extra_headers": {"x-trace": "1"}})
    assert ADAPTER.build(call).headers["x-trace"] == "1"


# --- parse ---------------------------------------------------------------------

def answer(parts: list[dict], reason: str = "STOP", **extra) -> bytes:
    return json.dumps({
        "candidates": [{"content": {"role": "model", "parts": parts},
                        "finishReason": reason, "index": 0}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2,
                          "totalTokenCount": 7}, **extra}).encode()


def test_parse_plain_answer():
    result = ADAPTER.parse(call_with(), 200, {}, answer([{"text": "Hello"},
                                                         {"text": " there"}]))
    assert result["object"] == "chat.completion"
    assert result["model"] == f"alias-{MODEL}"
    assert result["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "stop",
                                  "message": {"role": "assistant",
                                              "content": "Hello there"}}]
    assert result["usage"] == {"prompt_tokens": 5, "completion_tokens": 2,
                               "total_tokens": 7}


def test_parse_tool_calls_thoughts_and_usage():
    content = json.dumps(fixture_json("gemini_tool_call.json")).encode()
    result = ADAPTER.parse(call_with(), 200, {}, content)
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "I will look both up."
    assert message["reasoning_content"] == "Planning the lookups."
    first, second = message["tool_calls"]
    assert first["id"].startswith("call_") and first["id"].endswith(
        f"{SIGNATURE_MARK}QUJD")
    assert first["function"] == {"name": "get_weather",
                                 "arguments": '{"city":"Paris"}'}
    assert SIGNATURE_MARK not in second["id"] and second["id"] != first["id"]
    assert second["function"] == {"name": "get_time", "arguments": "{}"}
    assert result["usage"] == {
        "prompt_tokens": 40, "completion_tokens": 17, "total_tokens": 57,
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 7}}


def test_parsed_tool_call_ids_round_trip_to_function_responses():
    content = json.dumps(fixture_json("gemini_tool_call.json")).encode()
    message = ADAPTER.parse(call_with(), 200, {}, content)["choices"][0]["message"]
    replies = [{"role": "tool", "tool_call_id": call["id"], "content": "ok"}
               for call in message["tool_calls"]]
    out = sent(chat(USER, message, *replies))
    assert out["contents"][1]["parts"][1]["thoughtSignature"] == "QUJD"
    assert [p["functionResponse"]["name"] for p in out["contents"][2]["parts"]] == \
        ["get_weather", "get_time"]


@pytest.mark.parametrize("reason, finish", [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
    ("OTHER", "content_filter"), ("MALFORMED_FUNCTION_CALL", "stop"),
    ("FINISH_REASON_UNSPECIFIED", "stop"),
])
def test_finish_reasons(reason, finish):
    result = ADAPTER.parse(call_with(), 200, {}, answer([{"text": "x"}], reason))
    assert result["choices"][0]["finish_reason"] == finish


def test_parse_blocked_prompt_is_content_filter():
    content = json.dumps({"promptFeedback": {"blockReason": "SAFETY"},
                          "usageMetadata": {"promptTokenCount": 9,
                                            "totalTokenCount": 9}}).encode()
    result = ADAPTER.parse(call_with(), 200, {}, content)
    assert result["choices"] == [{"index": 0, "logprobs": None,
                                  "finish_reason": "content_filter",
                                  "message": {"role": "assistant", "content": ""}}]
    assert result["usage"] == {"prompt_tokens": 9, "completion_tokens": 0,
                               "total_tokens": 9}


def test_parse_several_candidates():
    content = json.dumps({"candidates": [
        {"content": {"parts": [{"text": "A"}]}, "finishReason": "STOP", "index": 0},
        {"content": {"parts": [{"text": "B"}]}, "finishReason": "MAX_TOKENS",
         "index": 1}]}).encode()
    choices = ADAPTER.parse(call_with(), 200, {}, content)["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"])
            for c in choices] == [(0, "A", "stop"), (1, "B", "length")]


def test_parse_error_body_in_a_200_raises():
    content = json.dumps({"error": {"code": 503, "message": "The model is "
                                    "overloaded.", "status": "UNAVAILABLE"}}).encode()
    with pytest.raises(errors.ServiceUnavailable):
        ADAPTER.parse(call_with(), 200, {}, content)


def test_completions_endpoint_round_trip():
    call = call_with({"prompt": "Say hi", "max_tokens": 5}, endpoint="completions")
    assert sent({"prompt": "Say hi", "max_tokens": 5}, endpoint="completions") == {
        "contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
        "generationConfig": {"maxOutputTokens": 5}}
    result = ADAPTER.parse(call, 200, {}, answer([{"text": "hi"}]))
    assert result["object"] == "text_completion"
    assert result["choices"][0]["text"] == "hi"


# --- stream --------------------------------------------------------------------

def stream_call(include_usage: bool = True, **overrides) -> object:
    body = chat(USER, stream=True)
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return call_with(body, stream=True, **overrides)


@pytest.mark.parametrize("size", [1, 5, 13, 100000])
def test_stream_full_recording(size):
    raw = awkward_chunks(fixture_bytes("gemini_stream.sse"), size)
    chunks = list(ADAPTER.stream(stream_call(), raw))
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert len({chunk["created"] for chunk in chunks}) == 1
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert {"reasoning_content": "The user asks about weather."} in deltas
    assert joined_content(chunks) == "Checking Zürich weather 🌤"
    calls = [call for delta in deltas for call in delta.get("tool_calls") or ()]
    assert [call["index"] for call in calls] == [0, 1]
    assert [call["function"]["name"] for call in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Zürich"}
    assert calls[0]["id"].endswith(f"{SIGNATURE_MARK}c2lnLzE=")
    assert all(call["type"] == "function" for call in calls)
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls" and finishes.count(None) == len(finishes) - 1
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 12, "completion_tokens": 25, "total_tokens": 37,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 5}}


def test_stream_without_include_usage_ends_with_the_finish_chunk():
    raw = awkward_chunks(fixture_bytes("gemini_stream.sse"))
    chunks = list(ADAPTER.stream(stream_call(include_usage=False), raw))
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all("usage" not in chunk for chunk in chunks)


def test_stream_blocked_prompt():
    raw = b'data: {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}\r\n\r\n'
    chunks = list(ADAPTER.stream(stream_call(include_usage=False), [raw]))
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None,
                                                                  "content_filter"]


def test_stream_text_completion_chunks():
    call = call_with({"prompt": "hi", "stream": True}, endpoint="completions",
                     stream=True)
    chunks = list(ADAPTER.stream(call, awkward_chunks(
        fixture_bytes("gemini_stream.sse"))))
    assert {chunk["object"] for chunk in chunks} == {"text_completion"}
    assert "".join(c["choices"][0]["text"] for c in chunks) == \
        "Checking Zürich weather 🌤"


@pytest.mark.parametrize("error, cls", [
    ({"code": 429, "message": "Resource has been exhausted", "status":
      "RESOURCE_EXHAUSTED"}, errors.RateLimited),
    ({"code": 500, "message": "Internal error", "status": "INTERNAL"},
     errors.UpstreamServerError),
    ({"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"},
     errors.ServiceUnavailable),
])
def test_stream_error_event_raises_its_class(error, cls):
    raw = fixture_bytes("gemini_stream.sse").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    raw += b"data: " + json.dumps([{"error": error}]).encode() + b"\r\n\r\n"
    with pytest.raises(cls) as caught:
        list(ADAPTER.stream(stream_call(), awkward_chunks(raw)))
    assert type(caught.value) is cls


def test_stream_cut_short_is_bad_gateway():
    raw = b"".join(fixture_bytes("gemini_stream.sse").split(b"\r\n\r\n")[:2])
    with pytest.raises(errors.BadGateway):
        list(ADAPTER.stream(stream_call(), [raw]))


# --- embeddings ----------------------------------------------------------------

def embed_call(value, **body) -> object:
    return make_call("gemini", "gemini-embedding-001", {"input": value, **body},
                     endpoint="embeddings")


def test_embed_one_string():
    request = ADAPTER.build(embed_call("hello", dimensions=256,
                                       task_type="RETRIEVAL_QUERY"))
    assert request.url == f"{BASE}/models/gemini-embedding-001:embedContent"
    assert body_of(request) == {"content": {"parts": [{"text": "hello"}]},
                                "outputDimensionality": 256,
                                "taskType": "RETRIEVAL_QUERY"}
    result = ADAPTER.parse(embed_call("hello"), 200, {},
                           b'{"embedding": {"values": [0.5, -1.0]}}')
    assert result == {"object": "list", "model": "alias-gemini-embedding-001",
                      "data": [{"object": "embedding", "index": 0,
                                "embedding": [0.5, -1.0]}],
                      "usage": {"prompt_tokens": 2, "total_tokens": 2}}


def test_embed_a_list_in_one_batch():
    request = ADAPTER.build(embed_call(["a", "b"]))
    assert request.url == f"{BASE}/models/gemini-embedding-001:batchEmbedContents"
    assert body_of(request) == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}}
        for t in ("a", "b")]}
    content = b'{"embeddings": [{"values": [1.0]}, {"values": [2.0]}]}'
    result = ADAPTER.parse(embed_call(["a", "b"]), 200, {}, content)
    assert [(d["index"], d["embedding"]) for d in result["data"]] == \
        [(0, [1.0]), (1, [2.0])]


def test_embed_base64_encoding():
    call = embed_call("hello", encoding_format="base64")
    result = ADAPTER.parse(call, 200, {}, b'{"embedding": {"values": [0.5, 2.0]}}')
    raw = base64.b64decode(result["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, 2.0)


def test_embed_count_mismatch_is_bad_gateway():
    with pytest.raises(errors.BadGateway):
        ADAPTER.parse(embed_call(["a", "b"]), 200, {},
                      b'{"embeddings": [{"values": [1.0]}]}')


@pytest.mark.parametrize("value", [[1, 2, 3], [], None, [[1, 2]]])
def test_embed_token_inputs_are_refused(value):
    with pytest.raises(errors.InvalidRequest) as caught:
        ADAPTER.build(embed_call(value))
    assert caught.value.param == "input"


# --- errors --------------------------------------------------------------------

def google_error(code: int, status: str, message: str, *details: dict) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status,
                                 "details": list(details)}}).encode()


API_KEY_INVALID = {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                   "reason": "API_KEY_INVALID", "domain": "googleapis.com"}


@pytest.mark.parametrize("status, content, cls", [
    (400, google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a "
                       "valid API key.", API_KEY_INVALID), errors.AuthenticationError),
    (400, google_error(400, "INVALID_ARGUMENT", "Bad key", API_KEY_INVALID),
     errors.AuthenticationError),
    (400, google_error(400, "INVALID_ARGUMENT", "The input token count (1200000) "
                       "exceeds the maximum number of tokens allowed (1048576)."),
     errors.ContextWindowExceeded),
    (400, google_error(400, "INVALID_ARGUMENT", "The response was blocked."),
     errors.ContentPolicyViolation),
    (400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
     errors.InvalidRequest),
    (400, google_error(400, "FAILED_PRECONDITION", "User location is not "
                       "supported for the API use."), errors.InvalidRequest),
    (401, google_error(401, "UNAUTHENTICATED", "Request had invalid "
                       "authentication credentials."), errors.AuthenticationError),
    (403, google_error(403, "PERMISSION_DENIED", "Permission denied."),
     errors.PermissionDenied),
    (404, google_error(404, "NOT_FOUND", "models/x is not found."), errors.NotFound),
    (429, google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric."),
     errors.RateLimited),
    (500, google_error(500, "INTERNAL", "An internal error has occurred."),
     errors.UpstreamServerError),
    (503, google_error(503, "UNAVAILABLE", "The model is overloaded."),
     errors.ServiceUnavailable),
    (504, google_error(504, "DEADLINE_EXCEEDED", "Deadline expired."),
     errors.UpstreamTimeout),
    (502, b"<html>bad gateway</html>", errors.BadGateway),
    (400, b"[" + google_error(400, "INVALID_ARGUMENT", "API key expired. Please "
                              "renew the API key.") + b"]",
     errors.AuthenticationError),
])
def test_error_classes(status, content, cls):
    error = ADAPTER.error(call_with(), status, {}, content)
    assert type(error) is cls
    assert error.upstream_status == status


def test_rate_limit_retry_hint_from_retry_info():
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo",
             "retryDelay": "36.5s"}
    content = google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", retry)
    error = ADAPTER.error(call_with(), 429, {}, content)
    assert isinstance(error, errors.RateLimited)
    assert error.headers == {"retry-after": "37"}
    assert error.message == "Quota exceeded"


def test_rate_limit_retry_header_wins_over_retry_info():
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "9s"}
    content = google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", retry)
    error = ADAPTER.error(call_with(), 429, {"Retry-After": "3"}, content)
    assert error.headers == {"retry-after": "3"}
