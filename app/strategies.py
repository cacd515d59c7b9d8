"""Choosing one deployment of a group: pure functions over the router's state.

Each strategy takes the candidates (already filtered for cooldowns, budgets,
client auth params and ``order``) and returns them in the order to try; the
router takes the first. :func:`lowest_order` does the ``order`` ranking: a
lower ``order`` is used while any of its deployments is available.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from app.settings import Deployment
from app.state import RouterState

EXPLORATION_SHARE = 0.1
UNRANKED = 1 << 30

Strategy = Callable[[Sequence[Deployment], RouterState, random.Random, float],
                    list[Deployment]]


def lowest_order(candidates: Sequence[Deployment]) -> list[Deployment]:
    """Only the candidates of the lowest ``order`` present (unset ranks last)."""
    ranks = [d.order if d.order is not None else UNRANKED for d in candidates]
    best = min(ranks)
    return [d for d, rank in zip(candidates, ranks, strict=True) if rank == best]


def shuffle_weight(deployment: Deployment, by: str) -> float:
    value = getattr(deployment, by)
    return float(value) if value is not None else 0.0


def simple_shuffle(candidates: Sequence[Deployment], state: RouterState,
                   rng: random.Random, now: float) -> list[Deployment]:
    """Weighted by ``weight``, else ``rpm``, else ``tpm``, else uniform."""
    pool = list(candidates)
    if len(pool) == 1:
        return pool
    for by in ("weight", "rpm", "tpm"):
        weights = [shuffle_weight(d, by) for d in pool]
        if any(weights):
            return weighted_order(pool, weights, rng)
    rng.shuffle(pool)
    return pool


def weighted_order(pool: list[Deployment], weights: list[float],
                   rng: random.Random) -> list[Deployment]:
    """A weighted random order: each next pick is drawn by weight; those of
    weight zero come last, in random order."""
    ordered: list[Deployment] = []
    pool, weights = list(pool), list(weights)
    while pool:
        if not any(weights):
            rng.shuffle(pool)
            return ordered + pool
        index = rng.choices(range(len(pool)), weights=weights)[0]
        ordered.append(pool.pop(index))
        weights.pop(index)
    return ordered


def least_busy(candidates: Sequence[Deployment], state: RouterState,
               rng: random.Random, now: float) -> list[Deployment]:
    """Fewest requests in flight in this worker first; ties broken at random."""
    pool = list(candidates)
    rng.shuffle(pool)
    return sorted(pool, key=lambda d: state.in_flight(d.state_key))


def lowest_latency(candidates: Sequence[Deployment], state: RouterState,
                   rng: random.Random, now: float) -> list[Deployment]:
    """Lowest recent latency first, unmeasured ones before all; a share of
    :data:`EXPLORATION_SHARE` of the picks is random, so a deployment that
    was slow once gets measured again."""
    pool = list(candidates)
    rng.shuffle(pool)
    if rng.random() < EXPLORATION_SHARE:
        return pool
    return sorted(pool, key=lambda d: state.latency(d.state_key) or 0.0)


def usage_based(candidates: Sequence[Deployment], state: RouterState,
                rng: random.Random, now: float) -> list[Deployment]:
    """Least used share of the minute's budget first (over-budget ones are
    already filtered out by :func:`within_budget`)."""
    pool = list(candidates)
    rng.shuffle(pool)
    return sorted(pool, key=lambda d: usage_share(d, state, now))


def usage_share(deployment: Deployment, state: RouterState, now: float) -> float:
    used = state.usage(deployment.state_key, now)
    shares = [0.0]
    if deployment.rpm:
        shares.append(used.requests / deployment.rpm)
    if deployment.tpm:
        shares.append(used.tokens / deployment.tpm)
    return max(shares)


def within_budget(deployment: Deployment, state: RouterState, now: float) -> bool:
    """False when this minute's ``rpm`` or ``tpm`` budget is spent."""
    if deployment.rpm is None and deployment.tpm is None:
        return True
    used = state.usage(deployment.state_key, now)
    if deployment.rpm is not None and used.requests >= deployment.rpm:
        return False
    return not (deployment.tpm is not None and used.tokens >= deployment.tpm)


STRATEGIES: dict[str, Strategy] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": lowest_latency,
    "usage-based-routing": usage_based,
    "usage-based-routing-v2": usage_based,
}
