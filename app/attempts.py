"""One attempt on one deployment, and its books.

:class:`Attempts` turns a chosen deployment into one dispatcher exchange:
it settles the attempt's timeouts (:mod:`app.deadlines`), builds the
adapter's :class:`~app.providers.base.Call`, opens a stream far enough to
know it carries content, and records the outcome in the router state
(in-flight count, latency, usage, failure count and cooldown) with one log
line per attempt. :class:`Walk` carries one request's progress and the
transparency headers it earns.

A failure the client caused never counts against a shared deployment: an
attempt sent to the client's own ``api_base``, an auth or rate-limit error
on the client's own credentials, or a timeout shorter than the deployment's
own because the client asked for it. Attempts on a client's ``api_base``
leave the shared deployment's health (failures, successes, latency) alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app import errors, providers
from app.deadlines import attempt_timeouts, shortened_by_client
from app.dispatcher import Dispatcher, Target, Timeouts
from app.gate import CallSettings
from app.providers.base import Call
from app.retry import retry_after_seconds
from app.schemas import ApiRequest
from app.settings import Deployment, RouterSettings, thaw
from app.state import RouterState
from app.streaming import Finished, Relay, open_stream

logger = logging.getLogger(__name__)

MAX_COOLDOWN_S = 3600.0


@dataclass
class Served:
    """What the route sends back: a body or a stream, and the headers."""

    body: dict | None = None
    chunks: Iterator[dict] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    upstream_seconds: float = 0.0


@dataclass(frozen=True)
class Candidate:
    """A deployment that admits the request, with the settings to call it."""

    deployment: Deployment
    settings: CallSettings
    client_auth: bool = False

    @property
    def shares_health(self) -> bool:
        """False when the call goes to a client's host on an operator deployment."""
        return self.deployment.client_owned or not self.settings.client_base


@dataclass
class Walk:
    """One request's progress through groups and attempts."""

    request: ApiRequest
    deadline: float | None
    group: str = ""
    retries: int = 0
    fallbacks: int = 0
    deployment: Deployment | None = None
    api_base: str = ""
    checked: dict = field(default_factory=dict)
    upstream_seconds: float = 0.0

    def headers(self) -> dict[str, str]:
        """LiteLLM's transparency headers, naming the last deployment tried."""
        found = {
            "x-litellm-attempted-retries": str(self.retries),
            "x-litellm-attempted-fallbacks": str(self.fallbacks),
        }
        if self.group:
            found["x-litellm-model-group"] = self.group
        if self.deployment is not None:
            found["x-litellm-model-id"] = self.deployment.id
            found["x-litellm-model-api-base"] = self.api_base
        return found


class Attempts:
    """Makes one attempt at a time and keeps its books."""

    def __init__(self, settings: RouterSettings, *, dispatcher: Dispatcher,
                 state: RouterState, verify: bool | str,
                 clock: Callable[[], float]) -> None:
        self.settings = settings
        self.dispatcher, self.state = dispatcher, state
        self.verify, self.clock = verify, clock

    def make(self, choice: Candidate, walk: Walk, group_size: int, *,
             retry: bool) -> Served:
        """One attempt: dispatch, open a stream, record the outcome."""
        deployment, request = choice.deployment, walk.request
        timeouts = self.timeouts(deployment, walk)
        call = build_call(deployment, choice.settings, request, self.settings)
        if retry:
            walk.retries += 1
        walk.deployment, walk.api_base = deployment, origin_of(call)

        started = self.clock()
        self.state.begin(deployment.state_key, started)
        try:
            result = self.dispatcher.send(call, self.target(choice), timeouts)
            body, opened = (result, None) if isinstance(result, dict) else (
                None, open_stream(result))
        except errors.GatewayError as error:
            self.failed(choice, error, walk, started, group_size)
            raise
        finally:
            walk.upstream_seconds += self.clock() - started

        if opened is None:
            self.succeeded(choice, walk, started, body_tokens(body))
            return Served(body=body, headers=walk.headers(),
                          upstream_seconds=walk.upstream_seconds)
        finished = self.stream_books(choice, walk, started, group_size)
        return Served(chunks=Relay(*opened, finished), headers=walk.headers(),
                      upstream_seconds=walk.upstream_seconds)

    def timeouts(self, deployment: Deployment, walk: Walk) -> Timeouts:
        remaining = None if walk.deadline is None else walk.deadline - self.clock()
        return attempt_timeouts(walk.request, deployment, self.settings, remaining)

    def target(self, choice: Candidate) -> Target:
        verify = choice.deployment.ssl_verify
        return Target(choice.settings.pinned,
                      self.verify if verify is None else verify)

    def stream_books(self, choice: Candidate, walk: Walk, started: float,
                     group_size: int) -> Finished:
        """What to record when a stream that has started ends."""
        first_content = self.clock() - started

        def finished(error: errors.GatewayError | None, tokens: int,
                     complete: bool) -> None:
            if error is not None:
                self.failed(choice, error, walk, started, group_size)
                return
            outcome = "success" if complete else "client_closed"
            self.succeeded(choice, walk, started, tokens, outcome=outcome,
                           latency=first_content)

        return finished

    def succeeded(self, choice: Candidate, walk: Walk, started: float,
                  tokens: int, *, outcome: str = "success",
                  latency: float | None = None) -> None:
        deployment, now = choice.deployment, self.clock()
        latency = now - started if latency is None else latency
        self.state.end(deployment.state_key)
        self.log(walk, deployment, outcome, 200, latency)
        if choice.shares_health:
            self.state.record_success(deployment.state_key, now, latency)
        if tokens:
            self.state.add_tokens(deployment.state_key, now, tokens)

    def failed(self, choice: Candidate, error: errors.GatewayError, walk: Walk,
               started: float, group_size: int) -> None:
        deployment, now = choice.deployment, self.clock()
        self.state.end(deployment.state_key)
        self.log(walk, deployment, type(error).__name__, error.status, now - started)
        if not self.cools(choice, error, walk.request):
            return
        immediate = group_size > 1 and isinstance(
            error, (errors.RateLimited, errors.AuthenticationError))
        hint = min(retry_after_seconds(error.headers) or 0.0, MAX_COOLDOWN_S)
        until = self.state.record_failure(
            deployment.state_key, now, allowed_fails=self.settings.allowed_fails,
            cooldown_time=max(self.settings.cooldown_time, hint),
            immediate=immediate)
        if until is not None:
            logger.warning("deployment %s of group %s cools down for %.1fs",
                           deployment.id, deployment.model_name, until - now)

    def cools(self, choice: Candidate, error: errors.GatewayError,
              request: ApiRequest) -> bool:
        """Whether this failure counts towards the deployment's cooldown."""
        if self.settings.disable_cooldowns or not error.blames_deployment:
            return False
        return not client_caused(error, choice, request, self.settings)

    def log(self, walk: Walk, deployment: Deployment, outcome: str, status: int,
            latency: float) -> None:
        logger.info("attempt group=%s deployment=%s outcome=%s status=%s "
                    "latency_ms=%.1f", walk.group, deployment.id, outcome, status,
                    latency * 1000)


def client_caused(error: errors.GatewayError, choice: Candidate,
                  request: ApiRequest, settings: RouterSettings) -> bool:
    """Failures the client brought on itself never cool a shared deployment."""
    deployment = choice.deployment
    if deployment.client_owned:
        return False
    if not choice.shares_health:
        return True
    key_scoped = (errors.AuthenticationError, errors.PermissionDenied,
                  errors.RateLimited)
    if isinstance(error, key_scoped):
        return choice.client_auth
    if isinstance(error, errors.UpstreamTimeout):
        return shortened_by_client(request, deployment, settings)
    return False


def body_tokens(body: Any) -> int:
    usage = body.get("usage") if isinstance(body, dict) else None
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return usage["total_tokens"]
    return 0


def build_call(deployment: Deployment, settings: CallSettings, request: ApiRequest,
               router: RouterSettings) -> Call:
    """The adapter's view of one attempt."""
    credentials = dict(settings.credentials)
    for name in ("vertex_location", "aws_region_name"):
        if name in request.routing:
            credentials[name] = request.routing[name]
    drop = request.drop_params
    if drop is None:
        drop = deployment.drop_params if deployment.drop_params is not None \
            else router.drop_params
    return Call(
        endpoint=request.endpoint, provider=deployment.provider,
        model=deployment.model, body={**thaw(settings.defaults), **request.forward},
        stream=request.stream, api_base=settings.api_base, api_key=settings.api_key,
        api_version=request.routing.get("api_version") or deployment.api_version,
        credentials=credentials, client_credentials=settings.client_credentials,
        use_environment_credentials=settings.use_environment_credentials
        and not deployment.client_owned,
        drop_params=drop, requested_model=request.model,
        mock_response=request.mock_response or deployment.mock_response,
    )


def origin_of(call: Call) -> str:
    """Scheme and host of the call's base, for the transparency header."""
    if call.mock_response is not None:
        return "mock"
    base = call.api_base or providers.default_base(call.provider)
    if not base:
        return call.provider
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}"
