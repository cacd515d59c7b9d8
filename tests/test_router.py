"""The router's walk: retries, the choice of deployment, fallbacks, deadlines
and unavailable groups, against a scripted dispatcher and a fake clock."""

from __future__ import annotations

import math

import pytest

from app import errors
from tests.router_kit import chat, deployment, fail, make_kit, takes, times_out

RETRYABLE = [
    pytest.param(errors.BadGateway, 502, id="connection-error"),
    pytest.param(errors.UpstreamTimeout, 504, id="timeout"),
    pytest.param(408, 504, id="408"),
    pytest.param(409, 409, id="409"),
    pytest.param(429, 429, id="429"),
    pytest.param(500, 500, id="500"),
    pytest.param(502, 502, id="502"),
    pytest.param(503, 503, id="503"),
    pytest.param(504, 504, id="504"),
]
# upstream status -> the client's (413 and 422 are 400s by the shared table)
NOT_RETRYABLE = [(400, 400), (401, 401), (403, 403), (404, 404), (413, 400),
                 (422, 400)]


# Retries


@pytest.mark.parametrize(("kind", "status"), RETRYABLE)
def test_retryable_failure_is_retried_exactly_num_retries_times(kind, status):
    kit = make_kit([deployment("g", "a")], num_retries=2, allowed_fails=100)
    kit.dispatcher.script("a", fail(kind))

    error = kit.error()

    assert kit.dispatcher.models() == ["a", "a", "a"]
    assert error.status == status
    assert error.headers["x-litellm-attempted-retries"] == "2"


@pytest.mark.parametrize(("upstream", "status"), NOT_RETRYABLE)
def test_non_retryable_failure_is_never_retried(upstream, status):
    kit = make_kit([deployment("g", "a"), deployment("g", "b")], num_retries=3)
    kit.dispatcher.script("a", fail(upstream))
    kit.dispatcher.script("b", fail(upstream))

    error = kit.error()

    assert len(kit.dispatcher.calls) == 1
    assert error.status == status
    assert kit.clock.sleeps == []


@pytest.mark.parametrize(("request_retries", "deployment_retries", "calls"), [
    (0, 3, 1),
    (1, 3, 2),
    (None, 0, 1),
    (None, 3, 4),
    (None, None, 3),
])
def test_num_retries_most_specific_wins_and_zero_means_zero(
        request_retries, deployment_retries, calls):
    params = {} if deployment_retries is None else {"num_retries": deployment_retries}
    kit = make_kit([deployment("g", "a", **params)], num_retries=2,
                   allowed_fails=100)
    kit.dispatcher.script("a", fail(500))
    body = {} if request_retries is None else {"num_retries": request_retries}

    kit.error(**body)

    assert len(kit.dispatcher.calls) == calls


def test_retry_succeeds_on_a_later_attempt():
    kit = make_kit([deployment("g", "a")], num_retries=2)
    kit.dispatcher.script("a", fail(500), fail(503), chat("third"))

    served = kit.ask()

    assert served.body["choices"][0]["message"]["content"] == "third"
    assert served.headers["x-litellm-attempted-retries"] == "2"


def test_retry_goes_to_another_healthy_deployment_without_sleeping():
    kit = make_kit([deployment("g", "a", order=1), deployment("g", "b", order=2)],
                   num_retries=2)
    kit.dispatcher.script("a", fail(500))

    served = kit.ask()

    assert kit.dispatcher.models() == ["a", "b"]
    assert kit.clock.sleeps == []
    assert served.headers["x-litellm-model-id"] == "b"
    assert served.headers["x-litellm-attempted-retries"] == "1"


def test_reusing_a_deployment_waits_with_exponential_backoff_and_jitter():
    kit = make_kit([deployment("g", "a"), deployment("g", "b")], num_retries=4,
                   allowed_fails=100)
    kit.dispatcher.script("a", fail(500))
    kit.dispatcher.script("b", fail(500))

    kit.error()

    assert sorted(kit.dispatcher.models()[:2]) == ["a", "b"]
    waits = kit.clock.sleeps
    assert len(waits) == 3  # attempts 3, 4 and 5 reuse a deployment
    # the base doubles with each retry; jitter takes it down to half
    for wait, base in zip(waits, (0.5, 1.0, 2.0), strict=True):
        assert base / 2 <= wait <= base


@pytest.mark.parametrize(("headers", "wait"), [
    ({"retry-after": "2"}, 2.0),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after": "7", "retry-after-ms": "250"}, 0.25),
])
def test_retry_after_is_waited_for_before_reusing_a_deployment(headers, wait):
    kit = make_kit([deployment("g", "a")], num_retries=2, allowed_fails=100)
    kit.dispatcher.script("a", fail(429, headers=headers))

    kit.error()

    assert kit.clock.sleeps == [wait, wait]
    calls = kit.dispatcher.calls
    assert calls[1].at - calls[0].at == pytest.approx(wait)


def test_router_retry_after_is_the_minimum_wait():
    kit = make_kit([deployment("g", "a")], num_retries=1, retry_after=3,
                   allowed_fails=100)
    kit.dispatcher.script("a", fail(429, headers={"retry-after": "1"}))

    kit.error()

    assert kit.clock.sleeps == [3.0]


def test_retry_after_is_capped_by_the_deadline():
    kit = make_kit([deployment("g", "a")], num_retries=3, timeout=5,
                   allowed_fails=100)
    kit.dispatcher.script("a", fail(429, headers={"retry-after": "2"}))

    error = kit.error()

    # 2 s fit twice into the 5 s deadline; the third wait would outlast it, so
    # the client gets the 429 at once instead of a pointless wait.
    assert kit.clock.sleeps == [2.0, 2.0]
    assert len(kit.dispatcher.calls) == 3
    assert error.status == 429
    assert sum(kit.clock.sleeps) < 5


def test_a_retry_after_longer_than_the_gateway_holds_ends_the_retries():
    kit = make_kit([deployment("g", "a")], num_retries=3, allowed_fails=100)
    kit.dispatcher.script("a", fail(429, headers={"retry-after": "3600"}))

    error = kit.error()

    assert len(kit.dispatcher.calls) == 1
    assert kit.clock.sleeps == []
    assert error.headers["retry-after"] == "3600"


# The choice of deployment


def test_lower_order_is_used_while_any_of_its_deployments_is_available():
    kit = make_kit([deployment("g", "a", order=2), deployment("g", "b", order=1),
                    deployment("g", "c", order=1)], num_retries=0)

    picks = {kit.ask().headers["x-litellm-model-id"] for _ in range(20)}

    assert picks == {"b", "c"}


def test_higher_order_serves_when_the_lower_ones_cool_down():
    kit = make_kit([deployment("g", "a", order=1), deployment("g", "b", order=2)],
                   num_retries=0, allowed_fails=0, cooldown_time=30)
    kit.dispatcher.script("a", fail(500))
    kit.error()
    assert kit.cooling("a")

    served = kit.ask()

    assert served.headers["x-litellm-model-id"] == "b"
    assert kit.dispatcher.models() == ["a", "b"]


def test_a_cooling_deployment_is_skipped_until_its_cooldown_ends():
    kit = make_kit([deployment("g", "a", order=1), deployment("g", "b", order=2)],
                   num_retries=0, allowed_fails=0, cooldown_time=10)
    kit.dispatcher.script("a", fail(500), chat("a is back"))
    kit.error()

    kit.clock.advance(9.9)
    assert kit.ask().headers["x-litellm-model-id"] == "b"
    kit.clock.advance(0.2)
    served = kit.ask()

    assert served.headers["x-litellm-model-id"] == "a"
    assert kit.dispatcher.models() == ["a", "b", "a"]


def test_usage_based_routing_skips_a_spent_rpm_budget():
    kit = make_kit([deployment("g", "a", rpm=2, order=1),
                    deployment("g", "b", rpm=100, order=2)],
                   routing_strategy="usage-based-routing", num_retries=0)

    served = [kit.ask().headers["x-litellm-model-id"] for _ in range(4)]

    assert served == ["a", "a", "b", "b"]
    kit.clock.advance(60)
    assert kit.ask().headers["x-litellm-model-id"] == "a"


def test_usage_based_routing_counts_tokens_from_upstream_usage():
    kit = make_kit([deployment("g", "a", tpm=10, order=1),
                    deployment("g", "b", order=2)],
                   routing_strategy="usage-based-routing", num_retries=0)
    kit.dispatcher.script("a", chat("big", tokens=10))

    first = kit.ask().headers["x-litellm-model-id"]
    second = kit.ask().headers["x-litellm-model-id"]

    assert (first, second) == ("a", "b")


def test_rpm_is_only_a_weight_under_simple_shuffle():
    kit = make_kit([deployment("g", "a", rpm=1)], num_retries=0)

    for _ in range(3):
        assert kit.ask().headers["x-litellm-model-id"] == "a"


# Every deployment unavailable


def test_all_cooling_answers_503_with_retry_after_of_the_earliest():
    kit = make_kit([deployment("g", "a"), deployment("g", "b")], num_retries=0,
                   allowed_fails=0, cooldown_time=20)
    kit.dispatcher.script("a", fail(500))
    kit.dispatcher.script("b", fail(500))
    kit.error()
    kit.clock.advance(4.5)
    kit.error()  # the other one cools at +4.5 s, until +24.5 s
    kit.clock.advance(0.5)
    calls = len(kit.dispatcher.calls)

    error = kit.error()

    assert isinstance(error, errors.NoDeploymentAvailable)
    assert error.status == 503
    assert error.headers["Retry-After"] == "15"  # the first ends 15 s from now
    assert len(kit.dispatcher.calls) == calls


def test_all_over_budget_answers_429_with_retry_after_of_the_window():
    kit = make_kit([deployment("g", "a", rpm=1)],
                   routing_strategy="usage-based-routing", num_retries=0)
    kit.ask()
    kit.clock.advance(20)

    error = kit.error()

    assert isinstance(error, errors.BudgetExhausted)
    assert error.status == 429
    assert error.headers["Retry-After"] == "40"


def test_an_unavailable_group_takes_its_fallbacks_first():
    kit = make_kit([deployment("g", "a"), deployment("h", "b")], num_retries=0,
                   allowed_fails=0, cooldown_time=20, fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", fail(500))
    kit.ask()  # a fails and cools; b serves
    kit.clock.advance(1)

    served = kit.ask()

    assert served.headers["x-litellm-model-id"] == "b"
    assert served.headers["x-litellm-attempted-fallbacks"] == "1"
    assert kit.dispatcher.models() == ["a", "b", "b"]


def test_unavailable_group_and_failing_fallbacks_answer_the_first_groups_503():
    kit = make_kit([deployment("g", "a"), deployment("h", "b")], num_retries=0,
                   allowed_fails=0, cooldown_time=20, fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", fail(500))
    kit.dispatcher.script("b", fail(500))
    kit.error()
    kit.clock.advance(1)

    error = kit.error()

    assert error.status == 503
    assert error.headers["Retry-After"] == "19"


def test_a_final_429_without_upstream_hint_still_carries_retry_after():
    kit = make_kit([deployment("g", "a")], num_retries=0)
    kit.dispatcher.script("a", fail(429))

    error = kit.error()

    assert error.status == 429
    assert int(error.headers["Retry-After"]) >= 1


def test_a_final_429_passes_on_the_upstreams_hint():
    kit = make_kit([deployment("g", "a")], num_retries=0)
    kit.dispatcher.script("a", fail(429, headers={"retry-after-ms": "2500"}))

    error = kit.error()

    assert error.headers["Retry-After"] == "3"
    assert error.headers["retry-after-ms"] == "2500"


# Fallbacks

FALLBACK_TRIGGERS = [errors.BadGateway, errors.UpstreamTimeout, 401, 403, 404, 408,
                     409, 429, 500, 502, 503, 504]
FALLBACK_NON_TRIGGERS = [400, 413, 422]


def fallback_kit(**settings):
    models = [deployment("g", "a"), deployment("h", "b"), deployment("k", "c")]
    settings.setdefault("num_retries", 0)
    return make_kit(models, **settings)


@pytest.mark.parametrize("kind", FALLBACK_TRIGGERS)
def test_fallback_is_taken_after_a_deployment_failure(kind):
    kit = fallback_kit(fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", fail(kind))

    served = kit.ask()

    assert kit.dispatcher.models() == ["a", "b"]
    assert served.headers["x-litellm-model-group"] == "h"
    assert served.headers["x-litellm-attempted-fallbacks"] == "1"


@pytest.mark.parametrize("status", FALLBACK_NON_TRIGGERS)
def test_no_fallback_after_a_fault_of_the_clients_input(status):
    kit = fallback_kit(fallbacks=[{"g": ["h"]}], default_fallbacks=["k"])
    kit.dispatcher.script("a", fail(status))

    error = kit.error()

    assert error.status == 400
    assert kit.dispatcher.models() == ["a"]


def test_fallbacks_come_after_the_groups_retries():
    kit = fallback_kit(fallbacks=[{"g": ["h"]}], num_retries=2, allowed_fails=100)
    kit.dispatcher.script("a", fail(500))

    served = kit.ask()

    assert kit.dispatcher.models() == ["a", "a", "a", "b"]
    assert served.headers["x-litellm-attempted-retries"] == "2"


def test_fallbacks_are_tried_in_order():
    kit = fallback_kit(fallbacks=[{"g": ["h", "k"]}])
    kit.dispatcher.script("a", fail(500))
    kit.dispatcher.script("b", fail(503))

    served = kit.ask()

    assert kit.dispatcher.models() == ["a", "b", "c"]
    assert served.headers["x-litellm-model-id"] == "c"
    assert served.headers["x-litellm-attempted-fallbacks"] == "2"


def test_default_fallbacks_serve_a_group_without_its_own():
    kit = fallback_kit(default_fallbacks=["k"], fallbacks=[{"h": ["g"]}])
    kit.dispatcher.script("a", fail(500))
    kit.dispatcher.script("b", fail(500))

    assert kit.ask("g").headers["x-litellm-model-id"] == "c"
    assert kit.dispatcher.models() == ["a", "c"]
    # h's own list wins over the default (h -> g, not h -> k); g, without a
    # list of its own, then takes the default.
    served = kit.ask("h")
    assert kit.dispatcher.models()[2:] == ["b", "a", "c"]
    assert served.headers["x-litellm-attempted-fallbacks"] == "2"


def test_request_fallbacks_replace_the_configured_ones():
    kit = fallback_kit(fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", fail(500))

    served = kit.ask(fallbacks=["k"])

    assert kit.dispatcher.models() == ["a", "c"]
    assert served.headers["x-litellm-model-group"] == "k"


def test_request_fallbacks_empty_means_none():
    kit = fallback_kit(fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", fail(500))

    kit.error(fallbacks=[])

    assert kit.dispatcher.models() == ["a"]


def test_a_fallback_loop_visits_each_group_once():
    kit = fallback_kit(fallbacks=[{"g": ["h"]}, {"h": ["g"]}], num_retries=1,
                       allowed_fails=100)
    kit.dispatcher.script("a", fail(500))
    kit.dispatcher.script("b", fail(502))

    error = kit.error()

    assert kit.dispatcher.models() == ["a", "a", "b", "b"]
    assert error.status == 500  # the first group's error: the model asked for
    assert error.headers["x-litellm-attempted-fallbacks"] == "1"


def test_a_self_referencing_fallback_adds_no_attempts():
    kit = fallback_kit(fallbacks=[{"g": ["g"]}], num_retries=1, allowed_fails=100)
    kit.dispatcher.script("a", fail(503))

    kit.error()

    assert kit.dispatcher.models() == ["a", "a"]


def test_fallback_chains_stop_at_max_fallbacks():
    models = [deployment(f"g{n}", f"m{n}") for n in range(8)]
    chain = [{f"g{n}": [f"g{n + 1}"]} for n in range(7)]
    kit = make_kit(models, num_retries=0, fallbacks=chain, max_fallbacks=3)
    for n in range(8):
        kit.dispatcher.script(f"m{n}", fail(500))

    error = kit.error("g0")

    assert kit.dispatcher.models() == ["m0", "m1", "m2", "m3"]
    assert error.headers["x-litellm-attempted-fallbacks"] == "3"


def test_a_fallback_group_that_does_not_exist_is_skipped():
    kit = fallback_kit(fallbacks=[{"g": ["nowhere", "h"]}])
    kit.dispatcher.script("a", fail(500))

    assert kit.ask().headers["x-litellm-model-id"] == "b"


@pytest.mark.parametrize(("kind", "setting"), [
    (errors.ContextWindowExceeded, "context_window_fallbacks"),
    (errors.ContentPolicyViolation, "content_policy_fallbacks"),
])
def test_special_fallbacks_are_taken_without_retrying_the_first_group(kind, setting):
    kit = fallback_kit(num_retries=3, fallbacks=[{"g": ["h"]}],
                       **{setting: [{"g": ["k"]}]})
    kit.dispatcher.script("a", fail(kind))

    served = kit.ask()

    assert kit.dispatcher.models() == ["a", "c"]
    assert served.headers["x-litellm-model-group"] == "k"


@pytest.mark.parametrize("kind", [errors.ContextWindowExceeded,
                                  errors.ContentPolicyViolation])
def test_special_failures_without_their_fallbacks_take_no_ordinary_ones(kind):
    kit = fallback_kit(fallbacks=[{"g": ["h"]}], default_fallbacks=["k"])
    kit.dispatcher.script("a", fail(kind))

    error = kit.error()

    assert error.status == 400
    assert kit.dispatcher.models() == ["a"]


CLIENT_KEY = "sk-client-SECRET-1"


def test_a_fallback_group_that_refuses_the_clients_auth_params_is_skipped():
    models = [deployment("g", "a", configurable_clientside_auth_params=["api_key"]),
              deployment("h", "b"),
              deployment("k", "c", configurable_clientside_auth_params=["api_key"])]
    kit = make_kit(models, num_retries=0, fallbacks=[{"g": ["h", "k"]}])
    kit.dispatcher.script("a", fail(500))

    served = kit.ask(api_key=CLIENT_KEY)

    assert kit.dispatcher.models() == ["a", "c"]  # never b, with the operator's key
    assert [s.call.api_key for s in kit.dispatcher.calls] == [CLIENT_KEY] * 2
    assert served.headers["x-litellm-attempted-fallbacks"] == "1"


def test_when_every_fallback_refuses_the_client_the_first_error_stands():
    models = [deployment("g", "a", configurable_clientside_auth_params=["api_key"]),
              deployment("h", "b")]
    kit = make_kit(models, num_retries=0, fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", fail(502))

    error = kit.error(api_key=CLIENT_KEY)

    assert error.status == 502
    assert kit.dispatcher.models() == ["a"]
    assert error.headers["x-litellm-attempted-fallbacks"] == "0"


def test_the_first_group_refusing_the_client_is_a_400_without_a_call():
    kit = fallback_kit(fallbacks=[{"g": ["h"]}])

    error = kit.error(api_key=CLIENT_KEY)

    assert error.status == 400
    assert error.param == "api_key"
    assert kit.dispatcher.calls == []


# Deadlines


@pytest.mark.parametrize(("body", "params", "litellm", "expected"), [
    pytest.param({"timeout": 5}, {"timeout": 10}, {"request_timeout": 20}, 5,
                 id="request-body"),
    pytest.param({}, {"timeout": 10}, {"request_timeout": 20}, 10, id="deployment"),
    pytest.param({}, {}, {"request_timeout": 20}, 20, id="request_timeout"),
    pytest.param({}, {}, {}, 600, id="default"),
    pytest.param({"timeout": 30}, {"timeout": 10}, {}, 30, id="client-longer"),
])
def test_per_attempt_timeout_most_specific_wins(body, params, litellm, expected):
    kit = make_kit([deployment("g", "a", **params)], litellm_settings=litellm)

    kit.ask(**body)

    assert kit.dispatcher.calls[0].timeouts.total == expected


@pytest.mark.parametrize(("body", "params", "settings", "expected"), [
    pytest.param({"stream_timeout": 2, "timeout": 9}, {"stream_timeout": 4}, {}, 2,
                 id="request-stream_timeout"),
    pytest.param({"timeout": 9}, {"stream_timeout": 4}, {}, 9, id="request-timeout"),
    pytest.param({}, {"stream_timeout": 4, "timeout": 8}, {}, 4,
                 id="deployment-stream_timeout"),
    pytest.param({}, {"timeout": 8}, {"stream_timeout": 3}, 8,
                 id="deployment-timeout"),
    pytest.param({}, {}, {"stream_timeout": 3, "request_timeout": 7}, 3,
                 id="router-stream_timeout"),
    pytest.param({}, {}, {"request_timeout": 7}, 7, id="router-request_timeout"),
])
def test_stream_timeout_most_specific_wins(body, params, settings, expected):
    from tests.router_kit import stream_ok

    kit = make_kit([deployment("g", "a", **params)], **settings)
    kit.dispatcher.script("a", stream_ok())

    list(kit.ask(stream=True, **body).chunks)

    timeouts = kit.dispatcher.calls[0].timeouts
    assert (timeouts.stream, timeouts.first()) == (expected, expected)


def test_the_whole_request_deadline_cuts_attempts_and_answers_504_at_once():
    kit = make_kit([deployment("g", "a", timeout=6), deployment("h", "b")],
                   timeout=10, num_retries=3, allowed_fails=100,
                   fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", times_out(kit.clock))
    started = kit.clock()

    error = kit.error()

    totals = [sent.timeouts.total for sent in kit.dispatcher.calls]
    assert kit.dispatcher.models() == ["a", "a"]  # no fallback once it is spent
    assert totals[0] == 6 and totals[1] <= 4
    assert isinstance(error, errors.DeadlineExceeded)
    assert error.status == 504
    assert kit.clock() - started <= 10


def test_the_deadline_bounds_the_fallbacks_too():
    kit = make_kit([deployment("g", "a"), deployment("h", "b")], timeout=10,
                   num_retries=0, fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", takes(kit.clock, 7, fail(500)))

    kit.ask()

    fallback = kit.dispatcher.calls[1]
    assert fallback.model == "b"
    assert fallback.timeouts.total == pytest.approx(3)


def test_a_request_finished_within_its_deadline_is_served():
    kit = make_kit([deployment("g", "a")], timeout=10)
    kit.dispatcher.script("a", takes(kit.clock, 9, chat("just in time")))

    assert kit.ask().body["choices"][0]["message"]["content"] == "just in time"


def test_the_first_byte_of_a_stream_is_bounded_by_the_deadline():
    from tests.router_kit import stream_ok

    kit = make_kit([deployment("g", "a", stream_timeout=30)], timeout=10)
    kit.dispatcher.script("a", stream_ok())

    list(kit.ask(stream=True).chunks)

    timeouts = kit.dispatcher.calls[0].timeouts
    assert (timeouts.first(), timeouts.stream) == (10, 30)


def test_retry_after_header_value_rounds_up():
    from app.router import seconds_header

    assert [seconds_header(s) for s in (0, 0.2, 1, 1.01, 59.5)] == [
        "1", "1", "1", "2", "60"]
    assert math.isclose(float(seconds_header(3)), 3)
