"""The only place that may say yes to a client's credential or destination.

:func:`collect` gathers every client auth param from every place a value
could be merged from (the top level, a literal ``extra_body``, a literal
``litellm_params``, ``metadata``) and checks each value's form.
:meth:`Gate.settle` then decides, for one deployment, which of them apply and
returns the :class:`CallSettings` the dispatcher uses. Each request gets its
own settings: a client key never sticks to anything shared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app import errors, providers, urlguard
from app.credentials import check_value
from app.params import (
    AUTH_ALIASES,
    HOST_IDENTITY_PARAMS,
    ROUTING_ALIASES,
    ROUTING_PATTERNS,
    URL_PARAMS,
)
from app.settings import Deployment, UrlSettings

logger = logging.getLogger(__name__)

NESTED_PLACES = ("extra_body", "litellm_params", "metadata")

# Operator settings that only make sense for the operator's own host.
OPERATOR_ONLY = frozenset({
    "organization", "extra_headers", "azure_ad_token", "vertex_credentials",
    "vertex_project", "aws_access_key_id", "aws_secret_access_key",
    "aws_session_token",
})

HOW_TO_ALLOW = (
    "The operator can allow it for this model with "
    "litellm_params.configurable_clientside_auth_params (a name, or "
    "{name: regex}), or for every model with "
    "general_settings.allow_client_side_credentials."
)


@dataclass(frozen=True)
class ClientAuth:
    """The client's auth params: by the name it used, and parsed URLs."""

    values: Mapping[str, Any] = field(default_factory=dict)
    urls: Mapping[str, urlguard.ClientUrl] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.values)

    def canonical(self, name: str) -> Any:
        for written, value in self.values.items():
            if AUTH_ALIASES[written] == name:
                return value
        return None


@dataclass(frozen=True)
class CallSettings:
    """Where and as whom one attempt calls its deployment."""

    api_base: str | None
    api_key: str | None
    credentials: Mapping[str, Any]
    use_environment_credentials: bool
    pinned: urlguard.CheckedUrl | None = None
    client_base: bool = False


def collect(data: Mapping[str, Any]) -> ClientAuth:
    """Every client auth param of a body, with its form checked."""
    values: dict[str, Any] = {}
    for place in (data, *(data.get(p) for p in NESTED_PLACES)):
        if not isinstance(place, Mapping):
            continue
        for name, value in place.items():
            if name in AUTH_ALIASES and value is not None:
                add_value(values, name, value)
    urls = {}
    for name, value in values.items():
        if AUTH_ALIASES[name] in URL_PARAMS:
            urls[name] = urlguard.parse_client_url(value, name)
    return ClientAuth(values, urls)


def add_value(values: dict[str, Any], name: str, value: Any) -> None:
    if name in HOST_IDENTITY_PARAMS:
        raise errors.InvalidRequest(
            f"The param '{name}' selects an identity of the gateway's host and "
            f"is never accepted from clients.", param=name)
    check_value(name, value)
    canonical = AUTH_ALIASES[name]
    for written, earlier in values.items():
        if AUTH_ALIASES[written] == canonical and earlier != value:
            raise errors.InvalidRequest(
                f"The param '{name}' was sent more than once (or with its alias "
                f"'{written}') with different values.", param=name)
    values[name] = value


def routing_params(data: Mapping[str, Any], query_version: str | None = None
                   ) -> dict[str, str]:
    """Validated version, location and region params, by canonical name."""
    found: dict[str, str] = {}
    if query_version is not None:
        found["api_version"] = checked_routing("api_version", query_version)
    places = (data, data.get("extra_body"), data.get("litellm_params"))
    for place in places:
        if not isinstance(place, Mapping):
            continue
        for name, value in place.items():
            if name in ROUTING_ALIASES and value is not None:
                found[ROUTING_ALIASES[name]] = checked_routing(name, value)
    return found


def checked_routing(name: str, value: Any) -> str:
    pattern = ROUTING_PATTERNS[ROUTING_ALIASES[name]]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise errors.InvalidRequest(
            f"The param '{name}' has an invalid value: it must match "
            f"{pattern.pattern}.", param=name)
    return value


def fallback_entries(entries: Any) -> tuple[tuple[str, ...] | None,
                                            dict[str, ClientAuth]]:
    """A request's ``fallbacks``: group names, or ``{model, <auth params>}``."""
    if entries is None:
        return None, {}
    groups, auth = [], {}
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            groups.append(entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get("model"), str):
            groups.append(entry["model"])
            auth[entry["model"]] = collect(entry)
        else:
            raise errors.InvalidRequest(
                f"fallbacks[{index}]: expected a model group name or an object "
                f"with a 'model' key.", param="fallbacks")
    return tuple(groups), auth


class Gate:
    """Decides, per deployment, which client auth params apply."""

    def __init__(self, urls: UrlSettings,
                 resolver: Callable[[str, int], list[str]] | None = None) -> None:
        self.policy = urlguard.UrlPolicy.from_settings(urls.allowed_hosts, urls.validate)
        self.resolver = resolver

    def settle(self, deployment: Deployment, auth: ClientAuth,
               checked: dict[str, urlguard.CheckedUrl]) -> CallSettings:
        """The call settings for ``deployment``; 400 if a param is refused.

        ``checked`` caches SSRF results for this request across deployments.
        """
        if deployment.client_owned:
            return self.client_owned(deployment, auth, checked)
        by_pattern = self.check_allowed(deployment, auth)
        return self.merge(deployment, auth, by_pattern, checked)

    def check_allowed(self, deployment: Deployment, auth: ClientAuth) -> set[str]:
        """Refuse any param not allowed; return names admitted by a pattern."""
        by_pattern: set[str] = set()
        base_allowed = False
        for name, value in auth.values.items():
            if name == "api_key":
                continue
            subject = auth.urls[name].normalised if name in auth.urls else value
            verdict = deployment.allowlist.allows(name, str(subject))
            if not verdict:
                raise refusal(deployment, name, verdict)
            if deployment.allowlist.lookup(name)[0] is False:
                by_pattern.add(name)
            base_allowed |= AUTH_ALIASES[name] in URL_PARAMS
        if "api_key" in auth.values:
            verdict = deployment.allowlist.allows("api_key", auth.values["api_key"])
            if not verdict and not (verdict is None and base_allowed):
                raise refusal(deployment, "api_key", verdict)
        return by_pattern

    def merge(self, deployment: Deployment, auth: ClientAuth, by_pattern: set[str],
              checked: dict[str, urlguard.CheckedUrl]) -> CallSettings:
        base_name = next((n for n in auth.urls if AUTH_ALIASES[n] == "api_base"), None)
        credentials = dict(deployment.credentials)
        api_key = deployment.api_key
        pinned = None
        if base_name is not None:
            pinned = self.check_url(base_name, auth, checked)
            if base_name not in by_pattern:
                self.require_client_key(deployment, auth)
                api_key = None
                credentials = {k: v for k, v in credentials.items()
                               if k not in OPERATOR_ONLY}
        client_key = auth.canonical("api_key")
        for name, value in auth.values.items():
            canonical = AUTH_ALIASES[name]
            if canonical not in ("api_key", "api_base"):
                credentials[canonical] = value
        return CallSettings(
            api_base=pinned.url.normalised if pinned else deployment.api_base,
            api_key=client_key if client_key is not None else api_key,
            credentials=credentials,
            use_environment_credentials=not auth,
            pinned=pinned,
            client_base=pinned is not None,
        )

    def require_client_key(self, deployment: Deployment, auth: ClientAuth) -> None:
        if auth.canonical("api_key") is None and not auth.canonical("aws_access_key_id"):
            raise errors.InvalidRequest(
                f"A client api_base on model '{deployment.model_name}' needs the "
                f"client's own api_key: the operator's key is never sent to a "
                f"host the client chose.", param="api_key")

    def check_url(self, name: str, auth: ClientAuth,
                  checked: dict[str, urlguard.CheckedUrl]) -> urlguard.CheckedUrl:
        if name not in checked:
            checked[name] = urlguard.check(auth.values[name], name, self.policy,
                                           resolver=self.resolver)
        return checked[name]

    def client_owned(self, deployment: Deployment, auth: ClientAuth,
                     checked: dict[str, urlguard.CheckedUrl]) -> CallSettings:
        """A ``user_config`` deployment: the client's own, nothing of ours."""
        credentials = dict(deployment.credentials)
        for name, value in auth.values.items():
            if AUTH_ALIASES[name] not in ("api_key", *URL_PARAMS):
                credentials[AUTH_ALIASES[name]] = value
        # Every URL the call could go to is the one checked and pinned here.
        api_base = (auth.canonical("api_base")
                    or auth.canonical("aws_bedrock_runtime_endpoint")
                    or deployment.api_base
                    or providers.default_base(deployment.provider))
        pinned = None
        if api_base:
            key = f"user_config:{api_base}"
            if key not in checked:
                checked[key] = urlguard.check(api_base, "user_config", self.policy,
                                              resolver=self.resolver)
            pinned = checked[key]
        api_key = auth.canonical("api_key") or deployment.api_key
        return CallSettings(
            api_base=pinned.url.normalised if pinned else None,
            api_key=api_key, credentials=credentials,
            use_environment_credentials=False, pinned=pinned, client_base=True,
        )


def refusal(deployment: Deployment, name: str, verdict: bool | None
            ) -> errors.InvalidRequest:
    if verdict is False:
        reason = "its value does not match the pattern the operator set"
    else:
        reason = "clients may not set it"
    logger.info("refused client param %s on %s: %s", name, deployment.model_name,
                reason)
    return errors.InvalidRequest(
        f"The param '{name}' was refused for model '{deployment.model_name}': "
        f"{reason}. {HOW_TO_ALLOW}", param=name)
