"""Routers built from a client's ``user_config``, validated once and cached.

A ``user_config`` is untrusted: :mod:`app.user_config_checks` refuses what it
may not ask for, and every deployment built from it is marked client-owned,
so the gate never lets the operator's keys, the gateway's environment or the
gateway's host identities back it, and checks its destination against the
SSRF guard on every request (a provider's loopback default included).

An identical config sent again reuses its router: routers are cached by a
hash of the config's content in a bounded LRU, so a repeated config is not
validated again. Failure counts and cooldowns live in one bounded store
shared by all client configs, under deployment ids prefixed with that hash:
``allowed_fails`` holds across a client's repeated requests while two
different configs never share state. Like all router state it is per
gunicorn worker. The connection pool is the gateway's own (per worker and
host), never one per config.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from app import user_config_checks as checks
from app.params import URL_PARAMS
from app.router import Router
from app.settings import (
    ConfigError,
    Deployment,
    build_deployment,
    build_router_settings,
    freeze,
)
from app.state import InProcessState

if TYPE_CHECKING:
    from app.gateway import Gateway

logger = logging.getLogger(__name__)

# Failure counts, cooldowns and usage windows kept for client deployments.
STATE_KEYS = 20_000
DIGEST_CHARS = 16


def config_digest(raw: Any) -> str:
    """A hash of the config's content; key order does not change it."""
    text = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


class RouterCache:
    """A bounded LRU of routers by config digest; safe across greenlets."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.routers: OrderedDict[str, Router] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, digest: str) -> Router | None:
        with self.lock:
            router = self.routers.get(digest)
            if router is not None:
                self.routers.move_to_end(digest)
            return router

    def put(self, digest: str, router: Router) -> None:
        with self.lock:
            self.routers[digest] = router
            self.routers.move_to_end(digest)
            while len(self.routers) > self.size:
                self.routers.popitem(last=False)

    def __len__(self) -> int:
        return len(self.routers)


class UserConfigRouters:
    """Hands each ``user_config`` request its router, built at most once."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.limits = gateway.config.limits
        self.state = InProcessState(max_keys=STATE_KEYS)
        self.cache = RouterCache(self.limits.user_config_cache_size)

    def router_for(self, raw: dict[str, Any]) -> Router:
        digest = config_digest(raw)
        router = self.cache.get(digest)
        if router is None:
            router = self.build(raw, digest)
            self.cache.put(digest, router)
        return router

    def build(self, raw: dict[str, Any], digest: str) -> Router:
        """A router for a config seen for the first time (or evicted since)."""
        data = checks.validated(raw, self.limits)
        defaults = data.pop("default_litellm_params", None)
        checks.check_params(defaults or {}, ".default_litellm_params")
        deployments = tuple(
            self.deployment(checks.with_defaults(entry, defaults), index, digest)
            for index, entry in enumerate(data.pop("model_list")))
        data.setdefault("max_fallbacks", self.limits.max_fallback_depth)
        gateway = self.gateway
        logger.info("built a user_config router %s: %d deployments",
                    digest[:DIGEST_CHARS], len(deployments))
        return Router(deployments, build_router_settings(data), gate=gateway.gate,
                      dispatcher=gateway.dispatcher, state=self.state,
                      verify=gateway.config.ssl_verify, by_internal_name=True)

    def deployment(self, entry: dict[str, Any], index: int, digest: str
                   ) -> Deployment:
        """One client deployment: checked, owned by the client, keyed by digest."""
        path = f".model_list[{index}]"
        params = entry["litellm_params"]
        checks.check_params(params, f"{path}.litellm_params")
        try:
            built = build_deployment(entry, index, label=f"user_config{path}",
                                     client_owned=True, allow_all=True)
        except ConfigError as error:
            where = f"{path}.litellm_params.model"
            message = str(error).removeprefix(f"user_config{where}: ")
            raise checks.refusal(where, message) from None
        checks.check_destination(params, built.provider, path,
                                 self.gateway.gate.policy)
        checks.require_credentials(built, path)
        named = checks.explicit_destination(params)
        credentials = {k: v for k, v in built.credentials.items()
                       if k not in URL_PARAMS}
        return replace(built, id=f"{digest[:DIGEST_CHARS]}:{built.id}",
                       api_base=named[1] if named else None,
                       credentials=freeze(credentials))

