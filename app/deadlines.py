"""Which timeouts one attempt gets.

Each level may set ``timeout`` and ``stream_timeout``; the most specific
level that sets a value wins: the request body, then the deployment's
``litellm_params``, then the router settings (``request_timeout``, which
``litellm_settings`` may set, and ``stream_timeout``), then 600 s. For a
stream a level's ``stream_timeout`` comes before its ``timeout``, so a
client's body ``timeout`` also bounds its stream. A whole-request deadline
(``router_settings.timeout``) then cuts an answer's timeout and a stream's
wait for its first event to what is left of it.
"""

from __future__ import annotations

from app import errors
from app.dispatcher import Timeouts
from app.schemas import ApiRequest
from app.settings import Deployment, RouterSettings

DEFAULT_TIMEOUT_S = 600.0

Level = tuple[float | None, float | None]  # (timeout, stream_timeout)


def attempt_timeouts(request: ApiRequest, deployment: Deployment,
                     settings: RouterSettings, remaining: float | None) -> Timeouts:
    """The attempt's bounds; a 504 at once if the deadline is spent."""
    levels = levels_of(request, deployment, settings)
    total = first_set(levels, stream=False)
    stream = first_set(levels, stream=True)
    if remaining is None:
        return Timeouts(total=total, stream=stream)
    if remaining <= 0:
        raise errors.DeadlineExceeded(
            "The request's deadline (router_settings.timeout) was spent.")
    return Timeouts(total=min(total, remaining), stream=stream,
                    first_byte=min(stream, remaining))


def levels_of(request: ApiRequest | None, deployment: Deployment,
              settings: RouterSettings) -> list[Level]:
    """``(timeout, stream_timeout)`` from the most specific level down."""
    levels = [(deployment.timeout, deployment.stream_timeout),
              (settings.request_timeout, settings.stream_timeout)]
    if request is not None:
        levels.insert(0, (request.timeout, request.stream_timeout))
    return levels


def first_set(levels: list[Level], *, stream: bool) -> float:
    for timeout, stream_timeout in levels:
        value = (stream_timeout or timeout) if stream else timeout
        if value:
            return value
    return DEFAULT_TIMEOUT_S


def shortened_by_client(request: ApiRequest, deployment: Deployment,
                        settings: RouterSettings) -> bool:
    """True when the client's own timeout is shorter than the deployment's."""
    asked = first_set(levels_of(request, deployment, settings), stream=request.stream)
    usual = first_set(levels_of(None, deployment, settings), stream=request.stream)
    return asked < usual
