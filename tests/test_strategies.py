"""Each routing strategy's choice, with a seeded or stubbed random source."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from app import strategies
from app.settings import Deployment
from app.state import InProcessState

PICKS = 4000


def dep(name: str, **fields) -> Deployment:
    return Deployment(id=name, model_name="g", provider="openai", model=name, **fields)


def first_picks(strategy, pool, state, seed=11, picks=PICKS) -> Counter:
    rng = random.Random(seed)
    return Counter(strategy(pool, state, rng, 0.0)[0].id for _ in range(picks))


@pytest.mark.parametrize(("field", "values"), [
    ("weight", (3, 1)),
    ("rpm", (600, 200)),
    ("tpm", (90_000, 30_000)),
])
def test_simple_shuffle_picks_in_proportion_to_weight_else_rpm_else_tpm(field, values):
    pool = [dep("a", **{field: values[0]}), dep("b", **{field: values[1]})]

    share = first_picks(strategies.simple_shuffle, pool, InProcessState())["a"] / PICKS

    assert share == pytest.approx(0.75, abs=0.03)


def test_simple_shuffle_prefers_weight_over_rpm():
    pool = [dep("a", weight=1, rpm=900), dep("b", weight=9, rpm=100)]

    share = first_picks(strategies.simple_shuffle, pool, InProcessState())["b"] / PICKS

    assert share == pytest.approx(0.9, abs=0.03)


def test_simple_shuffle_without_weights_is_uniform():
    pool = [dep("a"), dep("b"), dep("c")]

    counts = first_picks(strategies.simple_shuffle, pool, InProcessState())

    for name in "abc":
        assert counts[name] / PICKS == pytest.approx(1 / 3, abs=0.03)


def test_simple_shuffle_puts_weight_zero_last():
    pool = [dep("a", weight=0), dep("b", weight=1), dep("c", weight=2)]
    rng = random.Random(3)

    for _ in range(50):
        assert strategies.simple_shuffle(pool, InProcessState(), rng, 0)[-1].id == "a"


def test_simple_shuffle_is_reproducible_with_a_seed():
    pool = [dep(n, weight=w) for n, w in zip("abcd", (1, 2, 3, 4), strict=True)]

    def run(seed):
        rng = random.Random(seed)
        return [strategies.simple_shuffle(pool, InProcessState(), rng, 0)[0].id
                for _ in range(30)]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_least_busy_picks_the_fewest_in_flight():
    state = InProcessState()
    for name, count in (("a", 3), ("b", 1), ("c", 2)):
        for _ in range(count):
            state.begin(name, 0.0)
    pool = [dep("a"), dep("b"), dep("c")]

    order = strategies.least_busy(pool, state, random.Random(1), 0.0)

    assert [d.id for d in order] == ["b", "c", "a"]
    state.end("b")
    state.end("a")
    assert strategies.least_busy(pool, state, random.Random(1), 0.0)[0].id == "b"


def test_least_busy_breaks_ties_at_random():
    pool = [dep("a"), dep("b")]

    counts = first_picks(strategies.least_busy, pool, InProcessState(), picks=400)

    assert counts["a"] > 100 and counts["b"] > 100


class Exploring(random.Random):
    """A source whose ``random()`` is fixed, to force or forbid exploration."""

    def __init__(self, value: float) -> None:
        super().__init__(1)
        self.value = value

    def random(self) -> float:
        return self.value


def latency_state() -> InProcessState:
    state = InProcessState()
    state.record_success("slow", 0.0, 2.0)
    state.record_success("fast", 0.0, 0.2)
    return state


def test_latency_based_picks_the_lowest_recent_latency():
    pool = [dep("slow"), dep("fast")]

    order = strategies.lowest_latency(pool, latency_state(), Exploring(0.5), 0.0)

    assert [d.id for d in order] == ["fast", "slow"]


def test_latency_based_measures_an_unmeasured_deployment_first():
    pool = [dep("slow"), dep("fast"), dep("new")]

    order = strategies.lowest_latency(pool, latency_state(), Exploring(0.5), 0.0)

    assert order[0].id == "new"


def test_latency_based_explores_a_small_share_of_picks():
    pool = [dep("slow"), dep("fast")]
    state = latency_state()

    assert strategies.EXPLORATION_SHARE == 0.1
    counts = first_picks(strategies.lowest_latency, pool, state, picks=PICKS)
    # 10 % of picks are random, so half of those (5 %) land on the slow one
    assert counts["slow"] / PICKS == pytest.approx(0.05, abs=0.015)


def test_latency_follows_recent_measurements():
    state = InProcessState()
    state.record_success("a", 0.0, 0.1)
    for _ in range(10):
        state.record_success("a", 0.0, 1.0)

    assert state.latency("a") > 0.9


def test_usage_based_prefers_the_least_used_share_of_budget():
    state = InProcessState()
    for _ in range(5):
        state.begin("a", 0.0)
    for _ in range(2):
        state.begin("b", 0.0)
    pool = [dep("a", rpm=100), dep("b", rpm=10)]

    order = strategies.usage_based(pool, state, random.Random(1), 1.0)

    assert [d.id for d in order] == ["a", "b"]  # 5 % used against 20 %


@pytest.mark.parametrize(("rpm", "tpm", "requests", "tokens", "within"), [
    (2, None, 1, 0, True),
    (2, None, 2, 0, False),
    (None, 100, 5, 99, True),
    (None, 100, 5, 100, False),
    (None, None, 10_000, 10**9, True),
])
def test_within_budget(rpm, tpm, requests, tokens, within):
    state = InProcessState()
    for _ in range(requests):
        state.begin("a", 0.0)
    state.add_tokens("a", 0.0, tokens)

    assert strategies.within_budget(dep("a", rpm=rpm, tpm=tpm), state, 1.0) is within
    assert strategies.within_budget(dep("a", rpm=rpm, tpm=tpm), state, 61.0)


@pytest.mark.parametrize(("orders", "kept"), [
    ((1, 2, 1), {"d0", "d2"}),
    ((None, 5, None), {"d1"}),
    ((None, None), {"d0", "d1"}),
    ((0, 1), {"d0"}),
])
def test_lowest_order_keeps_only_the_best_rank(orders, kept):
    pool = [dep(f"d{n}", order=o) for n, o in enumerate(orders)]

    assert {d.id for d in strategies.lowest_order(pool)} == kept
