"""Splitting request bodies: forwarded, auth, routing and control keys."""

from __future__ import annotations

import pytest

from app import errors, schemas
from app.settings import Limits

LIMITS = Limits()


def chat(**extra):
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_three_classes_of_keys_are_split_as_b07_expects():
    parsed = schemas.parse("chat", chat(
        temperature=0.2, user="end-user-1", num_retries=1, timeout=30,
        max_retries=3, metadata={"trace_id": "t-1"}, vertex_ai_location="us-east1",
        repetition_penalty=1.1, top_k=20,
        extra_body={"chat_template_kwargs": {"enable_thinking": False}}), LIMITS)
    forward = parsed.forward
    assert forward["temperature"] == 0.2 and forward["user"] == "end-user-1"
    assert forward["repetition_penalty"] == 1.1 and forward["top_k"] == 20
    assert forward["chat_template_kwargs"] == {"enable_thinking": False}
    for consumed in ("num_retries", "timeout", "max_retries", "metadata",
                     "vertex_ai_location", "extra_body", "model", "litellm_foo"):
        assert consumed not in forward
    assert parsed.num_retries == 1 and parsed.timeout == 30
    assert parsed.routing == {"vertex_location": "us-east1"}


def test_extra_body_wins_except_protected_and_control_keys():
    parsed = schemas.parse("chat", chat(
        temperature=0.1, stream=False,
        extra_body={"temperature": 0.9, "model": "other", "stream": True,
                    "messages": [], "num_retries": 9, "top_p": 0.5}), LIMITS)
    assert parsed.forward["temperature"] == 0.9
    assert parsed.forward["top_p"] == 0.5
    assert parsed.model == "m" and parsed.stream is False
    assert parsed.forward["messages"] == [{"role": "user", "content": "hi"}]
    assert parsed.num_retries is None and "num_retries" not in parsed.forward


@pytest.mark.parametrize("body, param, fragment", [
    ({"messages": [{"role": "user"}]}, "model", "model: Missing data"),
    (chat(messages="hi"), "messages", "messages: Not a valid list."),
    (chat(messages=[]), "messages", "messages:"),
    (chat(messages=["x"]), "messages", "messages[0]: Not a valid mapping type."),
    (chat(num_retries=-1), "num_retries", "num_retries:"),
    (chat(num_retries="lots"), "num_retries", "num_retries: Not a valid integer."),
    (chat(timeout=0), "timeout", "timeout:"),
    (chat(stream="yes please"), "stream", "stream: Not a valid boolean."),
    (chat(user_config="not-an-object"), "user_config", "user_config: Not a valid"),
    (chat(temperature="hot"), "temperature", "temperature: Not a valid number."),
])
def test_bad_bodies_are_400_naming_the_top_level_key(body, param, fragment):
    with pytest.raises(errors.InvalidRequest) as raised:
        schemas.parse("chat", body, LIMITS)
    assert raised.value.param == param
    assert fragment in raised.value.message
    assert raised.value.status == 400


@pytest.mark.parametrize("extra, param", [
    ({"num_retries": 11}, "num_retries"),
    ({"timeout": 601}, "timeout"),
    ({"stream_timeout": 601}, "stream_timeout"),
    ({"fallbacks": ["a", "b", "c", "d", "e", "f"]}, "fallbacks"),
])
def test_client_values_above_limits_are_refused_not_clamped(extra, param):
    with pytest.raises(errors.InvalidRequest) as raised:
        schemas.parse("chat", chat(**extra), LIMITS)
    assert raised.value.param == param
    assert "limit" in raised.value.message


@pytest.mark.parametrize("name, value", [
    ("api_version", "2024-06-01&api-key=x#"),
    ("api_version", "x" * 33),
    ("vertex_ai_location", "us-east1.evil.example"),
    ("vertex_location", "US-EAST1"),
    ("aws_region_name", "us-east-1/../x"),
    ("api_version", 5),
])
def test_routing_params_are_validated(name, value):
    with pytest.raises(errors.InvalidRequest) as raised:
        schemas.parse("chat", chat(**{name: value}), LIMITS)
    assert raised.value.param == name
    assert str(value) not in raised.value.message


@pytest.mark.parametrize("name", ["aws_profile_name", "aws_role_name",
                                  "aws_web_identity_token", "aws_sts_endpoint"])
def test_host_identity_params_are_refused_whatever_the_config(name):
    with pytest.raises(errors.InvalidRequest) as raised:
        schemas.parse("chat", chat(**{name: "x"}), LIMITS)
    assert raised.value.param == name


def test_auth_params_are_collected_from_nested_places_and_not_forwarded():
    parsed = schemas.parse("chat", chat(
        api_key="sk-client", extra_body={"base_url": "https://a.example/v1"},
        metadata={"organization": "org-1"}), LIMITS)
    assert dict(parsed.auth.values) == {"api_key": "sk-client",
                                        "base_url": "https://a.example/v1",
                                        "organization": "org-1"}
    assert not {"api_key", "base_url", "organization"} & set(parsed.forward)


def test_conflicting_aliases_are_refused():
    with pytest.raises(errors.InvalidRequest) as raised:
        schemas.parse("chat", chat(api_base="https://a.example/v1",
                                   base_url="https://b.example/v1"), LIMITS)
    assert raised.value.param in ("api_base", "base_url")


def test_azure_query_version_is_a_routing_param():
    parsed = schemas.parse("chat", chat(), LIMITS, query_api_version="2024-06-01")
    assert parsed.routing == {"api_version": "2024-06-01"}


def test_embeddings_and_completions_require_their_input():
    with pytest.raises(errors.InvalidRequest, match="input"):
        schemas.parse("embeddings", {"model": "m"}, LIMITS)
    with pytest.raises(errors.InvalidRequest, match="prompt"):
        schemas.parse("completions", {"model": "m"}, LIMITS)


@pytest.mark.parametrize("name", ["stream", "drop_params"])
@pytest.mark.parametrize("value", ["yes", 1, 0, "false", "true"])
def test_booleans_are_json_booleans_only(name, value):
    with pytest.raises(errors.InvalidRequest) as raised:
        schemas.parse("chat", chat(**{name: value}), LIMITS)
    assert raised.value.param == name


def test_a_null_stream_means_no_stream():
    assert schemas.parse("chat", chat(stream=None), LIMITS).stream is False
