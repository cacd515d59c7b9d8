"""The gate's table: each client auth param under each kind of allowance, and
what the call settings carry for each kind of destination."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import config, errors, schemas
from app.gate import CallSettings, Gate
from app.params import (
    AUTH_ALIASES,
    CREDENTIAL_PARAMS,
    HOST_IDENTITY_PARAMS,
    URL_PARAMS,
)
from app.settings import Deployment, Limits, UrlSettings, build_deployment
from tests.conftest import FakeResolver
from tests.test_credentials import SERVICE_ACCOUNT

OPERATOR_KEY = "sk-admin-OPERATOR-SECRET"
CLIENT_KEY = "sk-client-0123456789"
OPERATOR_PARAMS = {
    "api_key": OPERATOR_KEY,
    "api_base": "https://operator.example/v1",
    "organization": "org-operator",
    "extra_headers": {"X-Operator": "operator-header-SECRET"},
    "aws_access_key_id": "AKIAOPERATOR000000",
    "aws_secret_access_key": "operator-aws-SECRET",
    "aws_region_name": "eu-west-1",
    "top_k": 3,
}
SAMPLES: dict[str, Any] = {
    "api_key": CLIENT_KEY,
    "api_base": "https://api.example.com/v1",
    "base_url": "https://api.example.com/v1",
    "organization": "org-client-1",
    "extra_headers": {"X-Client-Team": "blue"},
    "vertex_project": "client-project-1",
    "vertex_ai_project": "client-project-1",
    "vertex_credentials": SERVICE_ACCOUNT,
    "vertex_ai_credentials": SERVICE_ACCOUNT,
    "aws_access_key_id": "AKIACLIENTEXAMPLE01",
    "aws_secret_access_key": "client/secret+key/EXAMPLE",
    "aws_session_token": "client-session-token-EXAMPLE",
    "aws_bedrock_runtime_endpoint": "https://bedrock-runtime.us-east-1.amazonaws.com",
    "azure_ad_token": "eyJclient.token.EXAMPLE",
}
TABLE_PARAMS = sorted(set(AUTH_ALIASES) - HOST_IDENTITY_PARAMS)
MODES = ("not allowed", "by name", "by pattern, matching",
         "by pattern, not matching", "proxy-wide")


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({
        "api.example.com": ["8.8.8.8"],
        "other.example.com": ["8.8.4.4"],
        "bedrock-runtime.us-east-1.amazonaws.com": ["52.94.0.10"],
        "loopback.test": ["127.0.0.1"],
        "private.test": ["10.1.2.3"],
    })


@pytest.fixture
def gate(resolver) -> Gate:
    return Gate(UrlSettings(), resolver=resolver)


def deployment(allow: list | None = None, *, provider: str = "openai",
               proxy_wide: bool = False, **params: Any) -> Deployment:
    litellm_params = {"model": f"{provider}/m", **OPERATOR_PARAMS, **params}
    if allow is not None:
        litellm_params["configurable_clientside_auth_params"] = allow
    built = config.build({
        "model_list": [{"model_name": "m", "litellm_params": litellm_params}],
        "general_settings": {"allow_client_side_credentials": proxy_wide},
    })
    return built.deployments[0]


def parsed(**body: Any) -> schemas.ApiRequest:
    return schemas.parse("chat", {"model": "m", "messages": [
        {"role": "user", "content": "hi"}], **body}, Limits())


def settle(gate: Gate, target: Deployment, **body: Any) -> CallSettings:
    return gate.settle(target, parsed(**body).auth, {})


# The table


def table_body(param: str) -> dict[str, Any]:
    """The param's sample; a client URL comes with the client's own key."""
    body = {param: SAMPLES[param]}
    if AUTH_ALIASES[param] in URL_PARAMS:
        body["api_key"] = CLIENT_KEY
    return body


def table_deployment(param: str, mode: str) -> Deployment:
    subject = parsed(**table_body(param)).auth.subject(param)
    allow = {
        "not allowed": [],
        "by name": [param],
        "by pattern, matching": [{param: re.escape(subject)}],
        "by pattern, not matching": [{param: "nomatch-[0-9]+"}],
        "proxy-wide": [],
    }[mode]
    provider = "bedrock" if param == "aws_bedrock_runtime_endpoint" else "openai"
    return deployment(allow, provider=provider, proxy_wide=mode == "proxy-wide")


def assert_applied(param: str, settings: CallSettings) -> None:
    canonical, value = AUTH_ALIASES[param], SAMPLES[param]
    if canonical == "api_key":
        assert settings.api_key == value
    elif canonical in URL_PARAMS:
        assert settings.api_base == value
        assert settings.pinned is not None and settings.pinned.addresses
        assert settings.api_key == CLIENT_KEY
    else:
        assert settings.credentials[canonical] == value
    # A client credential or destination displaces the operator's key; a
    # setting such as an organization or extra headers does not.
    displaced = canonical in URL_PARAMS or canonical in CREDENTIAL_PARAMS
    assert (settings.api_key == OPERATOR_KEY) is not displaced


def test_the_samples_cover_every_client_auth_param():
    assert set(SAMPLES) == set(TABLE_PARAMS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("param", TABLE_PARAMS)
def test_gate_table(param, mode, gate):
    target = table_deployment(param, mode)
    body = table_body(param)
    if mode in ("not allowed", "by pattern, not matching"):
        with pytest.raises(errors.InvalidRequest) as raised:
            settle(gate, target, **body)
        error = raised.value
        assert (error.status, error.type, error.param) == (
            400, "invalid_request_error", param)
        assert "configurable_clientside_auth_params" in error.message
        assert "allow_client_side_credentials" in error.message
        if mode == "by pattern, not matching":
            assert "does not match the pattern" in error.message
        for value in body.values():
            if isinstance(value, str):
                assert value not in error.message
        return
    assert_applied(param, settle(gate, target, **body))


@pytest.mark.parametrize("name", sorted(HOST_IDENTITY_PARAMS))
@pytest.mark.parametrize("place", ["top", "extra_body", "metadata", "fallback"])
def test_host_identity_params_are_refused_whatever_the_config(name, place):
    value = "arn:aws:iam::123456789012:role/gateway"
    body = {
        "top": {name: value},
        "extra_body": {"extra_body": {name: value}},
        "metadata": {"metadata": {name: value}},
        "fallback": {"fallbacks": [{"model": "other", name: value}]},
    }[place]
    with pytest.raises(errors.InvalidRequest) as raised:
        parsed(**body)
    assert raised.value.param == name
    assert value not in raised.value.message
    # ...even where the operator tried to allow them, one by one or proxy-wide.
    assert deployment([name], proxy_wide=True).allowlist.judge(name, value).allowed
    assert not deployment([name]).allowlist.judge(name, value).allowed


# api_key and api_base together


def test_a_client_key_is_accepted_where_the_same_requests_base_is_allowed(gate):
    settings = settle(gate, deployment(["api_base"]),
                      api_base="https://api.example.com/v1", api_key=CLIENT_KEY)
    assert settings.api_key == CLIENT_KEY


def test_a_client_key_alone_is_refused_where_only_the_base_is_allowed(gate):
    with pytest.raises(errors.InvalidRequest) as raised:
        settle(gate, deployment(["api_base"]), api_key=CLIENT_KEY)
    assert raised.value.param == "api_key"


def test_an_api_key_pattern_the_key_misses_is_refused_even_with_a_base(gate):
    target = deployment(["api_base", {"api_key": "sk-team-[a-z]+"}])
    with pytest.raises(errors.InvalidRequest) as raised:
        settle(gate, target, api_base="https://api.example.com/v1",
               api_key=CLIENT_KEY)
    assert raised.value.param == "api_key"


def test_one_allowed_param_never_waves_another_through(gate):
    target = deployment(["api_key"])
    with pytest.raises(errors.InvalidRequest) as raised:
        settle(gate, target, api_key=CLIENT_KEY, organization="org-client-1")
    assert raised.value.param == "organization"


# Where the call goes, and as whom


def test_an_unvetted_client_base_needs_the_clients_own_credential(gate, resolver):
    with pytest.raises(errors.InvalidRequest) as raised:
        settle(gate, deployment(["api_base"]), api_base="https://api.example.com/v1")
    assert raised.value.param == "api_key"
    assert "operator's key is never sent" in raised.value.message


def test_an_unvetted_client_base_gets_nothing_of_the_operators(gate):
    settings = settle(gate, deployment(["api_base"]),
                      api_base="https://api.example.com/v1", api_key=CLIENT_KEY)
    assert settings.api_key == CLIENT_KEY
    assert settings.credentials == {}
    assert dict(settings.defaults) == {}
    assert settings.use_environment_credentials is False
    assert settings.client_base is True
    assert settings.pinned.addresses == ("8.8.8.8",)


@pytest.mark.parametrize("credential, value", [
    ("azure_ad_token", "eyJclient.token.EXAMPLE"),
    ("vertex_credentials", SERVICE_ACCOUNT),
])
def test_another_client_credential_also_backs_an_unvetted_base(gate, credential,
                                                               value):
    settings = settle(gate, deployment(["api_base", credential]),
                      api_base="https://api.example.com/v1", **{credential: value})
    assert settings.api_key is None
    assert settings.credentials == {credential: value}


def test_a_vouched_base_is_called_as_the_deployment(gate):
    target = deployment([{"api_base": r"https://api\.example\.com/v1"}])
    settings = settle(gate, target, api_base="https://api.example.com/v1")
    assert settings.api_key == OPERATOR_KEY
    assert settings.api_base == "https://api.example.com/v1"
    assert settings.credentials["organization"] == "org-operator"
    assert settings.defaults["top_k"] == 3
    assert settings.use_environment_credentials is True
    assert settings.pinned.addresses == ("8.8.8.8",)


def test_proxy_wide_permission_still_respects_what_a_pattern_vouched_for(gate):
    target = deployment([{"api_base": r"https://api\.example\.com/v1"}],
                        proxy_wide=True)
    vouched = settle(gate, target, api_base="https://api.example.com/v1")
    assert vouched.api_key == OPERATOR_KEY
    with pytest.raises(errors.InvalidRequest) as raised:
        settle(gate, target, api_base="https://other.example.com/v1")
    assert raised.value.param == "api_key"


def test_a_pattern_sees_the_normalised_url(gate):
    target = deployment([{"api_base": r"https://api\.example\.com/v1"}])
    settings = settle(gate, target, api_base="HTTPS://API.Example.COM/v1")
    assert settings.api_base == "https://api.example.com/v1"
    assert settings.api_key == OPERATOR_KEY


def test_a_pattern_never_bypasses_the_ssrf_guard(gate, resolver):
    target = deployment([{"api_base": r"https://loopback\.test/v1"}])
    with pytest.raises(errors.InvalidRequest) as raised:
        settle(gate, target, api_base="https://loopback.test/v1")
    assert raised.value.param == "api_base"
    assert resolver.calls == [("loopback.test", 443)]


def test_a_client_credential_replaces_the_operators_identity_whole(gate):
    target = deployment(["api_key"], azure_ad_token="operator-ad-token-SECRET",
                        vertex_project="operator-project")
    settings = settle(gate, target, api_key=CLIENT_KEY)
    assert settings.api_key == CLIENT_KEY
    for name in ("azure_ad_token", "organization", "vertex_project",
                 "aws_access_key_id", "aws_secret_access_key"):
        assert name not in settings.credentials
    assert settings.credentials["extra_headers"] == OPERATOR_PARAMS["extra_headers"]
    assert settings.credentials["aws_region_name"] == "eu-west-1"
    assert settings.use_environment_credentials is False
    assert settings.api_base == "https://operator.example/v1"
    assert settings.pinned is None


def test_client_params_that_are_not_credentials_keep_the_operators_identity(gate):
    target = deployment(["organization"], api_key=None)
    settings = settle(gate, target, organization="org-client-1")
    assert settings.credentials["organization"] == "org-client-1"
    assert settings.credentials["aws_secret_access_key"] == "operator-aws-SECRET"
    # A deployment keyed from the environment keeps that key.
    assert settings.use_environment_credentials is True


def test_no_client_params_means_the_deployment_as_configured(gate):
    settings = settle(gate, deployment(["api_base", "api_key"]))
    assert settings.api_key == OPERATOR_KEY
    assert settings.api_base == "https://operator.example/v1"
    assert settings.use_environment_credentials is True
    assert settings.pinned is None and settings.client_base is False


# Bedrock's runtime endpoint is a destination too


def test_a_bedrock_endpoint_passes_the_ssrf_guard(gate):
    target = deployment(["aws_bedrock_runtime_endpoint", "aws_access_key_id",
                         "aws_secret_access_key"], provider="bedrock")
    with pytest.raises(errors.InvalidRequest) as raised:
        settle(gate, target, aws_bedrock_runtime_endpoint="https://private.test",
               aws_access_key_id="AKIACLIENTEXAMPLE01",
               aws_secret_access_key="client/secret+key/EXAMPLE")
    assert raised.value.param == "aws_bedrock_runtime_endpoint"


def test_a_bedrock_endpoint_never_carries_the_operators_aws_keys(gate):
    target = deployment(["aws_bedrock_runtime_endpoint"], provider="bedrock")
    endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com"
    with pytest.raises(errors.InvalidRequest, match="own api_key"):
        settle(gate, target, aws_bedrock_runtime_endpoint=endpoint)


def test_a_bedrock_endpoint_means_nothing_to_other_providers(gate, resolver):
    target = deployment(["aws_bedrock_runtime_endpoint"])
    settings = settle(gate, target, aws_bedrock_runtime_endpoint="https://private.test")
    assert settings.api_base == "https://operator.example/v1"
    assert "aws_bedrock_runtime_endpoint" not in settings.credentials
    assert resolver.calls == []


def test_a_user_config_endpoint_passes_the_ssrf_guard(gate):
    entry = {"model_name": "u", "litellm_params": {
        "model": "bedrock/m", "aws_access_key_id": "AKIACLIENTEXAMPLE01",
        "aws_secret_access_key": "client/secret+key/EXAMPLE",
        "aws_bedrock_runtime_endpoint": "https://private.test"}}
    owned = build_deployment(entry, 0, label="user_config", client_owned=True,
                             allow_all=True)
    with pytest.raises(errors.InvalidRequest) as raised:
        gate.settle(owned, parsed().auth, {})
    assert raised.value.param == "user_config"


def test_a_user_config_endpoint_is_pinned_and_used_as_the_base(gate):
    entry = {"model_name": "u", "litellm_params": {
        "model": "bedrock/m", "aws_access_key_id": "AKIACLIENTEXAMPLE01",
        "aws_secret_access_key": "client/secret+key/EXAMPLE",
        "aws_bedrock_runtime_endpoint":
            "https://bedrock-runtime.us-east-1.amazonaws.com"}}
    owned = build_deployment(entry, 0, label="user_config", client_owned=True,
                             allow_all=True)
    settings = gate.settle(owned, parsed().auth, {})
    assert settings.api_base == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert settings.pinned.addresses == ("52.94.0.10",)
    assert "aws_bedrock_runtime_endpoint" not in settings.credentials
    assert settings.use_environment_credentials is False


# The per-request cache of SSRF verdicts


def test_each_url_gets_its_own_verdict_within_a_request(gate):
    checked: dict = {}
    target = deployment(["api_base"])
    first = parsed(api_base="https://api.example.com/v1", api_key=CLIENT_KEY).auth
    second = parsed(api_base="https://other.example.com/v1", api_key=CLIENT_KEY).auth
    assert gate.settle(target, first, checked).pinned.addresses == ("8.8.8.8",)
    settings = gate.settle(target, second, checked)
    assert settings.api_base == "https://other.example.com/v1"
    assert settings.pinned.addresses == ("8.8.4.4",)


def test_a_url_is_resolved_once_per_request_even_when_refused(gate, resolver):
    checked: dict = {}
    auth = parsed(api_base="https://loopback.test/v1", api_key=CLIENT_KEY).auth
    for _ in range(3):
        with pytest.raises(errors.InvalidRequest):
            gate.settle(deployment(["api_base"]), auth, checked)
    assert resolver.calls == [("loopback.test", 443)]
