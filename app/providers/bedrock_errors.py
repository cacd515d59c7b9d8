"""Bedrock's errors, read from the exception name AWS puts on every failure.

A non-2xx answer names its exception in the ``x-amzn-ErrorType`` header (else in
the body's ``__type`` or ``code``); a failure inside a ConverseStream names it in
the frame's ``:exception-type`` header. The name picks the class. Only the
message of a validation failure is read further, for the two signals the router
acts on: the context window and content policy. Throttling messages also mention
"too many tokens", which is why the text is never read for other exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app import errors
from app.providers.base import (
    TextTable,
    build_error,
    class_by_text,
    error_message,
    loads_or_none,
)
from app.providers.translating import header

_BY_NAME: dict[str, type[errors.GatewayError]] = {
    "ValidationException": errors.InvalidRequest,
    "AccessDeniedException": errors.PermissionDenied,
    "ResourceNotFoundException": errors.NotFound,
    "ModelTimeoutException": errors.UpstreamTimeout,
    "ThrottlingException": errors.RateLimited,
    "ModelNotReadyException": errors.RateLimited,
    "ServiceQuotaExceededException": errors.RateLimited,
    "ModelErrorException": errors.BadGateway,
    "ModelStreamErrorException": errors.BadGateway,
    "InternalServerException": errors.UpstreamServerError,
    "ServiceUnavailableException": errors.ServiceUnavailable,
    "UnrecognizedClientException": errors.AuthenticationError,
    "InvalidSignatureException": errors.AuthenticationError,
    "IncompleteSignatureException": errors.AuthenticationError,
    "ExpiredTokenException": errors.AuthenticationError,
    "MissingAuthenticationTokenException": errors.AuthenticationError,
}

# Signature and token failures sometimes come back as AccessDeniedException.
_AUTH_TEXT: TextTable = (
    (("security token included in the request is invalid",
      "signature we calculated does not match",
      "security token included in the request is expired",
      "unable to locate credentials"),
     errors.AuthenticationError),
)
# Read only for a ValidationException.
_VALIDATION_TEXT: TextTable = (
    (("too many tokens", "expected maxlength:", "input is too long",
      "too many input tokens", "prompt is too long", "context window"),
     errors.ContextWindowExceeded),
    (("content filtering policy", "blocked by guardrail", "guardrail intervened",
      "content_filtered", "responsible ai policy"),
     errors.ContentPolicyViolation),
)


def error_class(name: str, message: str, status: int) -> type[errors.GatewayError]:
    """The gateway class for a Bedrock exception name and its message."""
    if class_by_text(message, _AUTH_TEXT) is not None:
        return errors.AuthenticationError
    cls = _BY_NAME.get(name) or errors.class_for_upstream_status(status)
    if cls is not errors.InvalidRequest:
        return cls
    return class_by_text(message, _VALIDATION_TEXT) or cls


def exception_name(headers: Mapping[str, str], payload: Any) -> str:
    """``ValidationException`` from ``ValidationException:http://...``, or
    ``com.amazon.coral.service#UnrecognizedClientException``."""
    raw = header(headers, "x-amzn-ErrorType")
    if not raw and isinstance(payload, Mapping):
        raw = payload.get("__type") or payload.get("code")
    name = str(raw or "").split(":")[0]
    return name.rsplit("#", 1)[-1]


def http_error(status: int, headers: Mapping[str, str],
               content: bytes) -> errors.GatewayError:
    payload = loads_or_none(content)
    name = exception_name(headers, payload)
    cls = error_class(name, error_message(payload, status), status)
    return build_error(cls, payload, status, headers)


def stream_error(headers: Mapping[str, Any], payload: Any) -> errors.GatewayError:
    """The error a ConverseStream reported in one of its frames."""
    if headers.get(":message-type") == "exception":
        raw = str(headers.get(":exception-type") or "")
        name = raw[:1].upper() + raw[1:]
        message = error_message(payload, 500)
    else:
        name = str(headers.get(":error-code") or "")
        message = str(headers.get(":error-message") or "Bedrock's stream failed.")
    cls = error_class(name, message, 500)
    return cls(message)
