"""Which timeouts an attempt gets, level by level."""

from __future__ import annotations

import pytest

from app import errors, schemas
from app.deadlines import attempt_timeouts, shortened_by_client
from app.settings import Deployment, Limits, RouterSettings

DEPLOYMENT = Deployment(id="a", model_name="g", provider="openai", model="a",
                        timeout=30.0, stream_timeout=10.0)


def request(**body):
    return schemas.parse("chat", {"model": "g", "messages": [{"role": "user",
                                                              "content": "hi"}],
                                  **body}, Limits())


def test_without_a_deadline_the_levels_decide():
    timeouts = attempt_timeouts(request(), DEPLOYMENT, RouterSettings(), None)

    assert (timeouts.total, timeouts.stream, timeouts.first()) == (30, 10, 10)


def test_a_deadline_cuts_the_answer_and_the_first_event_not_the_gaps():
    timeouts = attempt_timeouts(request(), DEPLOYMENT, RouterSettings(), 4.0)

    assert (timeouts.total, timeouts.first(), timeouts.stream) == (4, 4, 10)


@pytest.mark.parametrize("remaining", [0.0, -1.0])
def test_a_spent_deadline_is_a_504(remaining):
    with pytest.raises(errors.DeadlineExceeded) as raised:
        attempt_timeouts(request(), DEPLOYMENT, RouterSettings(), remaining)

    assert raised.value.status == 504
    assert not raised.value.retryable and not raised.value.takes_fallback


@pytest.mark.parametrize(("body", "shortened"), [
    ({}, False),
    ({"timeout": 5}, True),
    ({"timeout": 30}, False),
    ({"timeout": 60}, False),
    ({"stream": True, "stream_timeout": 2}, True),
    ({"stream": True, "timeout": 20}, False),  # longer than the stream's 10 s
    ({"stream": True, "timeout": 5}, True),
])
def test_shortened_by_client(body, shortened):
    assert shortened_by_client(request(**body), DEPLOYMENT,
                               RouterSettings()) is shortened
