"""The API blueprint: authenticate, parse, validate, hand to the router, answer.

Every route is served with and without the ``/v1`` prefix, as LiteLLM does.
The blueprint knows nothing about providers: it turns a body into an
:class:`~app.schemas.ApiRequest` and a :class:`~app.router.Served` into a
response.
"""

from __future__ import annotations

import hmac
import time

import orjson
from flask import Blueprint, Response, current_app, g, request

from app import errors, schemas
from app.gateway import Gateway
from app.responses import json_response, served_response

blueprint = Blueprint("api", __name__)

# Deep enough for any JSON Schema in tools; well under what orjson can write.
MAX_JSON_DEPTH = 128

UNSERVED = (
    "responses", "images", "audio", "moderations", "files", "batches",
    "fine_tuning", "assistants", "threads", "vector_stores", "uploads",
    "realtime", "evals", "containers",
)


def gateway() -> Gateway:
    return current_app.extensions["gateway"]


@blueprint.before_request
def authenticate() -> None:
    """With a master key set, every API route needs it (constant-time check)."""
    g.started = time.perf_counter()
    key = gateway().config.master_key
    if key is None or request.endpoint in PUBLIC_ENDPOINTS:
        return
    offered = presented_key()
    if offered is None or not hmac.compare_digest(offered.encode(), key.encode()):
        raise errors.AuthenticationError(
            "Missing or invalid gateway key: send it as 'Authorization: Bearer "
            "<key>' (or in the api-key / x-api-key header).", code="invalid_api_key")


def presented_key() -> str | None:
    """The gateway key the client sent, or None; an empty value is no key."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for name in ("api-key", "x-api-key"):
        value = request.headers.get(name, "").strip()
        if value:
            return value
    return None


def read_body() -> object:
    raw = request.get_data(cache=False)
    if len(raw) >= current_app.config["MAX_CONTENT_LENGTH"]:
        # A chunked body has no length to refuse up front; werkzeug cuts it at
        # the limit instead, which would otherwise read as malformed JSON.
        raise errors.PayloadTooLarge(
            "The request body is larger than this gateway accepts "
            "(general_settings.max_request_size_mb).")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.InvalidRequest(
            "The request body is not valid JSON.", code="invalid_json") from None
    if nested_deeper(body, MAX_JSON_DEPTH):
        raise errors.InvalidRequest(
            f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.",
            code="invalid_json")
    return body


def nested_deeper(value: object, limit: int) -> bool:
    """True when objects and arrays nest deeper than ``limit``.

    orjson reads 1024 levels but writes only 254, so a deeper body would
    fail (as a 500) wherever the gateway serialises it again.
    """
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item \
            if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def handle(endpoint: str, body: object | None = None,
           api_version: str | None = None) -> Response:
    body = read_body() if body is None else body
    limits = gateway().config.limits
    parsed = schemas.parse(endpoint, body, limits, api_version)
    router = gateway().router_for(parsed)
    served = router.serve(parsed)
    return served_response(served, g.started)


def v1(rule: str) -> list[str]:
    return [f"/v1{rule}", rule]


def route(rule: str, **options: object):
    def register(view):
        for path in v1(rule):
            blueprint.add_url_rule(path, view_func=view, **options)
        return view
    return register


@route("/chat/completions", methods=["POST"])
def chat_completions() -> Response:
    return handle("chat", api_version=request.args.get("api-version"))


@route("/completions", methods=["POST"])
def completions() -> Response:
    return handle("completions", api_version=request.args.get("api-version"))


@route("/embeddings", methods=["POST"])
def embeddings() -> Response:
    return handle("embeddings", api_version=request.args.get("api-version"))


AZURE_ENDPOINTS = {"chat/completions": "chat", "completions": "completions",
                   "embeddings": "embeddings"}


@blueprint.route("/openai/deployments/<path:model>/<path:action>", methods=["POST"])
def azure_deployment(model: str, action: str) -> Response:
    """The Azure SDK's URL shape: the deployment in the path, not the body."""
    endpoint = AZURE_ENDPOINTS.get(action)
    if endpoint is None:
        raise errors.RouteNotFound(f"The Azure operation '{action}' is not served.")
    body = read_body()
    if isinstance(body, dict):
        body = {**body, "model": model}
    return handle(endpoint, body, request.args.get("api-version"))


@route("/models", methods=["GET"])
def list_models() -> Response:
    data = [model_card(name) for name in gateway().model_names()]
    return json_response({"object": "list", "data": data})


@route("/models/<path:model_id>", methods=["GET"])
def get_model(model_id: str) -> Response:
    """A model group, or any name a wildcard group serves (as chat would)."""
    if model_id not in gateway().model_names():
        gateway().operator_groups().resolve(model_id)  # 404 when nothing serves it
    return json_response(model_card(model_id))


def model_card(name: str) -> dict:
    return {"id": name, "object": "model", "created": gateway().started_at,
            "owned_by": "byok-gateway"}


@blueprint.route("/health/liveliness", methods=["GET"])
@blueprint.route("/health/liveness", methods=["GET"])
def liveliness() -> Response:
    return json_response({"status": "healthy"})


@blueprint.route("/health/readiness", methods=["GET"])
def readiness() -> Response:
    return json_response({"status": "healthy",
                          "models": len(gateway().model_names())})


PUBLIC_ENDPOINTS = frozenset({"api.liveliness", "api.readiness"})


def unserved(**_: object) -> Response:
    raise errors.RouteNotFound(
        f"{request.path} is an OpenAI endpoint this gateway does not serve. "
        f"Served: chat/completions, completions, embeddings, models.",
        code="unsupported_endpoint")


for _name in UNSERVED:
    for _path in v1(f"/{_name}"):
        blueprint.add_url_rule(_path, f"unserved_{_name}{_path.count('/')}",
                               unserved, methods=["GET", "POST", "DELETE"])
        blueprint.add_url_rule(f"{_path}/<path:rest>",
                               f"unserved_{_name}_sub{_path.count('/')}",
                               unserved, methods=["GET", "POST", "DELETE"])
