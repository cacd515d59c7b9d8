"""Loading the operator's ``config.yaml`` (LiteLLM proxy format) at start-up.

The steps: read YAML, export ``environment_variables``, resolve
``os.environ/NAME`` references (a deployment whose reference is unset is
disabled with a warning; anywhere else an unset reference stops the start),
validate with marshmallow, warn once about keys we do not support, and build
frozen objects. Nothing here runs per request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import yaml

from app.allowlist import AllowlistError
from app.config_schema import IGNORED_LITELLM_PARAMS, OPERATOR_SCHEMA, flatten
from app.settings import (
    ConfigError,
    GatewayConfig,
    Limits,
    UrlSettings,
    build_deployment,
    build_router_settings,
)

logger = logging.getLogger(__name__)

ENV_PREFIX = "os.environ/"
UNKNOWN = "Unknown field."
DEFAULT_PATH = "config/config.yaml"


class MissingVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def config_path(cli_path: str | None = None) -> str:
    """``--config`` first, then LiteLLM's ``CONFIG_FILE_PATH``, then the default."""
    return cli_path or os.environ.get("CONFIG_FILE_PATH") or DEFAULT_PATH


def load(path: str) -> GatewayConfig:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror}")
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}")
    return build(raw)


def build(raw: Any) -> GatewayConfig:
    """A validated, frozen :class:`GatewayConfig` from parsed YAML."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping of sections.")
    export_environment(raw.get("environment_variables"))
    data, disabled = resolve_sections(raw)
    data = validate(data)
    return assemble(data, disabled)


def export_environment(variables: Any) -> None:
    """LiteLLM's ``environment_variables`` section sets process variables."""
    if isinstance(variables, Mapping):
        for name, value in variables.items():
            os.environ[str(name)] = str(value)


def resolve(value: Any) -> Any:
    """Replace ``os.environ/NAME`` strings, anywhere in ``value``."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX):]
        if not name:
            raise ConfigError(f"'{value}' names no environment variable.")
        if name not in os.environ:
            raise MissingVariable(name)
        return os.environ[name]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def resolve_sections(raw: dict) -> tuple[dict, frozenset[int]]:
    """Resolved sections, and the indexes of deployments left disabled."""
    data = dict(raw)
    disabled: frozenset[int] = frozenset()
    if "model_list" in raw:
        data["model_list"], disabled = resolve_deployments(raw["model_list"])
    for section in ("router_settings", "litellm_settings", "general_settings"):
        if section in raw:
            try:
                data[section] = resolve(raw[section])
            except MissingVariable as missing:
                raise ConfigError(
                    f"{section}: the environment variable {missing.name} is not set."
                )
    return data, disabled


def resolve_deployments(entries: Any) -> tuple[Any, frozenset[int]]:
    """Resolve each deployment; one with an unset variable stays unresolved
    (so key paths keep their indexes) and is reported as disabled."""
    if not isinstance(entries, list):
        return entries, frozenset()
    resolved, disabled = [], set()
    for index, entry in enumerate(entries):
        try:
            resolved.append(resolve(entry))
        except MissingVariable as missing:
            resolved.append(entry)
            disabled.add(index)
            name = entry.get("model_name") if isinstance(entry, dict) else None
            logger.warning(
                "model_list[%d] (%s) is disabled: the environment variable %s "
                "is not set.", index, name, missing.name,
            )
    return resolved, frozenset(disabled)


def validate(data: dict) -> dict:
    """Validate; unknown keys are warned about and dropped, other errors stop."""
    errors = OPERATOR_SCHEMA.validate(data)
    pairs = flatten(errors)
    fatal = [(path, message) for path, message in pairs if message != UNKNOWN]
    if fatal:
        lines = "; ".join(f"{path}: {message}" for path, message in fatal)
        raise ConfigError(f"invalid config: {lines}")
    for path, _ in pairs:
        logger.warning("config key %s is not supported by this gateway and is "
                       "ignored.", path)
    pruned = prune(data, errors)
    return OPERATOR_SCHEMA.load(pruned)


def prune(data: Any, errors: Any) -> Any:
    """A copy of ``data`` without the keys marshmallow called unknown."""
    if not isinstance(errors, dict):
        return data
    if isinstance(data, dict):
        copy = dict(data)
        for key, inner in errors.items():
            if inner == [UNKNOWN]:
                copy.pop(key, None)
            elif key in copy:
                copy[key] = prune(copy[key], inner)
        return copy
    if isinstance(data, list):
        return [prune(item, errors.get(i)) for i, item in enumerate(data)]
    return data


def assemble(data: dict, disabled: frozenset[int]) -> GatewayConfig:
    general = data["general_settings"]
    litellm = data["litellm_settings"]
    proxy_wide = bool(general.get("allow_client_side_credentials"))
    deployments = []
    for index, entry in enumerate(data["model_list"]):
        if index in disabled:
            continue
        label = f"model_list[{index}]"
        warn_ignored_params(entry, label)
        try:
            deployments.append(build_deployment(entry, index, label=label,
                                                allow_all=proxy_wide))
        except AllowlistError as error:
            raise ConfigError(str(error)) from error
    router = build_router_settings(litellm, data["router_settings"])
    warn_unknown_fallbacks(router, {d.model_name for d in deployments})
    return GatewayConfig(
        deployments=tuple(deployments),
        router=router,
        limits=limits_of(general),
        urls=UrlSettings(
            allowed_hosts=frozenset(h.lower() for h in
                                    litellm.get("user_url_allowed_hosts", ())),
            validate=litellm.get("user_url_validation", True),
        ),
        master_key=master_key_of(general),
        allow_client_side_credentials=proxy_wide,
        allow_user_config=bool(general.get("allow_user_config")) or proxy_wide,
        ssl_verify=litellm.get("ssl_verify", True),
        json_logs=bool(litellm.get("json_logs")),
    )


def master_key_of(general: Mapping[str, Any]) -> str | None:
    """The master key; a blank one stops the start, since it would let in
    anyone who sends an empty header. (Short keys such as LiteLLM's examples'
    ``sk-1234`` are accepted, so those configs port unchanged.)"""
    key = general.get("master_key")
    if key is None:
        return None
    if not key.strip():
        raise ConfigError("general_settings.master_key is blank (is its "
                          "environment variable empty?).")
    return key.strip()


def limits_of(general: Mapping[str, Any]) -> Limits:
    defaults = Limits()
    size_mb = general.get("max_request_size_mb")
    return Limits(
        max_body_bytes=(int(size_mb * 1024 * 1024) if size_mb
                        else defaults.max_body_bytes),
        user_config_max_deployments=general.get(
            "user_config_max_deployments", defaults.user_config_max_deployments),
        max_num_retries=general.get("max_client_num_retries", defaults.max_num_retries),
        max_fallback_depth=general.get("max_fallback_depth",
                                       defaults.max_fallback_depth),
        max_timeout=general.get("max_client_timeout", defaults.max_timeout),
        user_config_cache_size=general.get("user_config_cache_size",
                                           defaults.user_config_cache_size),
    )


def warn_unknown_fallbacks(router: Any, groups: set[str]) -> None:
    """A fallback naming no group is skipped at run time; say so at start-up."""
    for setting in ("fallbacks", "context_window_fallbacks",
                    "content_policy_fallbacks"):
        for source, targets in getattr(router, setting).items():
            for name in (source, *targets):
                if name not in groups and not any("*" in g for g in groups):
                    logger.warning("router setting %s names '%s', which is not a "
                                   "model_name in model_list.", setting, name)
    for name in router.default_fallbacks:
        if name not in groups:
            logger.warning("default_fallbacks names '%s', which is not a "
                           "model_name in model_list.", name)


def warn_ignored_params(entry: Mapping[str, Any], label: str) -> None:
    for name in entry["litellm_params"]:
        if name in IGNORED_LITELLM_PARAMS:
            logger.warning("%s.litellm_params.%s is not supported by this gateway "
                           "and is ignored.", label, name)
