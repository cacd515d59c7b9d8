"""Choosing the gateway error for a Google API error (Gemini and Vertex AI).

Google answers ``{"error": {"code", "message", "status", "details"}}``, and
inside a stream sometimes the same wrapped in a JSON array. The message is
read first for what the status hides: a bad Gemini API key comes back as 400
INVALID_ARGUMENT but is an authentication failure, and context overflow and
blocked content are plain 400s. Then the RPC status name decides, then the
HTTP status. A ``RetryInfo`` detail becomes a ``retry-after`` header when the
answer had none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from app import errors
from app.providers.base import TextTable, build_error, class_by_text, loads_or_none

_BY_STATUS_NAME: dict[str, type[errors.GatewayError]] = {
    "INVALID_ARGUMENT": errors.InvalidRequest,
    "FAILED_PRECONDITION": errors.InvalidRequest,
    "OUT_OF_RANGE": errors.InvalidRequest,
    "UNAUTHENTICATED": errors.AuthenticationError,
    "PERMISSION_DENIED": errors.PermissionDenied,
    "NOT_FOUND": errors.NotFound,
    "ALREADY_EXISTS": errors.Conflict,
    "ABORTED": errors.Conflict,
    "RESOURCE_EXHAUSTED": errors.RateLimited,
    "INTERNAL": errors.UpstreamServerError,
    "UNKNOWN": errors.UpstreamServerError,
    "UNAVAILABLE": errors.ServiceUnavailable,
    "DEADLINE_EXCEEDED": errors.UpstreamTimeout,
}

# Message texts (lower case) and detail reasons that say more than the status.
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
_CLIENT_TEXT: TextTable = (
    (("api key not valid", "api key expired"), errors.AuthenticationError),
    (("exceeds the maximum number of tokens", "request payload size exceeds"),
     errors.ContextWindowExceeded),
    (("the response was blocked", "output blocked by content filtering policy"),
     errors.ContentPolicyViolation),
)
_ANY_TEXT: TextTable = (
    (("quota exceeded for", "resource exhausted"), errors.RateLimited),
)

_DELAY = re.compile(r"(\d+(?:\.\d+)?)s")


def unwrap(payload: Any) -> Any:
    """The error object of a body, even when a stream wrapped it in an array."""
    if isinstance(payload, list) and payload:
        return payload[0]
    return payload


def inner_error(payload: Any) -> Mapping[str, Any]:
    inner = payload.get("error") if isinstance(payload, Mapping) else None
    return inner if isinstance(inner, Mapping) else {}


def reasons(inner: Mapping[str, Any]) -> set[str]:
    return {str(detail.get("reason")) for detail in inner.get("details") or ()
            if isinstance(detail, Mapping) and detail.get("reason")}


def error_class(status: int | None, payload: Any) -> type[errors.GatewayError]:
    """The class for a Google error: message and reasons, status name, status."""
    inner = inner_error(payload)
    message = str(inner.get("message") or "")
    if status is None or 400 <= status < 500:
        if reasons(inner) & _AUTH_REASONS:
            return errors.AuthenticationError
        by_text = class_by_text(message, _CLIENT_TEXT)
        if by_text is not None:
            return by_text
    by_text = class_by_text(message, _ANY_TEXT)
    if by_text is not None:
        return by_text
    by_name = _BY_STATUS_NAME.get(str(inner.get("status")))
    if by_name is not None:
        return by_name
    code = inner.get("code")
    if status is None:
        status = code if isinstance(code, int) else 500
    return errors.class_for_upstream_status(status)


def retry_hint(inner: Mapping[str, Any]) -> dict[str, str]:
    """A ``retry-after`` from a ``google.rpc.RetryInfo`` detail, if one is given."""
    for detail in inner.get("details") or ():
        if not isinstance(detail, Mapping) or \
                not str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            continue
        match = _DELAY.fullmatch(str(detail.get("retryDelay") or ""))
        if match:
            return {"retry-after": str(math.ceil(float(match.group(1))))}
    return {}


def http_error(status: int, headers: Mapping[str, str],
               content: bytes) -> errors.GatewayError:
    payload = unwrap(loads_or_none(content))
    hints = retry_hint(inner_error(payload))
    hints.update({name.lower(): value for name, value in headers.items()})
    return build_error(error_class(status, payload), payload, status, hints)


def in_band_error(payload: Mapping[str, Any]) -> errors.GatewayError:
    """The error a Google stream reported inside its 200 answer."""
    inner = inner_error(payload)
    return build_error(error_class(None, payload), payload, 200, retry_hint(inner))
