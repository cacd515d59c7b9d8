"""The gateway's vocabulary of request keys, in one place.

A request body key is exactly one of: an OpenAI param or a provider-specific
param (both forwarded to the provider), a client auth param (it changes how
the call is made and is never forwarded), a routing param (a validated
version, region or location: never forwarded as a body field), or a control
key (the gateway's own: consumed, never forwarded).
"""

from __future__ import annotations

import re

from app.config_schema import (
    IGNORED_LITELLM_PARAMS,
    Deployment,
    LitellmParams,
    LitellmSettings,
    UserConfig,
)

# Client auth params, by the name a client may write, and what they mean.
AUTH_ALIASES: dict[str, str] = {
    "api_key": "api_key",
    "api_base": "api_base",
    "base_url": "api_base",
    "organization": "organization",
    "extra_headers": "extra_headers",
    "vertex_project": "vertex_project",
    "vertex_ai_project": "vertex_project",
    "vertex_credentials": "vertex_credentials",
    "vertex_ai_credentials": "vertex_credentials",
    "aws_access_key_id": "aws_access_key_id",
    "aws_secret_access_key": "aws_secret_access_key",
    "aws_session_token": "aws_session_token",
    "aws_profile_name": "aws_profile_name",
    "aws_role_name": "aws_role_name",
    "aws_web_identity_token": "aws_web_identity_token",
    "aws_sts_endpoint": "aws_sts_endpoint",
    "aws_bedrock_runtime_endpoint": "aws_bedrock_runtime_endpoint",
    "azure_ad_token": "azure_ad_token",
}
AUTH_PARAMS = frozenset(AUTH_ALIASES)

# These select identities of the gateway's own host: never from a client.
HOST_IDENTITY_PARAMS = frozenset({
    "aws_profile_name", "aws_role_name", "aws_web_identity_token", "aws_sts_endpoint",
})

# Auth params whose value is a URL the call will be sent to.
URL_PARAMS = frozenset({"api_base", "aws_bedrock_runtime_endpoint"})

# Auth params that are a credential: whose identity the call uses.
CREDENTIAL_PARAMS = frozenset({
    "api_key", "azure_ad_token", "vertex_credentials", "aws_access_key_id",
    "aws_secret_access_key", "aws_session_token",
})

# Settings bound to whose identity the call uses: a client that brings its own
# credential replaces all of these of the operator's, never mixes with them.
IDENTITY_PARAMS = CREDENTIAL_PARAMS | {"organization", "vertex_project"}

# Routing params: no allowance needed, but each must match its pattern in full.
ROUTING_ALIASES: dict[str, str] = {
    "api_version": "api_version",
    "vertex_location": "vertex_location",
    "vertex_ai_location": "vertex_location",
    "aws_region_name": "aws_region_name",
}
ROUTING_PATTERNS: dict[str, re.Pattern[str]] = {
    "api_version": re.compile(r"[A-Za-z0-9.-]{1,32}"),
    "vertex_location": re.compile(r"global|[a-z0-9-]{1,40}"),
    "aws_region_name": re.compile(r"[a-z0-9-]{1,40}"),
}
ROUTING_PARAMS = frozenset(ROUTING_ALIASES)

# The gateway's own keys: read by the gateway, never forwarded. Besides these,
# every key the router settings and ``litellm_params`` schemas define, and any
# ``litellm_*`` key (see :func:`is_control_key`).
_OWN_CONTROL_KEYS = frozenset({
    "user_config", "fallbacks", "context_window_fallbacks",
    "content_policy_fallbacks", "default_fallbacks", "num_retries", "timeout",
    "stream_timeout", "request_timeout", "allowed_fails", "cooldown_time",
    "retry_after", "drop_params", "mock_response", "metadata", "max_retries",
    "litellm_params", "extra_body", "model_list", "routing_strategy",
    "disable_cooldowns", "model_group_alias", "default_litellm_params",
    "max_fallbacks", "custom_llm_provider", "configurable_clientside_auth_params",
    "ssl_verify", "rpm", "tpm", "weight", "order", "model_info",
    "user_api_key", "proxy_server_request", "secret_fields",
})


def _schema_keys() -> frozenset[str]:
    """Keys of the config schemas a client body may echo (``model`` aside)."""
    names = set(IGNORED_LITELLM_PARAMS)
    for schema in (LitellmParams, LitellmSettings, UserConfig, Deployment):
        names.update(schema().fields)
    return frozenset(names - {"model"})


CONTROL_KEYS = (_OWN_CONTROL_KEYS | _schema_keys()) - AUTH_PARAMS - ROUTING_PARAMS

# Keys a literal ``extra_body`` object may not override at the top level.
PROTECTED_KEYS = frozenset({"model", "messages", "stream"})


def is_control_key(name: str) -> bool:
    return name in CONTROL_KEYS or name.startswith("litellm_")


def is_forwarded(name: str) -> bool:
    """True for OpenAI and provider-specific params, which reach the provider."""
    return not (
        is_control_key(name) or name in AUTH_PARAMS or name in ROUTING_PARAMS
    )
