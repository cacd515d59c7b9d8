"""An OpenAI-compatible LLM gateway whose clients may bring their own credentials.

:func:`create_app` is the app factory: it loads and validates the config once,
builds the long-lived parts (gate, dispatcher, router state) and registers the
API blueprint and the error handlers.
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, request

from app import config as config_loader
from app.logs import REQUEST_ID
from app.settings import GatewayConfig

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def create_app(config: GatewayConfig | None = None, *,
               config_path: str | None = None, resolver=None) -> Flask:
    """Build the app from ``config`` or from the config file."""
    from app import api, responses
    from app.gateway import Gateway

    if config is None:
        path = config_loader.config_path(config_path)
        config = config_loader.load(path)
        logger.info("loaded config %s: %d deployments", path, len(config.deployments))
    if config.master_key is None:
        logger.warning("general_settings.master_key is not set: the gateway "
                       "answers anyone who can reach it.")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body_bytes
    app.extensions["gateway"] = Gateway(config, resolver=resolver)
    app.register_blueprint(api.blueprint)
    responses.register(app)
    app.before_request(assign_request_id)
    app.after_request(tag_response)
    return app


def assign_request_id() -> None:
    offered = request.headers.get("x-request-id", "")
    REQUEST_ID.set(offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex)


def tag_response(response: Response) -> Response:
    response.headers["x-request-id"] = REQUEST_ID.get()
    return response
