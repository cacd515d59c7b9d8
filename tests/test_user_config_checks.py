"""What a user_config must pass: schema paths, limits, secrets, params, URLs."""

from __future__ import annotations

import copy

import pytest

from app import errors, urlguard
from app import user_config_checks as checks
from app.settings import Deployment, Limits

LIMITS = Limits()
POLICY = urlguard.UrlPolicy.from_settings(["127.0.0.1:8080"])


def deployment(name: str = "u", **params: object) -> dict:
    return {"model_name": name,
            "litellm_params": {"model": "openai/u", "api_key": "sk-u", **params}}


def config(*entries: dict, **settings: object) -> dict:
    return {"model_list": list(entries) or [deployment()], **settings}


def refused(action, *args) -> errors.InvalidRequest:
    with pytest.raises(errors.InvalidRequest) as raised:
        action(*args)
    assert raised.value.status == 400 and raised.value.param == "user_config"
    return raised.value


@pytest.mark.parametrize("raw, message", [
    (config(deployment(), deployment("v", timeout="soon")),
     "user_config.model_list[1].litellm_params.timeout: Not a valid number."),
    (config(deployment("u", timeout=True)),
     "user_config.model_list[0].litellm_params.timeout: Not a valid number."),
    ({"model_list": [{"model_name": "u", "litellm_params": {"api_key": "k"}}]},
     "user_config.model_list[0].litellm_params.model: Missing data for required "
     "field."),
    ({"model_list": [{"litellm_params": {"model": "openai/u"}}]},
     "user_config.model_list[0].model_name: Missing data for required field."),
    ({"model_list": "u"}, "user_config.model_list: Not a valid list."),
    ({"model_list": []}, "user_config.model_list: Shorter than minimum length 1."),
    ({}, "user_config.model_list: Missing data for required field."),
    (config(num_retries="lots"), "user_config.num_retries: Not a valid integer."),
    (config(num_retries=-1),
     "user_config.num_retries: Must be greater than or equal to 0."),
    (config(num_retries=2.5), "user_config.num_retries: Not a valid integer."),
    (config(allowed_fails=None), "user_config.allowed_fails: Field may not be null."),
    (config(routing_strategy="fastest"),
     "user_config.routing_strategy: Must be one of:"),
    (config(fallbacks=[{"u": "v"}]),
     "user_config.fallbacks[0].u.value: Not a valid list."),
    (config(fallbacks=[{"u": ["does-not-exist"]}]),
     "user_config.fallbacks[0]: names a model group not in model_list: "
     "does-not-exist"),
    (config(context_window_fallbacks=[{"nope": ["u"]}]),
     "user_config.context_window_fallbacks[0]: names a model group not in "
     "model_list: nope"),
    (config(default_fallbacks=["nope"]),
     "user_config.default_fallbacks: names a model group not in model_list: nope"),
    (config(default_litellm_params={"timeout": "soon"}),
     "user_config.default_litellm_params.timeout: Not a valid number."),
    (config(bogus=1), "user_config.bogus: Unknown field."),
    (config(model_list=None), "user_config.model_list: Field may not be null."),
    ({"model_list": [{**deployment(), "extra": 1}]},
     "user_config.model_list[0].extra: Unknown field."),
    (config(master_key="sk-x"), "user_config.master_key: Unknown field."),
])
def test_each_schema_fault_is_a_400_naming_its_path(raw, message):
    error = refused(checks.validated, raw, LIMITS)
    assert error.message.startswith(message)


@pytest.mark.parametrize("raw, path, setting", [
    (config(*[deployment(f"d{i}") for i in range(21)]), "user_config.model_list:",
     "general_settings.user_config_max_deployments"),
    (config(num_retries=11), "user_config.num_retries:",
     "general_settings.max_client_num_retries"),
    (config(num_retries=100000), "user_config.num_retries:",
     "general_settings.max_client_num_retries"),
    (config(deployment(num_retries=11)),
     "user_config.model_list[0].litellm_params.num_retries:",
     "general_settings.max_client_num_retries"),
    (config(default_litellm_params={"num_retries": 11}),
     "user_config.default_litellm_params.num_retries:",
     "general_settings.max_client_num_retries"),
    (config(fallbacks=[{"u": ["u"] * 6}]), "user_config.fallbacks[0].u:",
     "general_settings.max_fallback_depth"),
    (config(default_fallbacks=["u"] * 6), "user_config.default_fallbacks:",
     "general_settings.max_fallback_depth"),
    (config(max_fallbacks=6), "user_config.max_fallbacks:",
     "general_settings.max_fallback_depth"),
    (config(timeout=601), "user_config.timeout:",
     "general_settings.max_client_timeout"),
    (config(request_timeout=3600), "user_config.request_timeout:",
     "general_settings.max_client_timeout"),
    (config(retry_after=1e9), "user_config.retry_after:",
     "general_settings.max_client_timeout"),
    (config(deployment(stream_timeout=601)),
     "user_config.model_list[0].litellm_params.stream_timeout:",
     "general_settings.max_client_timeout"),
])
def test_each_limit_is_refused_naming_it(raw, path, setting):
    error = refused(checks.validated, raw, LIMITS)
    assert error.message.startswith(path)
    assert f"({setting})" in error.message


def test_limits_at_their_bounds_are_accepted():
    raw = config(*[deployment(f"d{i}") for i in range(20)], num_retries=10,
                 timeout=600, fallbacks=[{"d0": [f"d{i}" for i in range(1, 6)]}],
                 max_fallbacks=5)
    data = checks.validated(raw, LIMITS)
    assert len(data["model_list"]) == 20 and data["num_retries"] == 10


def test_limits_follow_the_operators_settings():
    tight = Limits(user_config_max_deployments=1, max_num_retries=1,
                   max_fallback_depth=0, max_timeout=5)
    for raw in (config(deployment(), deployment("v")), config(num_retries=2),
                config(default_fallbacks=["u"]), config(timeout=6)):
        refused(checks.validated, raw, tight)


def test_a_huge_model_list_is_refused_before_the_schema_walks_it(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the schema was asked")

    monkeypatch.setattr(checks.USER_CONFIG_SCHEMA, "load", fail)
    raw = {"model_list": [None] * 100_000}
    assert "100000 deployments" in refused(checks.validated, raw, LIMITS).message


@pytest.mark.parametrize("place", [
    lambda c: c["model_list"][0]["litellm_params"].update(api_key="os.environ/X"),
    lambda c: c["model_list"][0]["litellm_params"].update(
        api_base=" os.environ/AZURE_API_BASE"),
    lambda c: c["model_list"][0]["litellm_params"].update(
        extra_headers={"x-k": "os.environ/X"}),
    lambda c: c.update(default_litellm_params={"api_key": "os.environ/X"}),
    lambda c: c["model_list"][0].update(model_info={"id": ["vault/secret/x"]}),
    lambda c: c["model_list"][0]["litellm_params"].update(
        vertex_credentials="google_secret_manager/creds"),
])
def test_secret_references_are_refused_anywhere(place):
    raw = config()
    place(raw)
    error = refused(checks.validated, raw, LIMITS)
    assert "secret references" in error.message
    assert error.message.startswith("user_config.")


def test_validation_leaves_the_clients_dict_untouched():
    raw = config(fallbacks=[{"u": ["u"]}])
    before = copy.deepcopy(raw)
    checks.validated(raw, LIMITS)
    assert raw == before


@pytest.mark.parametrize("params, fragment", [
    ({"aws_profile_name": "default"}, "identity of the gateway's host"),
    ({"aws_role_name": "arn:aws:iam::1:role/x"}, "identity of the gateway's host"),
    ({"aws_web_identity_token": "t"}, "identity of the gateway's host"),
    ({"aws_sts_endpoint": "https://sts.example"}, "identity of the gateway's host"),
    ({"max_budget": 10}, "does not support"),
    ({"configurable_clientside_auth_params": ["api_key"]}, "operator setting"),
    ({"vertex_credentials": "/etc/gcp/key.json"}, "inline service-account JSON"),
    ({"api_key": "has space"}, "printable characters"),
    ({"extra_headers": {"Host": "evil"}}, "may not be set"),
    ({"aws_region_name": "us-east-1.evil.example/"}, "must match"),
    ({"vertex_location": "a/b"}, "must match"),
    ({"api_version": "1?x=1"}, "must match"),
    ({"ssl_verify": "/etc/passwd"}, "only true or false"),
])
def test_params_a_client_may_not_set_are_refused_with_their_path(params, fragment):
    error = refused(checks.check_params, {"model": "openai/u", **params},
                    ".model_list[0].litellm_params")
    name = next(iter(params))
    assert error.message.startswith(f"user_config.model_list[0].litellm_params.{name}:")
    assert fragment in error.message


def test_a_refused_credential_is_not_repeated_in_the_message():
    secret = "sk-client bad-SECRET"
    error = refused(checks.check_params, {"api_key": secret}, ".model_list[0]")
    assert secret not in error.message and "SECRET" not in error.message


@pytest.mark.parametrize("params, provider, key", [
    ({"api_base": "http://169.254.169.254/v1"}, "openai", "api_base"),
    ({"api_base": "https://169.254.169.254/v1"}, "openai", "api_base"),
    ({"base_url": "https://127.0.0.1/v1"}, "openai", "base_url"),
    ({"api_base": "https://[::1]:8080"}, "openai", "api_base"),
    ({"api_base": "https://10.0.0.8"}, "openai", "api_base"),
    ({"api_base": "http://127.0.0.1:8081"}, "openai", "api_base"),
    ({"aws_bedrock_runtime_endpoint": "https://169.254.169.254"}, "bedrock",
     "aws_bedrock_runtime_endpoint"),
    ({}, "ollama", "api_base (the provider's default)"),
    ({}, "lm_studio", "api_base (the provider's default)"),
    ({}, "azure", "api_base"),
    ({"api_base": "ftp://example.com"}, "openai", "api_base"),
])
def test_destinations_refused_without_a_lookup(params, provider, key):
    error = refused(checks.check_destination, params, provider, ".model_list[2]",
                    POLICY)
    assert error.message.startswith(f"user_config.model_list[2].litellm_params.{key}:")


@pytest.mark.parametrize("params, provider", [
    ({"api_base": "http://127.0.0.1:8080/v1"}, "openai"),  # the operator listed it
    ({"api_base": "https://api.example.com/v1"}, "openai"),  # judged per request
    ({}, "openai"),  # https://api.openai.com/v1, judged per request
    ({}, "anthropic"),  # the adapter's own public host
    ({"api_base": "https://8.8.8.8/v1"}, "openai"),
])
def test_destinations_left_to_the_per_request_check(params, provider):
    assert checks.check_destination(params, provider, ".model_list[0]", POLICY) is None


def client_deployment(provider: str, **fields: object) -> Deployment:
    return Deployment(id="d", model_name="u", provider=provider, model="m",
                      client_owned=True, **fields)


@pytest.mark.parametrize("built", [
    client_deployment("openai"),
    client_deployment("anthropic"),
    client_deployment("azure", credentials={"organization": "o"}),
    client_deployment("vertex_ai", credentials={"vertex_project": "proj-1"}),
    client_deployment("bedrock", credentials={"aws_access_key_id": "AKIA"}),
])
def test_a_deployment_without_its_own_credentials_is_refused(built):
    error = refused(checks.require_credentials, built, ".model_list[0]")
    assert "never used for a user_config" in error.message


@pytest.mark.parametrize("built", [
    client_deployment("openai", api_key="sk-u"),
    client_deployment("azure", credentials={"azure_ad_token": "t"}),
    client_deployment("bedrock", credentials={"aws_access_key_id": "AKIA",
                                              "aws_secret_access_key": "s"}),
    client_deployment("ollama"),
    client_deployment("openai", mock_response="hi"),
])
def test_deployments_with_credentials_or_needing_none_pass(built):
    checks.require_credentials(built, ".model_list[0]")


def test_defaults_sit_under_a_deployments_own_params():
    entry = deployment(timeout=5)
    merged = checks.with_defaults(entry, {"timeout": 9, "temperature": 0.1})
    assert merged["litellm_params"]["timeout"] == 5
    assert merged["litellm_params"]["temperature"] == 0.1
    assert "temperature" not in entry["litellm_params"]
