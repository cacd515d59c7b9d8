"""What a client's ``user_config`` must pass before a router is built from it.

The checks run cheapest first: the length of ``model_list`` (so a huge list
is refused before the schema walks it), secret references, the schema shared
with the operator's config, then the gateway's limits. Each deployment then
has its params, credentials and destination checked. Every refusal is a 400
with ``param: "user_config"`` whose message starts with the key path at
fault; nothing is clamped and nothing is silently dropped.

Host names in an ``api_base`` are not resolved here: the gate resolves and
judges them on every request (an answer may change). Here only what needs no
lookup is refused: plain http to a host the operator did not list, and IP
literals that are not public.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import ValidationError

from app import errors, providers, urlguard
from app.config_schema import IGNORED_LITELLM_PARAMS, USER_CONFIG_SCHEMA, flatten
from app.credentials import check_value
from app.client_params import checked_routing
from app.params import AUTH_ALIASES, HOST_IDENTITY_PARAMS, ROUTING_ALIASES, URL_PARAMS
from app.settings import Deployment, Limits

PARAM = "user_config"

# Strings a config loader would resolve instead of using as they are.
SECRET_PREFIXES = ("os.environ", "oidc/", "azure_key_vault/",
                   "aws_secret_manager/", "google_secret_manager/",
                   "hashicorp_vault/", "vault/")

# litellm_params a client may not set, and why.
REFUSED_PARAMS: dict[str, str] = {
    **dict.fromkeys(HOST_IDENTITY_PARAMS, "selects an identity of the gateway's "
                    "host; never accepted from clients."),
    **dict.fromkeys(IGNORED_LITELLM_PARAMS, "a LiteLLM setting this gateway does "
                    "not support."),
    "configurable_clientside_auth_params": "an operator setting; a user_config's "
    "deployments are the client's own already.",
}

# Providers that answer without a key, and those with no host of their own.
KEYLESS = frozenset({"ollama", "ollama_chat", "lm_studio", "hosted_vllm", "mock"})
NEEDS_API_BASE = frozenset({"azure", "hosted_vllm"})

# Router settings bounded by general_settings.max_client_timeout.
TIMEOUT_SETTINGS = ("timeout", "stream_timeout", "request_timeout", "retry_after")
FALLBACK_SETTINGS = ("fallbacks", "context_window_fallbacks",
                     "content_policy_fallbacks")


def refusal(path: str, message: str) -> errors.InvalidRequest:
    """The 400 for a fault at ``path`` (``.model_list[0]...``, or "" for the whole)."""
    return errors.InvalidRequest(f"{PARAM}{path}: {message}", param=PARAM)


def validated(raw: Mapping[str, Any], limits: Limits) -> dict[str, Any]:
    """The loaded config, or a 400 for its first fault."""
    check_length(raw, limits)
    check_secret_references(raw)
    try:
        data = USER_CONFIG_SCHEMA.load(raw)
    except ValidationError as error:
        path, message = first_fault(error.messages)
        raise refusal(path, message) from None
    check_limits(data, limits)
    return data


def first_fault(messages: Any) -> tuple[str, str]:
    pairs = flatten(messages) or [("", "Invalid user_config.")]
    path, message = pairs[0]
    return (f".{path}" if path else ""), message


def check_length(raw: Mapping[str, Any], limits: Limits) -> None:
    entries = raw.get("model_list")
    limit = limits.user_config_max_deployments
    if isinstance(entries, list) and len(entries) > limit:
        raise refusal(".model_list", f"{len(entries)} deployments is more than "
                      f"the limit of {limit} "
                      f"(general_settings.user_config_max_deployments).")


def check_secret_references(raw: Any) -> None:
    """A client may not make the gateway read its environment or secret stores.

    The value is never resolved anywhere on the ``user_config`` path; refusing
    it says so plainly instead of sending the reference as a literal key.
    """
    pending: list[tuple[Any, str]] = [(raw, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str) and value.strip().startswith(SECRET_PREFIXES):
            raise refusal(path, "secret references (os.environ/...) are not accepted "
                          "from clients; send the value itself.")
        # Pushed in reverse, so the first reference in the document is named.
        if isinstance(value, Mapping):
            items = [(v, f"{path}.{k}") for k, v in value.items()]
        elif isinstance(value, list):
            items = [(v, f"{path}[{i}]") for i, v in enumerate(value)]
        else:
            continue
        pending.extend(reversed(items))


def check_limits(data: Mapping[str, Any], limits: Limits) -> None:
    """Each limit refused with a 400 that names it."""
    for path, retries in retry_settings(data):
        if retries > limits.max_num_retries:
            raise refusal(path, f"{retries} is more than the limit of "
                          f"{limits.max_num_retries} "
                          f"(general_settings.max_client_num_retries).")
    for path, seconds in timeout_settings(data):
        if seconds > limits.max_timeout:
            raise refusal(path, f"{seconds:g} seconds is more than the limit of "
                          f"{limits.max_timeout:g} "
                          f"(general_settings.max_client_timeout).")
    for path, depth in fallback_depths(data):
        if depth > limits.max_fallback_depth:
            raise refusal(path, f"{depth} fallbacks is more than the limit of "
                          f"{limits.max_fallback_depth} "
                          f"(general_settings.max_fallback_depth).")


def deployment_params(data: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(path, litellm_params)`` of each deployment, and the shared defaults."""
    found = [(f".model_list[{i}].litellm_params", entry["litellm_params"])
             for i, entry in enumerate(data["model_list"])]
    return found + [(".default_litellm_params", data.get("default_litellm_params")
                     or {})]


def retry_settings(data: Mapping[str, Any]) -> list[tuple[str, int]]:
    found = [(".num_retries", data.get("num_retries"))]
    found += [(f"{path}.num_retries", params.get("num_retries"))
              for path, params in deployment_params(data)]
    return [(path, value) for path, value in found if value is not None]


def timeout_settings(data: Mapping[str, Any]) -> list[tuple[str, float]]:
    found = [(f".{name}", data.get(name)) for name in TIMEOUT_SETTINGS]
    found += [(f"{path}.{name}", params.get(name))
              for path, params in deployment_params(data)
              for name in ("timeout", "stream_timeout")]
    return [(path, value) for path, value in found if value is not None]


def fallback_depths(data: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The length of every fallback list, and ``max_fallbacks``."""
    found = [(".max_fallbacks", data.get("max_fallbacks")),
             (".default_fallbacks", len(data.get("default_fallbacks") or ()))]
    for name in FALLBACK_SETTINGS:
        for index, entry in enumerate(data.get(name) or ()):
            for source, targets in entry.items():
                found.append((f".{name}[{index}].{source}", len(targets)))
    return [(path, value) for path, value in found if value is not None]


def with_defaults(entry: Mapping[str, Any], defaults: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    """The entry with ``default_litellm_params`` under its own params."""
    if not defaults:
        return dict(entry)
    return {**entry, "litellm_params": {**defaults, **entry["litellm_params"]}}


def check_params(params: Mapping[str, Any], path: str) -> None:
    """Names, credential forms and routing values of params found at ``path``."""
    for name, value in params.items():
        where = f"{path}.{name}"
        if name in REFUSED_PARAMS:
            raise refusal(where, REFUSED_PARAMS[name])
        if value is None:
            continue
        try:
            if name in AUTH_ALIASES and AUTH_ALIASES[name] not in URL_PARAMS:
                check_value(name, value)
            elif name in ROUTING_ALIASES:
                checked_routing(name, value)
        except errors.InvalidRequest as error:
            raise refusal(where, error.message) from None
    if not isinstance(params.get("ssl_verify", True), bool):
        raise refusal(f"{path}.ssl_verify", "only true or false is "
                      "accepted from clients (never a file of the gateway's).")


def explicit_destination(params: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(key name, URL)`` the client named, whichever key it used."""
    for name in ("api_base", "base_url", *sorted(URL_PARAMS - {"api_base"})):
        if params.get(name):
            return name, params[name]
    return None


def destination(params: Mapping[str, Any], provider: str) -> tuple[str, str] | None:
    """Where the deployment sends: the client's URL, else the provider's default."""
    found = explicit_destination(params)
    default = providers.default_base(provider)
    if found is None and default:
        return "api_base (the provider's default)", default
    return found


class NeedsLookup(Exception):
    """The host is a name: the gate resolves and judges it on each request."""


def defer_lookup(host: str, port: int) -> list[str]:
    raise NeedsLookup(host)


def check_destination(params: Mapping[str, Any], provider: str, path: str,
                      policy: urlguard.UrlPolicy) -> None:
    """Refuse the deployment's URL now if the SSRF guard can tell without DNS."""
    found = destination(params, provider)
    if provider in NEEDS_API_BASE and found is None:
        raise refusal(f"{path}.litellm_params.api_base",
                      f"required for provider '{provider}'.")
    if found is None:
        return
    name, url = found
    try:
        urlguard.check(url, PARAM, policy, resolver=defer_lookup)
    except NeedsLookup:
        pass
    except errors.InvalidRequest as error:
        raise refusal(f"{path}.litellm_params.{name}", error.message) from None


def require_credentials(deployment: Deployment, path: str) -> None:
    """A deployment that needs a key must bring one: the gateway's never back it."""
    if deployment.mock_response is not None or deployment.provider in KEYLESS:
        return
    creds = deployment.credentials
    needed: dict[str, Callable[[], Any]] = {
        "vertex_ai": lambda: creds.get("vertex_credentials"),
        "bedrock": lambda: creds.get("aws_access_key_id")
        and creds.get("aws_secret_access_key"),
        "azure": lambda: deployment.api_key or creds.get("azure_ad_token"),
    }
    has = needed.get(deployment.provider, lambda: deployment.api_key)()
    if not has:
        raise refusal(path, f"'{deployment.model_name}' has no credentials of its "
                      f"own; the gateway's (its config, its environment) are never "
                      f"used for a user_config.")
