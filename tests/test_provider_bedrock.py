"""The Bedrock adapter: Converse and InvokeModel requests, SigV4, answers, streams.

Nothing here touches the network: requests are built and inspected, answers and
event streams are recorded shapes fed back in. The AWS credential chain is kept
from instance metadata and from the developer's own files in every test.
"""

from __future__ import annotations

import base64
import logging
import struct
import subprocess
import sys
from urllib.parse import urlsplit

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from app import errors
from app.providers import adapter_for, bedrock
from app.providers.base import Call
from tests.eventstream import event, exception, frame

KEYS = {
    "aws_access_key_id": "AKIDEXAMPLE",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "aws_region_name": "us-west-2",
}
HELLO = [{"role": "user", "content": "Hello"}]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


@pytest.fixture(autouse=True)
def quiet_aws(monkeypatch, tmp_path):
    """No real AWS configuration, and never instance metadata, in any test."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_ROLE_ARN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-creds"))
    bedrock.DEFAULT_CHAIN.reset()
    yield
    bedrock.DEFAULT_CHAIN.reset()


def make_call(body=None, **overrides) -> Call:
    settings = {
        "endpoint": "chat", "provider": "bedrock",
        "model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "body": {"messages": HELLO} if body is None else body,
        "credentials": dict(KEYS), "requested_model": "my-claude",
    }
    settings.update(overrides)
    return Call(**settings)


def sent(call: Call) -> dict:
    return orjson.loads(bedrock.ADAPTER.build(call).body)


def test_registry_and_lazy_botocore():
    assert adapter_for("bedrock") is bedrock.ADAPTER
    code = ("import sys; sys.modules['botocore'] = None; "
            "import app.providers.bedrock; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_no_secret_reaches_the_log(caplog):
    keys = {**KEYS, "aws_session_token": "TOKEN-SECRET"}
    with caplog.at_level(logging.DEBUG):
        bedrock.ADAPTER.build(make_call({"messages": HELLO, "n": 3}, credentials=keys,
                                        drop_params=True))
    assert "dropping n" in caplog.text
    for secret in (KEYS["aws_secret_access_key"], "TOKEN-SECRET", "Hello"):
        assert secret not in caplog.text


# --- URL, region and model encoding -------------------------------------------

@pytest.mark.parametrize("overrides, expected", [
    ({}, "https://bedrock-runtime.us-west-2.amazonaws.com/model/"
         "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
    ({"stream": True}, "https://bedrock-runtime.us-west-2.amazonaws.com/model/"
                       "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"),
    ({"api_base": "https://vpce-1.example.test/"},
     "https://vpce-1.example.test/model/"
     "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
    ({"credentials": {**KEYS, "aws_bedrock_runtime_endpoint": "https://br.example.test"}},
     "https://br.example.test/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
    ({"endpoint": "embeddings", "model": "amazon.titan-embed-text-v2:0",
      "body": {"input": "hi"}},
     "https://bedrock-runtime.us-west-2.amazonaws.com/model/"
     "amazon.titan-embed-text-v2%3A0/invoke"),
])
def test_url(overrides, expected):
    assert bedrock.ADAPTER.build(make_call(**overrides)).url == expected


@pytest.mark.parametrize("model", ["../x?y", "arn:aws:bedrock:us-east-1:1:x/y#z"])
def test_model_is_one_encoded_path_segment(model):
    parts = urlsplit(bedrock.ADAPTER.build(make_call(model=model)).url)
    assert parts.query == "" and parts.fragment == ""
    segments = parts.path.split("/")
    assert segments[:2] == ["", "model"] and segments[3:] == ["converse"]
    assert "/" not in segments[2] and "?" not in segments[2]


def test_region_comes_from_the_endpoint_host():
    credentials = {k: v for k, v in KEYS.items() if k != "aws_region_name"}
    call = make_call(credentials=credentials,
                     api_base="https://bedrock-runtime.eu-central-1.amazonaws.com")
    assert "/eu-central-1/bedrock/" in bedrock.ADAPTER.build(call).headers[
        "Authorization"]


@pytest.mark.parametrize("value", ["us-east-1.evil.test", "US-EAST-1", "a/b", "x" * 41])
def test_bad_region_is_refused(value):
    with pytest.raises(errors.InvalidRequest) as caught:
        bedrock.ADAPTER.build(make_call(credentials={**KEYS, "aws_region_name": value}))
    assert caught.value.param == "aws_region_name"


@pytest.mark.parametrize("allowed", [True, False])
def test_region_from_environment_only_when_allowed(monkeypatch, allowed):
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    credentials = {k: v for k, v in KEYS.items() if k != "aws_region_name"}
    call = make_call(credentials=credentials, use_environment_credentials=allowed)
    if allowed:
        assert "ap-south-1" in bedrock.ADAPTER.build(call).url
    else:
        with pytest.raises(errors.InvalidRequest, match="no region"):
            bedrock.ADAPTER.build(call)


# --- SigV4 and credentials ------------------------------------------------------

def expected_signature(request, credentials, region) -> str:
    """Recompute the signature with botocore from what the dispatcher will send."""
    headers = {k: v for k, v in request.headers.items() if k != "Authorization"}
    aws = AWSRequest(method="POST", url=request.url, data=request.body,
                     headers=headers)
    aws.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = SigV4Auth(credentials, "bedrock", region)
    string_to_sign = signer.string_to_sign(aws, signer.canonical_request(aws))
    return signer.signature(string_to_sign, aws)


def test_sigv4_headers_and_signature_over_exact_body():
    keys = {**KEYS, "aws_session_token": "session-token"}
    request = bedrock.ADAPTER.build(make_call(credentials=keys, model="a:b/../c"))
    auth = request.headers["Authorization"]
    date = request.headers["X-Amz-Date"][:8]
    scope = f"{date}/us-west-2/bedrock/aws4_request"
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}")
    assert request.headers["X-Amz-Security-Token"] == "session-token"
    assert "x-amz-security-token" in auth.split("SignedHeaders=")[1]
    signature = auth.rsplit("Signature=", 1)[1]

    credentials = Credentials(KEYS["aws_access_key_id"],
                              KEYS["aws_secret_access_key"], "session-token")
    assert expected_signature(request, credentials, "us-west-2") == signature
    request.body = request.body.replace(b"Hello", b"Hellp")
    assert expected_signature(request, credentials, "us-west-2") != signature


def test_extra_headers_are_sent_and_signed():
    keys = {**KEYS, "extra_headers": {"X-Trace": "abc"}}
    request = bedrock.ADAPTER.build(make_call(credentials=keys))
    assert request.headers["X-Trace"] == "abc"
    assert "x-trace" in request.headers["Authorization"]


def test_forbidden_environment_never_reads_keys(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    call = make_call(credentials={"aws_region_name": "us-west-2"},
                     use_environment_credentials=False)
    with pytest.raises(errors.InvalidRequest, match="no credentials"):
        bedrock.ADAPTER.build(call)


def test_allowed_environment_uses_botocore_chain(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    call = make_call(credentials={"aws_region_name": "us-west-2"})
    auth = bedrock.ADAPTER.build(call).headers["Authorization"]
    assert "Credential=AKIDFROMENV/" in auth


def test_empty_chain_is_a_clear_400():
    call = make_call(credentials={"aws_region_name": "us-west-2"})
    with pytest.raises(errors.InvalidRequest, match="no credentials"):
        bedrock.ADAPTER.build(call)


def test_half_a_key_pair_is_refused():
    call = make_call(credentials={"aws_access_key_id": "AKID",
                                  "aws_region_name": "us-west-2"})
    with pytest.raises(errors.InvalidRequest, match="both"):
        bedrock.ADAPTER.build(call)


def test_api_key_is_a_bearer_token_without_sigv4():
    call = make_call(credentials={"aws_region_name": "us-west-2"}, api_key="br-key",
                     use_environment_credentials=False)
    headers = bedrock.ADAPTER.build(call).headers
    assert headers["Authorization"] == "Bearer br-key"
    assert "X-Amz-Date" not in headers


# --- message mapping -------------------------------------------------------------

def test_system_user_assistant_tool_mapping():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "user", "content": "And tomorrow?"},
    ]
    body = sent(make_call({"messages": messages}))
    assert body["system"] == [{"text": "Be brief."}, {"text": "Use metric."}]
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [{"toolUse": {
            "toolUseId": "call_1", "name": "weather", "input": {"city": "Paris"}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}},
            {"text": "And tomorrow?"}]},
    ]


def test_inline_image_becomes_an_image_block():
    url = f"data:image/png;base64,{PNG}"
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": url}}]
    body = sent(make_call({"messages": [{"role": "user", "content": content}]}))
    assert body["messages"][0]["content"][1] == {
        "image": {"format": "png", "source": {"bytes": PNG}}}


@pytest.mark.parametrize("message", [
    {"role": "user", "content": [{"type": "image_url",
                                  "image_url": {"url": "https://example.test/a.png"}}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": f"data:image/tiff;base64,{PNG}"}}]},
    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
    {"role": "function", "content": "x"},
    {"role": "tool", "content": "no id"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "function": {"name": "f", "arguments": "not json"}}]},
])
def test_untranslatable_messages_are_400(message):
    with pytest.raises(errors.InvalidRequest) as caught:
        bedrock.ADAPTER.build(make_call({"messages": [message]}))
    assert caught.value.param == "messages"


# --- params -------------------------------------------------------------------------

def test_inference_config():
    body = sent(make_call({"messages": HELLO, "max_tokens": 5,
                           "max_completion_tokens": 50, "temperature": 0.2,
                           "top_p": 0.9, "stop": "END"}))
    assert body["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2,
                                       "topP": 0.9, "stopSequences": ["END"]}


@pytest.mark.parametrize("name, value", [
    ("n", 2), ("seed", 7), ("presence_penalty", 0.5), ("frequency_penalty", 1),
    ("logprobs", True), ("top_logprobs", 3), ("logit_bias", {"1": 2}),
    ("parallel_tool_calls", False), ("tool_choice", "none"),
    ("response_format", {"type": "json_object"}), ("reasoning_effort", "low"),
])
def test_unsupported_params_400_unless_dropped(name, value):
    body = {"messages": HELLO, name: value,
            "tools": [{"type": "function", "function": {"name": "f"}}]}
    with pytest.raises(errors.UnsupportedParam) as caught:
        bedrock.ADAPTER.build(make_call(body))
    assert caught.value.param == name and caught.value.status == 400

    dropped = sent(make_call(body, drop_params=True))
    assert name not in dropped
    assert name not in dropped.get("additionalModelRequestFields", {})
    assert "toolChoice" not in dropped["toolConfig"]


def test_openai_defaults_and_inert_params_pass_quietly():
    body = sent(make_call({"messages": HELLO, "n": 1, "presence_penalty": 0,
                           "user": "u-1", "stream_options": {"include_usage": True},
                           "response_format": {"type": "text"}}))
    assert set(body) == {"messages"}


@pytest.mark.parametrize("choice, expected", [
    ("auto", None), ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "weather"}},
     {"tool": {"name": "weather"}}),
])
def test_tools_and_tool_choice(choice, expected):
    tools = [{"type": "function", "function": {
        "name": "weather", "description": "Get weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    config = sent(make_call({"messages": HELLO, "tools": tools,
                             "tool_choice": choice}))["toolConfig"]
    assert config["tools"] == [{"toolSpec": {
        "name": "weather", "description": "Get weather",
        "inputSchema": {"json": tools[0]["function"]["parameters"]}}}]
    assert config.get("toolChoice") == expected


def test_json_schema_response_format():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = sent(make_call({"messages": HELLO, "response_format": {
        "type": "json_schema", "json_schema": {"name": "thing", "schema": schema}}}))
    structure = body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert body["outputConfig"]["textFormat"]["type"] == "json_schema"
    assert structure["name"] == "thing" and orjson.loads(structure["schema"]) == schema


def test_passthrough_placement():
    body = sent(make_call({
        "messages": HELLO, "top_k": 40,
        "additionalModelRequestFields": {"thinking": {"type": "enabled"}},
        "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
        "performanceConfig": {"latency": "optimized"},
    }))
    assert body["additionalModelRequestFields"] == {
        "top_k": 40, "thinking": {"type": "enabled"}}
    assert body["guardrailConfig"]["guardrailIdentifier"] == "g1"
    assert body["performanceConfig"] == {"latency": "optimized"}
    assert "top_k" not in body


def test_legacy_prompt_becomes_one_user_turn():
    call = make_call({"prompt": "Say hi", "max_tokens": 3}, endpoint="completions")
    body = sent(call)
    assert body["messages"] == [{"role": "user", "content": [{"text": "Say hi"}]}]
    with pytest.raises(errors.InvalidRequest) as caught:
        bedrock.ADAPTER.build(make_call({"prompt": ["a", "b"]}, endpoint="completions"))
    assert caught.value.param == "prompt"


# --- parse ------------------------------------------------------------------------

def converse_answer(content, stop="end_turn", usage=None) -> bytes:
    return orjson.dumps({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": usage or {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16},
        "metrics": {"latencyMs": 300},
    })


def parse(call, content: bytes) -> dict:
    return bedrock.ADAPTER.parse(call, 200, {}, content)


def test_parse_plain_answer():
    answer = parse(make_call(), converse_answer([{"text": "Hi "}, {"text": "there"}]))
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "my-claude"
    assert answer["id"].startswith("chatcmpl-")
    assert answer["choices"][0]["message"] == {"role": "assistant",
                                               "content": "Hi there"}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 12, "completion_tokens": 4,
                               "total_tokens": 16}


def test_parse_tool_call_reasoning_and_cache():
    content = [
        {"reasoningContent": {"reasoningText": {"text": "think", "signature": "s"}}},
        {"toolUse": {"toolUseId": "tu_1", "name": "weather",
                     "input": {"city": "Oslo"}}},
    ]
    usage = {"inputTokens": 10, "outputTokens": 2, "totalTokens": 22,
             "cacheReadInputTokens": 10}
    answer = parse(make_call(), converse_answer(content, "tool_use", usage))
    message = answer["choices"][0]["message"]
    assert message["content"] is None
    assert message["reasoning_content"] == "think"
    assert message["tool_calls"] == [{"id": "tu_1", "type": "function", "function": {
        "name": "weather", "arguments": '{"city":"Oslo"}'}}]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["usage"]["prompt_tokens_details"] == {"cached_tokens": 10}


@pytest.mark.parametrize("stop, finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
    ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter"),
    ("malformed_model_output", "stop"), ("malformed_tool_use", "stop"),
])
def test_finish_reasons(stop, finish):
    answer = parse(make_call(), converse_answer([{"text": "x"}], stop))
    assert answer["choices"][0]["finish_reason"] == finish


def test_parse_legacy_completion():
    call = make_call({"prompt": "Say hi"}, endpoint="completions")
    answer = parse(call, converse_answer([{"text": "hi"}], "max_tokens"))
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["text"] == "hi"
    assert answer["choices"][0]["finish_reason"] == "length"


def test_malformed_answer_is_bad_gateway():
    with pytest.raises(errors.BadGateway):
        parse(make_call(), b"<html>")


# --- stream -----------------------------------------------------------------------

RECORDED = b"".join([
    event("messageStart", {"role": "assistant", "p": "abc"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me "}}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "check."}}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event("contentBlockStart", {"contentBlockIndex": 1, "start": {
        "toolUse": {"toolUseId": "tu_9", "name": "weather"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 1,
                                "delta": {"toolUse": {"input": '{"city":'}}}),
    event("contentBlockDelta", {"contentBlockIndex": 1,
                                "delta": {"toolUse": {"input": '"Rome"}'}}}),
    event("contentBlockStop", {"contentBlockIndex": 1}),
    event("messageStop", {"stopReason": "tool_use"}),
    event("metadata", {"usage": {"inputTokens": 20, "outputTokens": 9,
                                 "totalTokens": 29}, "metrics": {"latencyMs": 5}}),
])


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 64, len(RECORDED)])
def test_stream_in_awkward_splits(size):
    call = make_call({"messages": HELLO, "stream_options": {"include_usage": True}},
                     stream=True)
    chunks = list(bedrock.ADAPTER.stream(call, iter(split(RECORDED, size))))
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert len({chunk["created"] for chunk in chunks}) == 1
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert all(chunk["model"] == "my-claude" for chunk in chunks)

    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[:-1]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas[1:]) == "Let me check."
    tool_parts = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert tool_parts[0] == {"index": 0, "id": "tu_9", "type": "function",
                             "function": {"name": "weather", "arguments": ""}}
    assert "".join(p["function"]["arguments"] for p in tool_parts) == '{"city":"Rome"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 20, "completion_tokens": 9,
                                   "total_tokens": 29}


def test_stream_without_include_usage_has_no_usage_chunk():
    chunks = list(bedrock.ADAPTER.stream(make_call(stream=True), iter([RECORDED])))
    assert all(chunk["choices"] for chunk in chunks)


def test_legacy_completion_stream_uses_text_completion_chunks():
    call = make_call({"prompt": "x"}, endpoint="completions", stream=True)
    chunks = list(bedrock.ADAPTER.stream(call, iter([RECORDED])))
    assert {chunk["object"] for chunk in chunks} == {"text_completion"}
    assert "".join(c["choices"][0]["text"] for c in chunks) == "Let me check."


@pytest.mark.parametrize("name, message, cls", [
    ("throttlingException", "Too many tokens, please wait.", errors.RateLimited),
    ("validationException", "Input is too long for requested model.",
     errors.ContextWindowExceeded),
    ("modelStreamErrorException", "Model stopped.", errors.BadGateway),
    ("internalServerException", "Oops.", errors.UpstreamServerError),
    ("serviceUnavailableException", "Busy.", errors.ServiceUnavailable),
])
def test_stream_exception_event_raises(name, message, cls):
    data = event("messageStart", {"role": "assistant"}) + exception(name, message)
    stream = bedrock.ADAPTER.stream(make_call(stream=True), iter(split(data, 5)))
    assert next(stream)["choices"][0]["delta"]["role"] == "assistant"
    with pytest.raises(cls) as caught:
        next(stream)
    assert type(caught.value) is cls and caught.value.message == message


def test_unmodelled_error_frame_raises():
    data = frame({":message-type": "error", ":error-code": "ThrottlingException",
                  ":error-message": "Slow down."}, {})
    with pytest.raises(errors.RateLimited, match="Slow down."):
        list(bedrock.ADAPTER.stream(make_call(stream=True), iter([data])))


def test_corrupt_frame_is_bad_gateway():
    data = bytearray(RECORDED)
    data[40] ^= 0xFF
    with pytest.raises(errors.BadGateway, match="malformed"):
        list(bedrock.ADAPTER.stream(make_call(stream=True), iter([bytes(data)])))


def test_stream_cut_before_message_stop_is_bad_gateway():
    cut = RECORDED[:RECORDED.index(b"messageStop") - 40]
    with pytest.raises(errors.BadGateway, match="ended"):
        list(bedrock.ADAPTER.stream(make_call(stream=True), iter([cut])))


# --- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("status, kind, message, cls", [
    (400, "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
     "Malformed input request", errors.InvalidRequest),
    (400, "ValidationException", "Input is too long for requested model.",
     errors.ContextWindowExceeded),
    (400, "ValidationException", "prompt is too long: 300000 tokens > 200000 maximum",
     errors.ContextWindowExceeded),
    (400, "ValidationException", "The request was blocked by guardrail policy.",
     errors.ContentPolicyViolation),
    (403, "AccessDeniedException", "You don't have access to the model.",
     errors.PermissionDenied),
    (403, "UnrecognizedClientException",
     "The security token included in the request is invalid.",
     errors.AuthenticationError),
    (403, "InvalidSignatureException", "Signature expired.",
     errors.AuthenticationError),
    (403, "ExpiredTokenException", "The security token included in the request is "
     "expired", errors.AuthenticationError),
    (404, "ResourceNotFoundException", "Model not found.", errors.NotFound),
    (408, "ModelTimeoutException", "Timed out.", errors.UpstreamTimeout),
    (429, "ThrottlingException", "Too many tokens, please wait before trying again.",
     errors.RateLimited),
    (429, "ModelNotReadyException", "Model is not ready.", errors.RateLimited),
    (424, "ModelErrorException", "The model failed.", errors.BadGateway),
    (500, "InternalServerException", "Internal error.", errors.UpstreamServerError),
    (503, "ServiceUnavailableException", "Try later.", errors.ServiceUnavailable),
])
def test_error_mapping_by_exception_name(status, kind, message, cls):
    error = bedrock.ADAPTER.error(make_call(), status, {"x-amzn-ErrorType": kind},
                                  orjson.dumps({"message": message}))
    assert type(error) is cls
    assert error.message == message and error.upstream_status == status


def test_error_name_from_body_and_retry_hint():
    body = orjson.dumps({"__type": "com.amazon.coral.service#ThrottlingException",
                         "Message": "Rate exceeded"})
    error = bedrock.ADAPTER.error(make_call(), 400, {"Retry-After": "3"}, body)
    assert type(error) is errors.RateLimited
    assert error.message == "Rate exceeded"


def test_retry_after_is_passed_on():
    error = bedrock.ADAPTER.error(make_call(), 429,
                                  {"x-amzn-ErrorType": "ThrottlingException",
                                   "retry-after": "2"}, b'{"message": "slow"}')
    assert error.headers == {"retry-after": "2"}


def test_unnamed_error_falls_back_to_status():
    error = bedrock.ADAPTER.error(make_call(), 502, {}, b"bad gateway")
    assert type(error) is errors.BadGateway


# --- embeddings ---------------------------------------------------------------------

def embed_call(model="amazon.titan-embed-text-v2:0", **body) -> Call:
    return make_call({"input": "hello", **body}, endpoint="embeddings", model=model)


def test_titan_body_and_parse():
    call = embed_call(dimensions=256, normalize=True)
    assert sent(call) == {"inputText": "hello", "dimensions": 256, "normalize": True}
    answer = parse(call, orjson.dumps({"embedding": [0.5, -1.0],
                                       "inputTextTokenCount": 3}))
    assert answer["object"] == "list" and answer["model"] == "my-claude"
    assert answer["data"] == [{"object": "embedding", "index": 0,
                               "embedding": [0.5, -1.0]}]
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_titan_takes_one_text():
    assert sent(embed_call(input=["only"]))["inputText"] == "only"
    with pytest.raises(errors.InvalidRequest) as caught:
        bedrock.ADAPTER.build(embed_call(input=["a", "b"]))
    assert caught.value.param == "input"


def test_cohere_embed_body_and_parse():
    call = embed_call("cohere.embed-english-v3", input=["a", "b"])
    assert sent(call) == {"texts": ["a", "b"], "input_type": "search_document"}
    override = embed_call("cohere.embed-v4:0", input_type="search_query",
                          dimensions=512)
    assert sent(override)["input_type"] == "search_query"
    assert sent(override)["output_dimension"] == 512
    content = orjson.dumps({"id": "e1", "embeddings": [[1.0], [2.0]],
                            "response_type": "embeddings_floats", "texts": ["a", "b"]})
    answer = bedrock.ADAPTER.parse(call, 200,
                                   {"X-Amzn-Bedrock-Input-Token-Count": "4"}, content)
    assert [item["embedding"] for item in answer["data"]] == [[1.0], [2.0]]
    assert answer["usage"]["prompt_tokens"] == 4


def test_base64_encoding_is_honoured():
    call = embed_call(encoding_format="base64")
    answer = parse(call, orjson.dumps({"embedding": [1.0, 0.5],
                                       "inputTextTokenCount": 1}))
    raw = base64.b64decode(answer["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (1.0, 0.5)


@pytest.mark.parametrize("model, body", [
    ("meta.llama3-8b-instruct-v1:0", {}),
    ("amazon.titan-embed-text-v2:0", {"input": [[1, 2, 3]]}),
])
def test_unembeddable_requests_are_400(model, body):
    with pytest.raises(errors.InvalidRequest):
        bedrock.ADAPTER.build(embed_call(model, **body))
