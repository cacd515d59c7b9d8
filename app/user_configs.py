"""Routers built from a client's ``user_config``, validated once and cached.

A ``user_config`` is untrusted: the shared marshmallow schema checks its
shape, the gateway's limits bound what it may ask for, secret references are
refused (never resolved), credentials pass the same form checks as body
params, and every ``api_base`` (or loopback provider default) passes the SSRF
guard on each request. Nothing of the operator's backs it: its deployments
are marked client-owned, so neither the operator's keys nor credentials from
the gateway's environment are used.

An identical config sent again reuses its router (cached by content hash,
bounded LRU), and its deployments' failure counts and cooldowns live in one
bounded store under ids prefixed with that hash, so two configs never share
state and ``allowed_fails`` holds across a client's repeated requests.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from app import errors, urlguard
from app.config_schema import USER_CONFIG_SCHEMA, flatten
from app.credentials import check_value
from app.params import AUTH_ALIASES, HOST_IDENTITY_PARAMS
from app.router import Router
from app.settings import (
    ConfigError,
    Deployment,
    Limits,
    build_deployment,
    build_router_settings,
)
from app.state import InProcessState

if TYPE_CHECKING:
    from app.gateway import Gateway

SECRET_PREFIXES = ("os.environ/", "os.environ", "oidc/", "azure_key_vault/",
                   "aws_secret_manager/", "google_secret_manager/", "vault/")
STATE_KEYS = 20_000

# Providers that answer without a key of the client's.
KEYLESS = frozenset({"ollama", "ollama_chat", "lm_studio", "hosted_vllm", "mock"})


def refusal(message: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(f"user_config{message}", param="user_config")


class UserConfigRouters:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.limits = gateway.config.limits
        self.state = InProcessState(max_keys=STATE_KEYS)
        self.cache: OrderedDict[str, Router] = OrderedDict()
        self.lock = threading.Lock()

    def router_for(self, raw: dict[str, Any]) -> Router:
        digest = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS,
                                             default=str)).hexdigest()
        with self.lock:
            router = self.cache.get(digest)
            if router is not None:
                self.cache.move_to_end(digest)
                return router
        router = self.build(raw, digest)
        with self.lock:
            self.cache[digest] = router
            if len(self.cache) > self.limits.user_config_cache_size:
                self.cache.popitem(last=False)
        return router

    def build(self, raw: dict[str, Any], digest: str) -> Router:
        refuse_secret_references(raw, "")
        data = validated(raw)
        check_limits(data, self.limits)
        deployments = tuple(client_deployment(entry, index, digest)
                            for index, entry in enumerate(data["model_list"]))
        settings = build_router_settings(
            {k: v for k, v in data.items() if k != "model_list"})
        return Router(deployments, settings, gate=self.gateway.gate,
                      dispatcher=self.gateway.dispatcher, state=self.state,
                      verify=self.gateway.config.ssl_verify, by_internal_name=True)


def refuse_secret_references(value: Any, path: str) -> None:
    """A client may not make the gateway read its environment or secret stores."""
    if isinstance(value, str) and value.strip().startswith(SECRET_PREFIXES):
        raise refusal(f"{path}: secret references (os.environ/...) are not "
                      f"accepted from clients; send the value itself.")
    if isinstance(value, dict):
        for key, inner in value.items():
            refuse_secret_references(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            refuse_secret_references(inner, f"{path}[{index}]")


def validated(raw: dict[str, Any]) -> dict[str, Any]:
    messages = USER_CONFIG_SCHEMA.validate(raw)
    if messages:
        path, message = flatten(messages)[0]
        raise refusal(f".{path}: {message}")
    return USER_CONFIG_SCHEMA.load(raw)


def check_limits(data: dict[str, Any], limits: Limits) -> None:
    """Each limit refused with a 400 that names it; nothing is clamped."""
    count = len(data["model_list"])
    if count > limits.user_config_max_deployments:
        raise refusal(f".model_list has {count} deployments; the limit is "
                      f"{limits.user_config_max_deployments} "
                      f"(general_settings.user_config_max_deployments).")
    retries = [data.get("num_retries")] + [
        e["litellm_params"].get("num_retries") for e in data["model_list"]]
    if any(r is not None and r > limits.max_num_retries for r in retries):
        raise refusal(f".num_retries may be at most {limits.max_num_retries} "
                      f"(general_settings.max_client_num_retries).")
    check_fallback_depth(data, limits)
    timeouts = [data.get("timeout")] + [
        e["litellm_params"].get(k) for e in data["model_list"]
        for k in ("timeout", "stream_timeout")]
    if any(t is not None and t > limits.max_timeout for t in timeouts):
        raise refusal(f": a timeout may be at most {limits.max_timeout:g} seconds "
                      f"(general_settings.max_client_timeout).")


def check_fallback_depth(data: dict[str, Any], limits: Limits) -> None:
    depth = data.get("max_fallbacks")
    lists = [targets for key in ("fallbacks", "context_window_fallbacks",
                                 "content_policy_fallbacks")
             for entry in data.get(key) or () for targets in entry.values()]
    longest = max([len(t) for t in lists] + [len(data.get("default_fallbacks") or ())])
    if max(longest, depth or 0) > limits.max_fallback_depth:
        raise refusal(f": fallbacks may be at most {limits.max_fallback_depth} "
                      f"deep (general_settings.max_fallback_depth).")
    if depth is None:
        data["max_fallbacks"] = limits.max_fallback_depth


def client_deployment(entry: dict[str, Any], index: int, digest: str) -> Deployment:
    label = f"user_config.model_list[{index}]"
    params = entry["litellm_params"]
    for name, value in params.items():
        if name in HOST_IDENTITY_PARAMS:
            raise refusal(f".model_list[{index}].litellm_params.{name}: selects an "
                          f"identity of the gateway's host; not accepted.")
        if name in AUTH_ALIASES and value is not None and name not in ("api_base",
                                                                       "base_url"):
            check_value(name, value)
    base = params.get("api_base") or params.get("base_url")
    if base is not None:
        urlguard.parse_client_url(base, "user_config")
    try:
        deployment = build_deployment(entry, index, label=label, client_owned=True,
                                      allow_all=True)
    except ConfigError as error:
        raise refusal(str(error).removeprefix("user_config")) from None
    require_credentials(deployment, index)
    from dataclasses import replace

    return replace(deployment, id=f"{digest[:16]}:{deployment.id}")


def require_credentials(deployment: Deployment, index: int) -> None:
    """A client deployment that needs a key must bring one: ours never backs it."""
    if deployment.mock_response is not None or deployment.provider in KEYLESS:
        return
    creds = deployment.credentials
    has = {
        "vertex_ai": creds.get("vertex_credentials"),
        "bedrock": creds.get("aws_access_key_id"),
        "azure": deployment.api_key or creds.get("azure_ad_token"),
    }.get(deployment.provider, deployment.api_key)
    if not has:
        raise refusal(f".model_list[{index}] ({deployment.model_name}) has no "
                      f"credentials of its own; the gateway's are never used for "
                      f"a user_config.")
