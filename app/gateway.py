"""The gateway's long-lived parts, built once per worker by the app factory.

One :class:`Gateway` holds the config, the gate, the dispatcher (and so the
worker's connection pools), the router state and the operator's router. It
hands each request the router that serves it: the operator's, or one built
from the request's ``user_config``.
"""

from __future__ import annotations

import logging
import os
import time

from app import errors
from app.dispatcher import Dispatcher
from app.gate import Gate
from app.groups import ModelGroups
from app.router import Router
from app.schemas import ApiRequest
from app.settings import GatewayConfig
from app.state import InProcessState
from app.user_configs import UserConfigRouters

logger = logging.getLogger(__name__)


class Gateway:
    def __init__(self, config: GatewayConfig, *, pool_size: int | None = None,
                 resolver=None) -> None:
        self.config = config
        self.started_at = int(time.time())
        self.gate = Gate(config.urls, resolver=resolver)
        self.dispatcher = Dispatcher(pool_size=pool_size or worker_connections())
        self.state = InProcessState()
        self.router = Router(config.deployments, config.router, gate=self.gate,
                             dispatcher=self.dispatcher, state=self.state,
                             verify=config.ssl_verify)
        self.user_configs = UserConfigRouters(self)
        self._names = self.router.groups.names()

    def router_for(self, request: ApiRequest) -> Router:
        if request.user_config is None:
            return self.router
        if not self.config.allow_user_config:
            raise errors.InvalidRequest(
                "user_config is not enabled on this gateway: the operator can "
                "enable it with general_settings.allow_user_config (or "
                "general_settings.allow_client_side_credentials).",
                param="user_config")
        return self.user_configs.router_for(request.user_config)

    def model_names(self) -> list[str]:
        return self._names

    def operator_groups(self) -> ModelGroups:
        return self.router.groups


def worker_connections() -> int:
    """The connections one gunicorn worker holds (``GATEWAY_WORKER_CONNECTIONS``,
    as ``config/gunicorn.conf.py`` reads it): as many as it may relay to one
    upstream at once, so its pool to that upstream keeps them all."""
    return int(os.environ.get("GATEWAY_WORKER_CONNECTIONS", "2000"))
