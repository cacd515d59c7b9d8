"""The router: a bounded walk over groups, deployments, retries and fallbacks.

:meth:`Router.serve` resolves the model to a group, then tries groups in turn
(the first, then its fallbacks, breadth first, each group at most once, up to
``max_fallbacks``). Within a group it makes ``num_retries + 1`` attempts at
most, preferring a healthy deployment not yet tried (no wait) and backing off
only when it must reuse one. Every attempt is one call of :meth:`attempt`,
one dispatcher exchange and one log line. Failure counts, cooldowns and usage
live in the :class:`~app.state.RouterState` it is given.

Whole-request deadline (``router_settings.timeout``): it bounds everything up
to the first byte of an answer; a stream that has started is bounded by its
``stream_timeout`` between chunks instead.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from app import errors, strategies
from app.dispatcher import Dispatcher, Target, Timeouts
from app.gate import CallSettings, ClientAuth, Gate
from app.groups import ModelGroups
from app.retry import WaitTooLong, backoff_seconds, retry_after_seconds
from app.schemas import ApiRequest
from app.settings import Deployment, RouterSettings, thaw
from app.state import RouterState
from app.streaming import Opened, open_stream

logger = logging.getLogger(__name__)


@dataclass
class Served:
    """What the route sends back: a body or a stream, and the headers."""

    body: dict | None = None
    chunks: Iterator[dict] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    upstream_seconds: float = 0.0


@dataclass
class Walk:
    """One request's progress through groups and attempts."""

    request: ApiRequest
    deadline: float | None
    group: str = ""
    retries: int = 0
    fallbacks: int = 0
    served_by: Deployment | None = None
    api_base: str = ""
    checked: dict = field(default_factory=dict)
    upstream_seconds: float = 0.0

    def headers(self) -> dict[str, str]:
        found = {
            "x-litellm-model-group": self.group,
            "x-litellm-attempted-retries": str(self.retries),
            "x-litellm-attempted-fallbacks": str(self.fallbacks),
        }
        if self.served_by is not None:
            found["x-litellm-model-id"] = self.served_by.id
            found["x-litellm-model-api-base"] = self.api_base
        return found


@dataclass(frozen=True)
class Candidate:
    deployment: Deployment
    settings: CallSettings


class Router:
    def __init__(self, deployments: tuple[Deployment, ...], settings: RouterSettings,
                 *, gate: Gate, dispatcher: Dispatcher, state: RouterState,
                 verify: bool | str = True, by_internal_name: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.groups = ModelGroups(deployments, aliases=settings.model_group_alias,
                                  by_internal_name=by_internal_name)
        self.gate, self.dispatcher, self.state = gate, dispatcher, state
        self.verify = verify
        self.clock, self.sleep = clock, sleep
        self.rng = rng or random.Random()
        self.strategy = strategies.STRATEGIES[settings.routing_strategy]

    def serve(self, request: ApiRequest) -> Served:
        """Serve one request, or raise the error the client should see."""
        timeout = self.settings.timeout
        walk = Walk(request, self.clock() + timeout if timeout else None)
        try:
            group, members = self.groups.resolve(request.model)
            return self.walk_groups(group, members, walk)
        except errors.GatewayError as error:
            error.headers.update(walk.headers())
            raise

    def walk_groups(self, first: str, members: list[Deployment], walk: Walk) -> Served:
        queue, visited = [first], {first}
        last: errors.GatewayError | None = None
        while queue:
            name = queue.pop(0)
            walk.group = name
            auth = walk.request.fallback_auth.get(name, walk.request.auth)
            try:
                group = members if name == first else self.groups.group(name)
                return self.serve_group(group, auth, walk)
            except errors.ModelNotFound as error:
                if name == first:
                    raise
                last = last or error
                continue
            except GateRefusal as refusal:
                if name == first:
                    raise refusal.error from None
                continue
            except errors.GatewayError as error:
                last = error
                nexts = self.fallbacks_for(name, error, walk, first)
            for target in nexts:
                if target not in visited and len(visited) <= self.settings.max_fallbacks:
                    visited.add(target)
                    queue.append(target)
            if queue:
                walk.fallbacks += 1
                logger.warning("group %s failed (%s); falling back to %s",
                               name, type(last).__name__, queue[0])
        assert last is not None
        raise last

    def fallbacks_for(self, group: str, error: errors.GatewayError, walk: Walk,
                      first: str) -> tuple[str, ...]:
        """The groups to try after ``group`` failed with ``error``; re-raise if none."""
        settings = self.settings
        if isinstance(error, errors.ContextWindowExceeded):
            found = settings.context_window_fallbacks.get(group, ())
        elif isinstance(error, errors.ContentPolicyViolation):
            found = settings.content_policy_fallbacks.get(group, ())
        elif not error.takes_fallback:
            raise error
        elif group == first and walk.request.fallbacks is not None:
            found = walk.request.fallbacks
        else:
            found = settings.fallbacks.get(group, settings.default_fallbacks)
        if not found:
            raise error
        return found

    def serve_group(self, members: list[Deployment], auth: ClientAuth,
                    walk: Walk) -> Served:
        candidates = self.admitted(members, auth, walk)
        retries = self.retries_for(walk.request, candidates)
        tried: set[str] = set()
        last: errors.GatewayError | None = None
        for number in range(retries + 1):
            choice = self.choose(candidates, tried, last)
            if number:
                walk.retries += 1
            if choice.deployment.id in tried:
                try:
                    self.wait_before_reuse(number, last, walk)
                except WaitTooLong:
                    break
            tried.add(choice.deployment.id)
            try:
                return self.attempt(choice, walk, len(candidates))
            except errors.GatewayError as error:
                last = error
                if not error.retryable:
                    raise
        assert last is not None
        raise last

    def admitted(self, members: list[Deployment], auth: ClientAuth,
                 walk: Walk) -> list[Candidate]:
        """The deployments that accept every client auth param of the request."""
        found, refusal = [], None
        for deployment in members:
            try:
                settings = self.gate.settle(deployment, auth, walk.checked)
            except errors.InvalidRequest as error:
                refusal = refusal or error
                continue
            found.append(Candidate(deployment, settings))
        if not found:
            raise GateRefusal(refusal or errors.InvalidRequest("No deployment."))
        return found

    def retries_for(self, request: ApiRequest, candidates: list[Candidate]) -> int:
        if request.num_retries is not None:
            return request.num_retries
        for candidate in candidates:
            if candidate.deployment.num_retries is not None:
                return candidate.deployment.num_retries
        return self.settings.num_retries

    def choose(self, candidates: list[Candidate], tried: set[str],
               last: errors.GatewayError | None) -> Candidate:
        """The next candidate: healthy, lowest order, untried first."""
        now = self.clock()
        healthy = [c for c in candidates if self.is_healthy(c.deployment, now)]
        if not healthy:
            raise last or self.unavailable(candidates, now)
        tier = strategies.lowest_order([c.deployment for c in healthy])
        ordered = self.strategy(tier, self.state, self.rng, now)
        by_id = {c.deployment.id: c for c in healthy}
        fresh = [d for d in ordered if d.id not in tried]
        return by_id[(fresh or ordered)[0].id]

    def is_healthy(self, deployment: Deployment, now: float) -> bool:
        if self.state.cooldown_until(deployment.id, now) is not None:
            return False
        return strategies.within_budget(deployment, self.state, now)

    def unavailable(self, candidates: list[Candidate], now: float
                    ) -> errors.GatewayError:
        """503 (cooling down) or 429 (over budget), saying when to come back."""
        ends = [self.state.cooldown_until(c.deployment.id, now) for c in candidates]
        cooling = [end for end in ends if end is not None]
        if cooling:
            wait = max(1, int(min(cooling) - now + 0.999))
            return errors.NoDeploymentAvailable(
                "Every deployment of this model is cooling down after failures.",
                headers={"Retry-After": str(wait)})
        wait = max(1, int(60 - now % 60))
        return errors.BudgetExhausted(
            "Every deployment of this model has spent its rate budget for this "
            "minute.", headers={"Retry-After": str(wait)})

    def wait_before_reuse(self, number: int, last: errors.GatewayError | None,
                          walk: Walk) -> None:
        hint = retry_after_seconds(last.headers) if last else None
        wait = backoff_seconds(number, hint, self.settings.retry_after, self.rng)
        if walk.deadline is not None:
            wait = min(wait, max(0.0, walk.deadline - self.clock()))
        if wait > 0:
            self.sleep(wait)

    def timeouts(self, deployment: Deployment, walk: Walk) -> Timeouts:
        request, settings = walk.request, self.settings
        total = request.timeout or deployment.timeout or settings.request_timeout
        stream = (request.stream_timeout or deployment.stream_timeout
                  or settings.stream_timeout or total)
        if walk.deadline is not None:
            remaining = walk.deadline - self.clock()
            if remaining <= 0:
                raise errors.DeadlineExceeded(
                    "The request's deadline (router_settings.timeout) was spent.")
            total, stream = min(total, remaining), min(stream, remaining)
        return Timeouts(total=total, stream=stream)

    def attempt(self, choice: Candidate, walk: Walk, group_size: int) -> Served:
        """One attempt on one deployment: dispatch, then record the outcome."""
        deployment, request = choice.deployment, walk.request
        timeouts = self.timeouts(deployment, walk)
        call = build_call(deployment, choice.settings, request, self.settings)
        target = Target(choice.settings.pinned, deployment.ssl_verify
                        if deployment.ssl_verify is not None else self.verify)
        started = self.clock()
        self.state.begin(deployment.id, started)
        try:
            result = self.dispatcher.send(call, target, timeouts)
            opened = open_stream(result) if request.stream else None
        except errors.GatewayError as error:
            walk.upstream_seconds += self.clock() - started
            self.state.end(deployment.id)
            self.failed(choice, error, walk, started, group_size)
            raise
        walk.upstream_seconds += self.clock() - started
        walk.served_by, walk.api_base = deployment, origin_of(call.api_base, call)
        self.log_attempt(walk, deployment, "success", 200, started)
        if opened is not None:
            return self.streamed(choice, opened, walk, started, group_size)
        self.succeeded(deployment, started, result)
        return Served(body=result, headers=walk.headers(),
                      upstream_seconds=walk.upstream_seconds)

    def streamed(self, choice: Candidate, opened: Opened, walk: Walk,
                 started: float, group_size: int) -> Served:
        def finished(error: errors.GatewayError | None, tokens: int) -> None:
            self.state.end(choice.deployment.id)
            if error is not None:
                self.failed(choice, error, walk, started, group_size)
            else:
                self.state.record_success(choice.deployment.id, self.clock(),
                                          self.clock() - started)
                self.state.add_tokens(choice.deployment.id, self.clock(), tokens)

        return Served(chunks=opened.relay(finished), headers=walk.headers(),
                      upstream_seconds=walk.upstream_seconds)

    def succeeded(self, deployment: Deployment, started: float, body: dict) -> None:
        now = self.clock()
        self.state.end(deployment.id)
        self.state.record_success(deployment.id, now, now - started)
        usage = body.get("usage") if isinstance(body, dict) else None
        if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
            self.state.add_tokens(deployment.id, now, usage["total_tokens"])

    def failed(self, choice: Candidate, error: errors.GatewayError, walk: Walk,
               started: float, group_size: int) -> None:
        deployment = choice.deployment
        self.log_attempt(walk, deployment, type(error).__name__, error.status, started)
        if self.settings.disable_cooldowns or not error.blames_deployment:
            return
        if client_caused(error, choice, walk.request):
            return
        immediate = group_size > 1 and isinstance(
            error, (errors.RateLimited, errors.AuthenticationError))
        hint = retry_after_seconds(error.headers) or 0.0
        until = self.state.record_failure(
            deployment.id, self.clock(), allowed_fails=self.settings.allowed_fails,
            cooldown_time=max(self.settings.cooldown_time, hint), immediate=immediate)
        if until is not None:
            logger.warning("deployment %s of group %s cools down for %.1fs",
                           deployment.id, deployment.model_name, until - self.clock())

    def log_attempt(self, walk: Walk, deployment: Deployment, outcome: str,
                    status: int, started: float) -> None:
        logger.info("attempt group=%s deployment=%s outcome=%s status=%s "
                    "latency_ms=%.1f", walk.group, deployment.id, outcome, status,
                    (self.clock() - started) * 1000)


class GateRefusal(Exception):
    """No deployment of a group accepts the request's client auth params."""

    def __init__(self, error: errors.GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


def client_caused(error: errors.GatewayError, choice: Candidate,
                  request: ApiRequest) -> bool:
    """Failures the client brought on itself never cool a shared deployment."""
    deployment = choice.deployment
    if deployment.client_owned:
        return False
    if isinstance(error, (errors.AuthenticationError, errors.PermissionDenied)):
        return request.auth.canonical("api_key") is not None
    if isinstance(error, errors.UpstreamTimeout) and request.timeout is not None:
        usual = deployment.timeout or request.timeout
        return request.timeout <= usual
    return False


def build_call(deployment: Deployment, settings: CallSettings, request: ApiRequest,
               router: RouterSettings):
    """The adapter's view of one attempt."""
    from app.providers.base import Call

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
        model=deployment.model,
        body={**thaw(settings.defaults), **request.forward},
        stream=request.stream, api_base=settings.api_base, api_key=settings.api_key,
        api_version=request.routing.get("api_version") or deployment.api_version,
        credentials=credentials,
        use_environment_credentials=settings.use_environment_credentials
        and not deployment.client_owned,
        drop_params=drop, requested_model=request.model,
        mock_response=request.mock_response or deployment.mock_response,
    )


def origin_of(api_base: str | None, call) -> str:
    """Scheme and host of the base, for the transparency header."""
    if call.mock_response is not None:
        return "mock"
    if not api_base:
        return call.provider
    scheme, _, rest = api_base.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
