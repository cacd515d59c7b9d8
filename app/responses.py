"""Turning answers and errors into HTTP responses: JSON, SSE and the error envelope.

Streams are written as OpenAI frames them (``data: {...}\\n\\n``, ending with
``data: [DONE]``); a stream that fails after it started ends with the error
object as its last event and no ``[DONE]``, so the SDK raises instead of
treating a cut-off answer as complete.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterator

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from app import errors
from app.router import Served

logger = logging.getLogger(__name__)

OVERHEAD_HEADER = "x-litellm-overhead-duration-ms"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = b"data: [DONE]\n\n"


def json_response(body: object, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers,
                    mimetype="application/json")


def served_response(served: Served, started: float) -> Response:
    headers = dict(served.headers)
    overhead = (time.perf_counter() - started - served.upstream_seconds) * 1000
    headers[OVERHEAD_HEADER] = f"{max(overhead, 0.0):.3f}"
    if served.chunks is None:
        return json_response(served.body, headers=headers)
    headers.update(SSE_HEADERS)
    return Response(sse_frames(served.chunks), headers=headers,
                    mimetype="text/event-stream")


def sse_frames(chunks: Iterator[dict]) -> Iterator[bytes]:
    try:
        for chunk in chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            if "error" in chunk:
                return
        yield DONE
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def error_response(error: errors.GatewayError) -> Response:
    headers = dict(error.headers)
    if error.status not in (429, 503):
        for name in ("retry-after", "retry-after-ms", "Retry-After"):
            headers.pop(name, None)
    return json_response(error.body(), status=error.status, headers=headers)


HTTP_CLASSES: dict[int, type[errors.GatewayError]] = {
    400: errors.InvalidRequest,
    404: errors.RouteNotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
}


def http_error(exception: HTTPException) -> Response:
    """werkzeug's HTTP errors (unknown route, wrong method, body too large)."""
    status = exception.code or 500
    cls = HTTP_CLASSES.get(status, errors.InternalError)
    messages = {
        404: f"No route {request.path} on this gateway.",
        405: f"{request.method} is not allowed on {request.path}.",
        413: "The request body is larger than this gateway accepts "
             "(general_settings.max_request_size_mb).",
    }
    message = messages.get(status, exception.description or "Request failed.")
    return error_response(cls(message))


def crash(exception: Exception) -> Response:
    """An unexpected fault: 500 with no internals; frames (no message) logged."""
    frames = "".join(traceback.format_tb(exception.__traceback__))
    logger.error("unhandled %s on %s %s\n%s", type(exception).__name__,
                 request.method, request.path, frames)
    return error_response(errors.InternalError(
        "The gateway failed while handling this request."))


def register(app: Flask) -> None:
    app.register_error_handler(errors.GatewayError, error_response)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, crash)
