"""The in-process router state: windows, cooldowns, bounds."""

from __future__ import annotations

from app.state import InProcessState


def fail(state, key, now, allowed=1, cooldown=5.0, immediate=False):
    return state.record_failure(key, now, allowed_fails=allowed,
                                cooldown_time=cooldown, immediate=immediate)


def test_immediate_failure_cools_at_once():
    state = InProcessState()

    assert fail(state, "a", 10.0, allowed=5, immediate=True) == 15.0
    assert state.cooldown_until("a", 14.9) == 15.0
    assert state.cooldown_until("a", 15.0) is None


def test_failure_window_slides():
    state = InProcessState()
    assert fail(state, "a", 0.0) is None
    assert fail(state, "a", 59.0) == 64.0  # two in a minute
    assert fail(state, "b", 0.0) is None
    assert fail(state, "b", 60.0) is None  # the first has left the window


def test_usage_window_counts_a_minute_and_says_when_it_resets():
    state = InProcessState()
    state.begin("a", 100.0)
    state.add_tokens("a", 110.0, 40)
    state.begin("a", 120.0)

    used = state.usage("a", 130.0)
    assert (used.requests, used.tokens, used.resets_at) == (2, 40, 160.0)
    fresh = state.usage("a", 160.0)
    assert (fresh.requests, fresh.tokens) == (0, 0)
    state.begin("a", 161.0)
    assert state.usage("a", 161.0).requests == 1


def test_in_flight_never_goes_negative():
    state = InProcessState()
    state.begin("a", 0.0)
    state.end("a")
    state.end("a")
    state.end("unknown")

    assert state.in_flight("a") == 0


def test_the_store_is_bounded_and_forgets_least_recently_used_keys():
    state = InProcessState(max_keys=3)
    for key in "abc":
        state.begin(key, 0.0)
    state.begin("a", 0.0)  # a is now the most recent
    state.begin("d", 0.0)

    assert state.in_flight("b") == 0  # forgotten
    assert state.in_flight("a") == 2
    assert state.in_flight("d") == 1
