"""Marshmallow schemas for the LiteLLM-format config and for ``user_config``.

One set of schemas serves both: the operator's ``config.yaml`` and a client's
``user_config`` share the deployment and router-settings shapes. The operator
may write keys we do not support (they are warned about at start-up); a
client may not (its unknown keys are a 400). Inside ``litellm_params`` an
unknown key is a default provider param for that deployment, as in LiteLLM,
unless it is one of LiteLLM's own settings that we do not support.
"""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
)

# LiteLLM settings that may sit in litellm_params but that we neither
# implement nor forward: they are named in a start-up warning instead.
IGNORED_LITELLM_PARAMS = frozenset({
    "input_cost_per_token", "output_cost_per_token", "input_cost_per_second",
    "output_cost_per_second", "tags", "max_budget", "budget_duration",
    "litellm_credential_name", "use_in_pass_through", "use_litellm_proxy",
    "merge_reasoning_content_in_choices", "cache_control_injection_points",
    "max_file_size_mb", "region_name", "litellm_trace_id", "auto_router_config",
    "max_retries",
})


class Number(fields.Float):
    """A float that refuses booleans, which YAML and JSON make easy to send."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON's true or false only: ``"yes"``, ``1`` or ``"false"`` are refused,
    so a client's typo never turns a stream on or off by accident."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Count(fields.Integer):
    """A whole number (strictly: no floats, strings or booleans)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=0))
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class Allowance(fields.Field):
    """One entry of ``configurable_clientside_auth_params``: a name or {name: regex}."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and len(value) == 1:
            (name, pattern), = value.items()
            if isinstance(name, str) and isinstance(pattern, str):
                return {name: pattern}
        raise ValidationError(
            "Expected a param name or a one-key {name: regex} mapping.")


class SslVerify(fields.Field):
    """LiteLLM's ``ssl_verify``: a boolean, or the path of a CA bundle."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if isinstance(value, (bool, str)):
            return value
        raise ValidationError("Expected true, false or the path of a CA bundle.")


def fallback_list() -> fields.List:
    """``[{group: [group, ...]}, ...]``, LiteLLM's fallback shape."""
    return fields.List(fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        validate=validate.Length(equal=1),
    ))


class LitellmParams(Schema):
    class Meta:
        unknown = INCLUDE  # other keys are default provider params

    model = fields.String(required=True, validate=validate.Length(min=1))
    custom_llm_provider = fields.String()
    api_key = fields.String(allow_none=True)
    api_base = fields.String(allow_none=True)
    base_url = fields.String(allow_none=True)
    api_version = fields.String(allow_none=True)
    timeout = Number(validate=validate.Range(min=0, min_inclusive=False))
    stream_timeout = Number(validate=validate.Range(min=0, min_inclusive=False))
    num_retries = Count()
    rpm = Count()
    tpm = Count()
    weight = Number(validate=validate.Range(min=0))
    order = Count()
    organization = fields.String(allow_none=True)
    extra_headers = fields.Dict(keys=fields.String(), values=fields.String())
    mock_response = fields.String()
    drop_params = fields.Boolean()
    ssl_verify = SslVerify()
    configurable_clientside_auth_params = fields.List(Allowance())


class DefaultParams(LitellmParams):
    """``default_litellm_params``: deployment params without a model of their own."""

    model = fields.String(validate=validate.Length(min=1))


class Deployment(Schema):
    class Meta:
        unknown = RAISE

    model_name = fields.String(required=True, validate=validate.Length(min=1))
    litellm_params = fields.Nested(LitellmParams, required=True)
    model_info = fields.Dict()
    rpm = Count()
    tpm = Count()


class RouterSettings(Schema):
    class Meta:
        unknown = RAISE

    routing_strategy = fields.String(validate=validate.OneOf(ROUTING_STRATEGIES))
    num_retries = Count()
    allowed_fails = Count()
    cooldown_time = Number(validate=validate.Range(min=0))
    retry_after = Number(validate=validate.Range(min=0))
    timeout = Number(validate=validate.Range(min=0, min_inclusive=False))
    stream_timeout = Number(validate=validate.Range(min=0, min_inclusive=False))
    request_timeout = Number(validate=validate.Range(min=0, min_inclusive=False))
    fallbacks = fallback_list()
    context_window_fallbacks = fallback_list()
    content_policy_fallbacks = fallback_list()
    default_fallbacks = fields.List(fields.String())
    max_fallbacks = Count()
    disable_cooldowns = fields.Boolean()
    drop_params = fields.Boolean()
    model_group_alias = fields.Dict(keys=fields.String(), values=fields.String())
    default_litellm_params = fields.Nested(DefaultParams)


class LitellmSettings(RouterSettings):
    """``litellm_settings``: router keys (LiteLLM accepts them here too) and more."""

    ssl_verify = SslVerify()
    user_url_allowed_hosts = fields.List(fields.String())
    user_url_validation = fields.Boolean()
    json_logs = fields.Boolean()


class GeneralSettings(Schema):
    class Meta:
        unknown = RAISE

    master_key = fields.String(allow_none=True)
    allow_client_side_credentials = fields.Boolean()
    allow_user_config = fields.Boolean()
    max_request_size_mb = Number(validate=validate.Range(min=0, min_inclusive=False))
    user_config_max_deployments = Count()
    max_client_num_retries = Count()
    max_fallback_depth = Count()
    max_client_timeout = Number(validate=validate.Range(min=0, min_inclusive=False))
    user_config_cache_size = Count()


class OperatorConfig(Schema):
    class Meta:
        unknown = RAISE

    model_list = fields.List(fields.Nested(Deployment), load_default=list)
    router_settings = fields.Nested(RouterSettings, load_default=dict)
    litellm_settings = fields.Nested(LitellmSettings, load_default=dict)
    general_settings = fields.Nested(GeneralSettings, load_default=dict)
    environment_variables = fields.Dict(keys=fields.String(), values=fields.Raw())


class UserConfig(RouterSettings):
    """A client's ``user_config``: a model list plus router settings, nothing else."""

    model_list = fields.List(fields.Nested(Deployment), required=True,
                             validate=validate.Length(min=1))

    @validates_schema
    def fallbacks_name_known_groups(self, data: dict, **kwargs: Any) -> None:
        """A fallback to a group the client did not define is refused, not skipped."""
        groups = {entry["model_name"] for entry in data.get("model_list", ())}
        for path, names in fallback_names(data):
            unknown = [name for name in names if name not in groups]
            if unknown:
                raise ValidationError(
                    f"names a model group not in model_list: {unknown[0]}",
                    field_name=path,
                )


def fallback_names(data: dict) -> list[tuple[str, list[str]]]:
    """``(key path, group names)`` of every fallback setting in ``data``."""
    found = [("default_fallbacks", list(data.get("default_fallbacks") or ()))]
    for key in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        for index, entry in enumerate(data.get(key) or ()):
            for source, targets in entry.items():
                found.append((f"{key}[{index}]", [source, *targets]))
    return found


OPERATOR_SCHEMA = OperatorConfig()
USER_CONFIG_SCHEMA = UserConfig()
EXCLUDING_SCHEMA = OperatorConfig(unknown=EXCLUDE)


def flatten(messages: Any, path: str = "") -> list[tuple[str, str]]:
    """Turn marshmallow's nested messages into ``(key path, message)`` pairs."""
    if isinstance(messages, dict):
        found = []
        for key, inner in messages.items():
            if key == "_schema":
                found.extend(flatten(inner, path))
                continue
            step = f"[{key}]" if isinstance(key, int) else f".{key}" if path else key
            found.extend(flatten(inner, path + step))
        return found
    if isinstance(messages, list):
        return [pair for item in messages for pair in flatten(item, path)]
    return [(path, str(messages))]
