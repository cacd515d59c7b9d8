"""The gateway's error hierarchy and the one renderer of OpenAI's error envelope.

Each class fixes the HTTP status and the OpenAI ``type``; nothing in the gateway
chooses a status from message text. Provider adapters pick a class from the
provider's own codes, and the router reads the class to decide on retries,
cooldowns and fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping


class GatewayError(Exception):
    """Base of every error the gateway answers with."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None

    # Router hints: may another attempt help, and is the deployment to blame?
    retryable: bool = False
    takes_fallback: bool = False
    blames_deployment: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})
        self.upstream_status = upstream_status

    def body(self) -> dict:
        """The OpenAI error envelope for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class ContextWindowExceeded(InvalidRequest):
    code = "context_length_exceeded"


class ContentPolicyViolation(InvalidRequest):
    code = "content_policy_violation"


class UnsupportedParam(InvalidRequest):
    code = "unsupported_parameter"


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"
    takes_fallback = True
    blames_deployment = True


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_denied"
    takes_fallback = True


class NotFound(GatewayError):
    status = 404
    type = "not_found"
    takes_fallback = True


class ModelNotFound(NotFound):
    """The client named a model the gateway does not serve (never a fallback)."""

    type = "invalid_request_error"
    code = "model_not_found"
    takes_fallback = False


class RouteNotFound(NotFound):
    type = "invalid_request_error"
    takes_fallback = False


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class Conflict(GatewayError):
    status = 409
    type = "api_error"
    retryable = True
    takes_fallback = True
    blames_deployment = True


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    retryable = True
    takes_fallback = True
    blames_deployment = True


class UpstreamServerError(GatewayError):
    status = 500
    type = "api_error"
    retryable = True
    takes_fallback = True
    blames_deployment = True


class BadGateway(UpstreamServerError):
    """The upstream was unreachable or answered something we could not read."""

    status = 502


class ServiceUnavailable(UpstreamServerError):
    status = 503


class UpstreamTimeout(UpstreamServerError):
    status = 504
    type = "timeout"


class DeadlineExceeded(UpstreamTimeout):
    """The whole request's deadline is spent: answered at once, never retried."""

    retryable = False
    takes_fallback = False
    blames_deployment = False


class NoDeploymentAvailable(GatewayError):
    """Every deployment of a group is cooling down or over budget: its
    fallbacks are tried, and only then does the client see it."""

    status = 503
    type = "api_error"
    code = "no_deployment_available"
    takes_fallback = True


class BudgetExhausted(NoDeploymentAvailable):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class InternalError(GatewayError):
    """A fault of the gateway itself; its details stay in the log."""

    status = 500
    type = "api_error"
    code = "internal_error"


_BY_UPSTREAM_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    408: UpstreamTimeout,
    409: Conflict,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
    500: UpstreamServerError,
    502: BadGateway,
    503: ServiceUnavailable,
    504: UpstreamTimeout,
    529: ServiceUnavailable,
}


def class_for_upstream_status(status: int) -> type[GatewayError]:
    """The error class for an upstream HTTP status with nothing more specific."""
    if status in _BY_UPSTREAM_STATUS:
        return _BY_UPSTREAM_STATUS[status]
    if status >= 500:
        return UpstreamServerError
    return InvalidRequest


RETRY_HEADERS = ("retry-after", "retry-after-ms")


def retry_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The upstream's retry hints, to pass on with 429 and 503 answers."""
    found = {}
    for name in RETRY_HEADERS:
        value = headers.get(name)
        if value is not None:
            found[name] = value
    return found
