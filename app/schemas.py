"""Request body schemas, and the split of a body into what each step reads.

The schemas check types of the keys the gateway itself acts on; every other
key passes through (``unknown = INCLUDE`` is the decision: provider-specific
params reach the provider). :func:`parse` then sorts the keys into forwarded
params, client auth params, routing params and control keys, so later steps
read named fields, never the raw body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from app import chat_schemas as shapes
from app import client_params, errors
from app.config_schema import Count, Number, StrictBoolean, flatten
from app.params import PROTECTED_KEYS, is_control_key, is_forwarded
from app.settings import Limits


class Body(Schema):
    class Meta:
        unknown = INCLUDE  # provider-specific params pass through to the provider

    model = fields.String(required=True, validate=validate.Length(min=1, max=512))
    stream = StrictBoolean(allow_none=True)  # OpenAI lets stream be null
    stream_options = fields.Dict(allow_none=True)
    user = fields.String()
    n = Count(validate=validate.Range(min=1, max=128))
    # the gateway's own keys
    num_retries = Count()
    timeout = Number(validate=validate.Range(min=0, min_inclusive=False))
    stream_timeout = Number(validate=validate.Range(min=0, min_inclusive=False))
    fallbacks = fields.List(fields.Raw())
    user_config = fields.Dict()
    metadata = fields.Dict(allow_none=True)
    extra_body = fields.Dict()
    litellm_params = fields.Dict()
    mock_response = fields.String()
    drop_params = StrictBoolean()


class ChatBody(Body):
    messages = fields.List(fields.Nested(shapes.Message), required=True,
                           validate=validate.Length(min=1))
    temperature = Number(allow_none=True)
    top_p = Number(allow_none=True)
    max_tokens = Count(allow_none=True)
    max_completion_tokens = Count(allow_none=True)
    tools = fields.List(fields.Nested(shapes.Tool), allow_none=True)
    tool_choice = shapes.Typed(str, dict, describe="a string or an object",
                               allow_none=True)
    response_format = fields.Dict(allow_none=True)
    stop = shapes.Stop(allow_none=True)


class CompletionBody(Body):
    prompt = shapes.TextOrTokens(required=True)
    max_tokens = Count(allow_none=True)
    stop = shapes.Stop(allow_none=True)


class EmbeddingBody(Body):
    input = shapes.TextOrTokens(required=True)


SCHEMAS: dict[str, Schema] = {
    "chat": ChatBody(),
    "completions": CompletionBody(),
    "embeddings": EmbeddingBody(),
}


@dataclass
class ApiRequest:
    """A validated request, split into the parts each later step reads."""

    endpoint: str
    model: str
    stream: bool
    forward: dict[str, Any]
    auth: client_params.ClientAuth
    routing: dict[str, str]
    num_retries: int | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    fallbacks: tuple[str, ...] | None = None
    fallback_auth: Mapping[str, client_params.ClientAuth] = field(default_factory=dict)
    user_config: dict[str, Any] | None = None
    mock_response: str | None = None
    drop_params: bool | None = None
    request_id: str = ""


def parse(endpoint: str, body: Any, limits: Limits,
          query_api_version: str | None = None) -> ApiRequest:
    """Validate ``body`` for ``endpoint`` and split it; 400 on any fault."""
    if not isinstance(body, dict):
        raise errors.InvalidRequest("The request body must be a JSON object.")
    try:
        data = SCHEMAS[endpoint].load(body)
    except ValidationError as error:
        raise validation_error(error.messages) from None
    check_limits(data, limits)
    auth = client_params.collect(data)
    routing = client_params.routing_params(data, query_api_version)
    fallbacks, fallback_auth = client_params.fallback_entries(data.get("fallbacks"))
    return ApiRequest(
        endpoint=endpoint,
        model=data["model"],
        stream=bool(data.get("stream")),
        forward=forwarded(data),
        auth=auth,
        routing=routing,
        num_retries=data.get("num_retries"),
        timeout=data.get("timeout"),
        stream_timeout=data.get("stream_timeout"),
        fallbacks=fallbacks,
        fallback_auth=fallback_auth,
        user_config=data.get("user_config"),
        mock_response=data.get("mock_response"),
        drop_params=data.get("drop_params"),
    )


def validation_error(messages: Any) -> errors.InvalidRequest:
    """A 400 naming the top-level key at fault and the full field path."""
    pairs = flatten(messages)
    path, message = pairs[0] if pairs else ("", "Invalid request body.")
    top = path.split(".", 1)[0].split("[", 1)[0] or None
    text = f"{path}: {message}" if path else message
    return errors.InvalidRequest(text, param=top)


def check_limits(data: Mapping[str, Any], limits: Limits) -> None:
    """Client knobs above the gateway's limits are refused, never clamped."""
    retries = data.get("num_retries")
    if retries is not None and retries > limits.max_num_retries:
        raise errors.InvalidRequest(
            f"num_retries may be at most {limits.max_num_retries} "
            f"(the gateway's limit on retries).", param="num_retries")
    for name in ("timeout", "stream_timeout"):
        value = data.get(name)
        if value is not None and value > limits.max_timeout:
            raise errors.InvalidRequest(
                f"{name} may be at most {limits.max_timeout:g} seconds "
                f"(the gateway's limit on timeouts).", param=name)
    fallbacks = data.get("fallbacks")
    if fallbacks is not None and len(fallbacks) > limits.max_fallback_depth:
        raise errors.InvalidRequest(
            f"fallbacks may name at most {limits.max_fallback_depth} groups "
            f"(the gateway's limit on fallback depth).", param="fallbacks")


def forwarded(data: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI and provider params, with a literal ``extra_body`` flattened in.

    ``extra_body`` keys win over top-level ones, except ``model``,
    ``messages``, ``stream`` and the gateway's own keys, which it may not set.
    """
    body = {k: v for k, v in data.items() if k != "model" and is_forwarded(k)}
    for key, value in (data.get("extra_body") or {}).items():
        if key in PROTECTED_KEYS or is_control_key(key) or not is_forwarded(key):
            continue
        body[key] = value
    return body
