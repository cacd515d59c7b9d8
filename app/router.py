"""The router: a bounded walk over groups, deployments, retries and fallbacks.

:meth:`Router.serve` resolves the model to a group, then tries groups in turn:
the first, then its fallbacks, breadth first, each group at most once and at
most ``max_fallbacks`` of them. Within a group it makes ``num_retries + 1``
attempts at most. Each attempt picks, among the deployments that admit the
request's client auth params and are neither cooling down nor (under
usage-based routing) over budget, one not yet tried if there is one (no
wait), ranked by ``order`` and then by the routing strategy; only when it
must reuse a deployment does it back off first. :class:`~app.attempts.Attempts`
makes each attempt and keeps its books.

When every group has failed, the client gets the first group's error (the
model it asked for), except that a spent whole-request deadline
(``router_settings.timeout``) is a 504 at once, and an error that takes no
fallback (a 400 of the client's input) ends the walk where it happened. A
final 429 or 503 always carries ``Retry-After``. The deadline bounds
everything up to the first content of an answer; a stream that has started
is bounded by its ``stream_timeout`` between chunks instead.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable

from app import errors, strategies
from app.attempts import Attempts, Candidate, Served, Walk
from app.dispatcher import Dispatcher
from app.gate import ClientAuth, Gate
from app.groups import ModelGroups
from app.retry import WaitTooLong, backoff_seconds, retry_after_seconds
from app.schemas import ApiRequest
from app.settings import Deployment, RouterSettings
from app.state import RouterState

__all__ = ["Router", "Served"]

logger = logging.getLogger(__name__)

USAGE_STRATEGIES = frozenset({"usage-based-routing", "usage-based-routing-v2"})


class Skipped(Exception):
    """A fallback group that cannot serve this request (not an upstream failure)."""


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
        self.gate, self.state = gate, state
        self.clock, self.sleep = clock, sleep
        self.rng = rng or random.Random()
        self.strategy = strategies.STRATEGIES[settings.routing_strategy]
        self.budgets = settings.routing_strategy in USAGE_STRATEGIES
        self.attempts = Attempts(settings, dispatcher=dispatcher, state=state,
                                 verify=verify, clock=clock)

    def serve(self, request: ApiRequest) -> Served:
        """Serve one request, or raise the error the client should see."""
        timeout = self.settings.timeout
        walk = Walk(request, self.clock() + timeout if timeout else None)
        try:
            group, members = self.groups.resolve(request.model)
            self.check_client_fallbacks(walk)
            return self.walk_groups(group, members, walk)
        except errors.GatewayError as error:
            error.headers.update(walk.headers())
            self.add_retry_after(error, walk)
            raise

    def check_client_fallbacks(self, walk: Walk) -> None:
        """A request's own ``fallbacks`` must name groups that exist, and an
        entry bringing credentials must be admitted by its group: the client
        asked for them, so a silent skip would only mislead it."""
        for name in walk.request.fallbacks or ():
            try:
                members = self.groups.group(name)
            except errors.ModelNotFound as missing:
                raise errors.InvalidRequest(
                    f"fallbacks names an unknown model: {missing.message}",
                    param="fallbacks") from None
            if name in walk.request.fallback_auth:
                self.admitted(members, walk.request.fallback_auth[name], walk)

    def walk_groups(self, first: str, members: list[Deployment], walk: Walk) -> Served:
        """Try ``first``, then the fallbacks its failures lead to."""
        queue, visited = deque([first]), {first}
        original: errors.GatewayError | None = None
        while queue:
            name = queue.popleft()
            try:
                return self.try_group(name, first, members, walk)
            except Skipped:
                continue
            except errors.GatewayError as error:
                original = original or error
                following = self.fallbacks_for(name, error, walk, first)
            limit = self.settings.max_fallbacks
            for target in following:
                if target not in visited and len(visited) <= limit:
                    visited.add(target)
                    queue.append(target)
        assert original is not None  # the first group never raises Skipped
        raise original

    def try_group(self, name: str, first: str, members: list[Deployment],
                  walk: Walk) -> Served:
        if name == first:
            walk.group = name
            return self.serve_group(self.admitted(members, walk.request.auth, walk),
                                    walk)
        auth = walk.request.fallback_auth.get(name, walk.request.auth)
        try:
            candidates = self.admitted(self.groups.group(name), auth, walk)
        except errors.GatewayError as refusal:
            logger.warning("fallback group %s skipped: %s", name,
                           type(refusal).__name__)
            raise Skipped() from None
        logger.warning("group %s failed; falling back to %s", walk.group, name)
        walk.group = name
        walk.fallbacks += 1
        return self.serve_group(candidates, walk)

    def fallbacks_for(self, group: str, error: errors.GatewayError, walk: Walk,
                      first: str) -> tuple[str, ...]:
        """The groups to try after ``group`` failed with ``error``; re-raise if
        the error takes none."""
        settings = self.settings
        if isinstance(error, errors.ContextWindowExceeded):
            return settings.context_window_fallbacks.get(group, ())
        if isinstance(error, errors.ContentPolicyViolation):
            return settings.content_policy_fallbacks.get(group, ())
        if not error.takes_fallback:
            raise error
        if group == first and walk.request.fallbacks is not None:
            return walk.request.fallbacks
        return settings.fallbacks.get(group, settings.default_fallbacks)

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
            found.append(Candidate(deployment, settings, client_auth=bool(auth)))
        if not found:
            raise refusal or errors.InvalidRequest("No deployment.")
        return found

    def serve_group(self, candidates: list[Candidate], walk: Walk) -> Served:
        """Up to ``num_retries + 1`` attempts on the group's deployments."""
        retries = self.retries_for(walk.request, candidates)
        tried: set[str] = set()
        last: errors.GatewayError | None = None
        for number in range(retries + 1):
            choice = self.choose(candidates, tried, last)
            if choice.deployment.id in tried and not self.pause(number, last, walk):
                break
            tried.add(choice.deployment.id)
            try:
                return self.attempts.make(choice, walk, len(candidates),
                                          retry=number > 0)
            except errors.GatewayError as error:
                if not error.retryable:
                    raise
                last = error
        assert last is not None
        raise last

    def retries_for(self, request: ApiRequest, candidates: list[Candidate]) -> int:
        if request.num_retries is not None:
            return request.num_retries
        for candidate in candidates:
            if candidate.deployment.num_retries is not None:
                return candidate.deployment.num_retries
        return self.settings.num_retries

    def choose(self, candidates: list[Candidate], tried: set[str],
               last: errors.GatewayError | None) -> Candidate:
        """The next candidate: available, untried first, lowest order, then
        the strategy's pick. Raise when none is available."""
        now = self.clock()
        available = [c for c in candidates if self.is_available(c.deployment, now)]
        if not available:
            raise last or self.unavailable(candidates, now)
        fresh = [c for c in available if c.deployment.id not in tried]
        pool = [c.deployment for c in fresh or available]
        ranked = self.strategy(strategies.lowest_order(pool), self.state,
                               self.rng, now)
        return next(c for c in available if c.deployment is ranked[0])

    def is_available(self, deployment: Deployment, now: float) -> bool:
        if self.state.cooldown_until(deployment.state_key, now) is not None:
            return False
        return not self.budgets or strategies.within_budget(deployment, self.state,
                                                            now)

    def unavailable(self, candidates: list[Candidate], now: float
                    ) -> errors.GatewayError:
        """503 (cooling down) or 429 (over budget), saying when to come back."""
        ends = [self.state.cooldown_until(c.deployment.state_key, now)
                for c in candidates]
        cooling = [end for end in ends if end is not None]
        if cooling:
            return errors.NoDeploymentAvailable(
                "Every deployment of this model is cooling down after failures.",
                headers={"Retry-After": seconds_header(min(cooling) - now)})
        resets = [self.state.usage(c.deployment.state_key, now).resets_at
                  for c in candidates]
        return errors.BudgetExhausted(
            "Every deployment of this model has spent its rate budget for this "
            "minute.", headers={"Retry-After": seconds_header(min(resets) - now)})

    def pause(self, number: int, last: errors.GatewayError | None,
              walk: Walk) -> bool:
        """Back off before reusing a deployment; False when the wait would
        outlast the upstream's patience or the request's deadline."""
        hint = retry_after_seconds(last.headers) if last else None
        try:
            wait = backoff_seconds(number, hint, self.settings.retry_after, self.rng)
        except WaitTooLong:
            return False
        if walk.deadline is not None and wait >= walk.deadline - self.clock():
            return False
        if wait > 0:
            self.sleep(wait)
        return True

    def add_retry_after(self, error: errors.GatewayError, walk: Walk) -> None:
        """A final 429 or 503 says when to come back, in whole seconds."""
        if error.status not in (429, 503):
            return
        if any(name.lower() == "retry-after" for name in error.headers):
            return
        wait = retry_after_seconds(error.headers)
        now = self.clock()
        if wait is None and walk.deployment is not None:
            until = self.state.cooldown_until(walk.deployment.state_key, now)
            wait = until - now if until is not None else None
        wait = wait if wait is not None else self.settings.retry_after
        error.headers["Retry-After"] = seconds_header(wait)


def seconds_header(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, rounded up, at least one."""
    return str(max(1, math.ceil(seconds - 1e-9)))
