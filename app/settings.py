"""Immutable settings objects, built from validated config data.

The operator's config and every ``user_config`` become the same objects, so
the router never asks where a deployment came from; ``Deployment.client_owned``
says so where it matters (credentials from the environment, SSRF checks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson

from app import providers
from app.allowlist import ALLOW_ALL, Allowlist, compile_allowlist
from app.config_schema import IGNORED_LITELLM_PARAMS
from app.params import AUTH_ALIASES, ROUTING_ALIASES

EMPTY: Mapping[str, Any] = MappingProxyType({})


FallbackMap = Mapping[str, tuple[str, ...]]


def empty() -> Mapping[str, Any]:
    """A default for mapping fields: the shared read-only empty mapping."""
    return EMPTY

# litellm_params keys with a field of their own on Deployment.
_OWN_FIELDS = frozenset({
    "model", "custom_llm_provider", "api_key", "api_base", "base_url",
    "api_version", "timeout", "stream_timeout", "num_retries", "rpm", "tpm",
    "weight", "order", "mock_response", "drop_params", "ssl_verify",
    "configurable_clientside_auth_params",
})


# Router settings written as LiteLLM's ``[{group: [group, ...]}]`` lists.
FALLBACK_MAPS = frozenset({"fallbacks", "context_window_fallbacks",
                           "content_policy_fallbacks"})


class ConfigError(ValueError):
    """A config that cannot be served; the message names the key path."""


@dataclass(frozen=True)
class Deployment:
    id: str
    model_name: str
    provider: str
    model: str
    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    num_retries: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    order: int | None = None
    mock_response: str | None = None
    drop_params: bool | None = None
    ssl_verify: bool | str | None = None
    credentials: Mapping[str, Any] = field(default_factory=empty)
    defaults: Mapping[str, Any] = field(default_factory=empty)
    allowlist: Allowlist = field(default_factory=Allowlist)
    model_info: Mapping[str, Any] = field(default_factory=empty)
    client_owned: bool = False
    served_as: str = ""

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.model_name

    @property
    def state_key(self) -> str:
        """Where the router keeps this deployment's health and usage.

        A wildcard deployment serves many models; each keeps its own counts,
        so one model's failures (or a client's rate-limited model) never cool
        the others. ``id`` stays the deployment's, for the headers.
        """
        return f"{self.id}|{self.served_as}" if self.served_as else self.id

    def serving(self, requested: str) -> "Deployment":
        """This deployment with its wildcard filled from the requested name."""
        if not self.is_wildcard:
            return self
        prefix = self.model_name.split("*", 1)[0]
        rest = requested[len(prefix):]
        return _replace(self, model=self.model.replace("*", rest, 1),
                        served_as=rest)


def _replace(deployment: Deployment, **changes: Any) -> Deployment:
    from dataclasses import replace

    return replace(deployment, **changes)


@dataclass(frozen=True)
class RouterSettings:
    routing_strategy: str = "simple-shuffle"
    num_retries: int = 2
    allowed_fails: int = 3
    cooldown_time: float = 5.0
    retry_after: float = 0.0
    timeout: float | None = None
    request_timeout: float = 600.0
    stream_timeout: float | None = None
    fallbacks: FallbackMap = field(default_factory=empty)
    context_window_fallbacks: FallbackMap = field(default_factory=empty)
    content_policy_fallbacks: FallbackMap = field(default_factory=empty)
    default_fallbacks: tuple[str, ...] = ()
    max_fallbacks: int = 5
    disable_cooldowns: bool = False
    drop_params: bool = False
    model_group_alias: Mapping[str, str] = field(default_factory=empty)
    default_litellm_params: Mapping[str, Any] = field(default_factory=empty)


@dataclass(frozen=True)
class Limits:
    """What one client request may ask of the gateway."""

    max_body_bytes: int = 20 * 1024 * 1024
    user_config_max_deployments: int = 20
    max_num_retries: int = 10
    max_fallback_depth: int = 5
    max_timeout: float = 600.0
    user_config_cache_size: int = 512


@dataclass(frozen=True)
class UrlSettings:
    allowed_hosts: frozenset[str] = frozenset()
    validate: bool = True


@dataclass(frozen=True)
class GatewayConfig:
    deployments: tuple[Deployment, ...] = ()
    router: RouterSettings = field(default_factory=RouterSettings)
    limits: Limits = field(default_factory=Limits)
    urls: UrlSettings = field(default_factory=UrlSettings)
    master_key: str | None = None
    allow_client_side_credentials: bool = False
    allow_user_config: bool = False
    ssl_verify: bool | str = True
    json_logs: bool = False


def freeze(value: Any) -> Any:
    """Read-only copies of nested mappings and lists."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists again, for a body that is serialised and may be
    changed by an adapter (the frozen original stays shared and intact)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def split_model(model: str, custom_provider: str | None, label: str) -> tuple[str, str]:
    """``provider/name`` into its parts; a bare name means ``openai/``."""
    if custom_provider:
        return custom_provider, model
    prefix, slash, rest = model.partition("/")
    if not slash:
        return "openai", model
    if not providers.known(prefix):
        raise ConfigError(
            f"{label}.litellm_params.model: unknown provider '{prefix}' "
            f"(write openai/{model} for an OpenAI-compatible server)."
        )
    return prefix, rest


def deployment_id(entry: Mapping[str, Any], index: int) -> str:
    """LiteLLM-style stable id: ``model_info.id``, else a hash of the entry."""
    info = entry.get("model_info") or {}
    if info.get("id"):
        return str(info["id"])
    params = {k: v for k, v in entry["litellm_params"].items()
              if k not in AUTH_ALIASES or k in ("api_base", "base_url")}
    public = {"model_name": entry["model_name"], "litellm_params": params}
    digest = hashlib.sha256(orjson.dumps(public, default=str,
                                         option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()[:16] + f"-{index}"


def build_deployment(entry: Mapping[str, Any], index: int, *, label: str,
                     client_owned: bool = False,
                     allow_all: bool = False) -> Deployment:
    """One validated ``model_list`` entry as a :class:`Deployment`."""
    params = entry["litellm_params"]
    provider, model = split_model(params["model"], params.get("custom_llm_provider"),
                                  label)
    allowlist = ALLOW_ALL if client_owned else compile_allowlist(
        params.get("configurable_clientside_auth_params"),
        f"{label} ({entry['model_name']})", everything=allow_all)
    return Deployment(
        id=deployment_id(entry, index),
        model_name=entry["model_name"],
        provider=provider,
        model=model,
        api_key=params.get("api_key"),
        api_base=params.get("api_base") or params.get("base_url"),
        api_version=params.get("api_version"),
        timeout=params.get("timeout"),
        stream_timeout=params.get("stream_timeout"),
        num_retries=params.get("num_retries"),
        rpm=params.get("rpm", entry.get("rpm")),
        tpm=params.get("tpm", entry.get("tpm")),
        weight=params.get("weight"),
        order=params.get("order"),
        mock_response=params.get("mock_response"),
        drop_params=params.get("drop_params"),
        ssl_verify=params.get("ssl_verify"),
        credentials=freeze(credentials_of(params)),
        defaults=freeze(defaults_of(params)),
        allowlist=allowlist,
        model_info=freeze(entry.get("model_info") or {}),
        client_owned=client_owned,
    )


def credentials_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """Auth and routing params of a deployment, under their canonical names."""
    found: dict[str, Any] = {}
    for name, value in params.items():
        canonical = AUTH_ALIASES.get(name) or ROUTING_ALIASES.get(name)
        if canonical and canonical not in ("api_key", "api_base", "api_version"):
            found[canonical] = value
    return found


def defaults_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """Provider params the deployment adds to every request (client values win).

    An ``extra_body`` mapping in ``litellm_params`` is flattened in, as the
    SDKs flatten theirs: its keys are body fields, not an ``extra_body`` key.
    """
    found = {
        name: value for name, value in params.items()
        if name not in _OWN_FIELDS and name not in AUTH_ALIASES
        and name not in ROUTING_ALIASES and name not in IGNORED_LITELLM_PARAMS
        and name != "extra_body"
    }
    extra = params.get("extra_body")
    if isinstance(extra, Mapping):
        found.update({k: v for k, v in extra.items() if k not in ("model", "messages")})
    return found


def fallback_map(entries: Any) -> Mapping[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {}
    for entry in entries or ():
        for source, targets in entry.items():
            merged[source] = merged.get(source, ()) + tuple(targets)
    return MappingProxyType(merged)


def build_router_settings(*layers: Mapping[str, Any]) -> RouterSettings:
    """Router settings from layers of validated dicts; later layers win."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None})
    values: dict[str, Any] = {}
    for name in RouterSettings.__dataclass_fields__:
        if name not in merged:
            continue
        value = merged[name]
        if name in FALLBACK_MAPS:
            value = fallback_map(value)
        elif isinstance(value, (list, dict)):
            value = freeze(value)
        values[name] = value
    return RouterSettings(**values)
