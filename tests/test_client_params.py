"""Gathering client auth params from every place they could hide, and the
vocabulary that says which body keys reach the provider."""

from __future__ import annotations

import pytest

from app import errors, schemas
from app.client_params import collect, fallback_entries
from app.config_schema import (
    IGNORED_LITELLM_PARAMS,
    LitellmParams,
    LitellmSettings,
    RouterSettings,
)
from app.params import (
    AUTH_PARAMS,
    CONTROL_KEYS,
    ROUTING_PARAMS,
    is_control_key,
    is_forwarded,
)
from app.settings import Limits

BASE = "https://api.example.com/v1"
EVIL = "https://evil.example.com/v1"


def chat(**extra):
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize("body, found", [
    ({"api_base": BASE}, {"api_base": BASE}),
    ({"extra_body": {"api_base": BASE}}, {"api_base": BASE}),
    ({"litellm_params": {"base_url": BASE}}, {"base_url": BASE}),
    ({"metadata": {"api_key": "sk-client-1"}}, {"api_key": "sk-client-1"}),
    ({"api_key": "sk-client-1", "extra_body": {"api_key": "sk-client-1"}},
     {"api_key": "sk-client-1"}),
    ({"api_base": None, "extra_body": {"api_base": BASE}}, {"api_base": BASE}),
])
def test_auth_params_are_found_wherever_they_could_be_merged_from(body, found):
    assert dict(collect(body).values) == found


@pytest.mark.parametrize("body, param", [
    ({"api_base": BASE, "base_url": EVIL}, "base_url"),
    ({"api_base": BASE, "extra_body": {"api_base": EVIL}}, "api_base"),
    ({"api_base": BASE, "extra_body": {"base_url": EVIL}}, "base_url"),
    ({"api_base": BASE, "metadata": {"api_base": EVIL}}, "api_base"),
    ({"api_key": "sk-a-12345678", "litellm_params": {"api_key": "sk-b-12345678"}},
     "api_key"),
])
def test_one_place_can_never_quietly_override_another(body, param):
    with pytest.raises(errors.InvalidRequest) as raised:
        collect(body)
    assert raised.value.param == param
    assert EVIL not in raised.value.message


def test_urls_are_parsed_when_collected():
    auth = collect({"base_url": "HTTPS://API.EXAMPLE.COM/v1"})
    assert auth.urls["base_url"].normalised == BASE
    assert auth.subject("base_url") == BASE
    for bad in ("https://a.example@evil.example/", "https://api.example.com/v1\n",
                "https://api.example.com/v1?x=1", "file:///etc/passwd"):
        with pytest.raises(errors.InvalidRequest):
            collect({"api_base": bad})


def test_non_string_values_are_matched_as_sorted_json():
    auth = collect({"extra_headers": {"b": "2", "a": "1"}})
    assert auth.subject("extra_headers") == '{"a":"1","b":"2"}'


def test_fallback_entries_bring_their_own_params():
    groups, auth = fallback_entries(["g1", {"model": "g2", "api_key": "sk-fb-12345678",
                                            "extra_body": {"api_base": BASE}}])
    assert groups == ("g1", "g2")
    assert dict(auth["g2"].values) == {"api_key": "sk-fb-12345678", "api_base": BASE}
    with pytest.raises(errors.InvalidRequest) as raised:
        fallback_entries([{"api_key": "no model"}])
    assert raised.value.param == "fallbacks"


def test_auth_params_in_nested_places_are_never_forwarded():
    parsed = schemas.parse("chat", chat(
        extra_body={"api_key": "sk-client-12345678", "top_k": 5},
        metadata={"api_base": BASE}), Limits())
    assert parsed.forward == {"messages": chat()["messages"], "top_k": 5}


# The vocabulary


@pytest.mark.parametrize("schema", [RouterSettings, LitellmSettings, LitellmParams])
def test_every_key_the_config_schemas_define_is_consumed(schema):
    for name in schema().fields:
        if name != "model":
            assert not is_forwarded(name), name


def test_unsupported_litellm_params_are_consumed_too():
    for name in IGNORED_LITELLM_PARAMS:
        assert not is_forwarded(name), name


@pytest.mark.parametrize("name", ["user_config", "fallbacks", "num_retries",
                                  "timeout", "stream_timeout", "allowed_fails",
                                  "cooldown_time", "drop_params", "mock_response",
                                  "metadata", "max_retries", "litellm_trace_id",
                                  "litellm_anything", "extra_body"])
def test_the_issues_control_keys_are_consumed(name):
    assert is_control_key(name)
    assert not is_forwarded(name)


@pytest.mark.parametrize("name", ["temperature", "user", "top_k",
                                  "repetition_penalty", "chat_template_kwargs",
                                  "response_format", "tools"])
def test_openai_and_provider_params_are_forwarded(name):
    assert is_forwarded(name)


def test_the_classes_do_not_overlap():
    assert not CONTROL_KEYS & AUTH_PARAMS
    assert not CONTROL_KEYS & ROUTING_PARAMS
    assert not AUTH_PARAMS & ROUTING_PARAMS
