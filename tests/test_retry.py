"""Reading retry hints and computing backoff."""

from __future__ import annotations

import email.utils
import random
import time

import pytest

from app.retry import MAX_HONOURED_S, WaitTooLong, backoff_seconds, retry_after_seconds


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "3"}, 3.0),
    ({"retry-after": "0.5"}, 0.5),
    ({"retry-after-ms": "250"}, 0.25),
    ({"Retry-After-Ms": "1000", "Retry-After": "9"}, 1.0),
    ({"retry-after-ms": "junk", "retry-after": "4"}, 4.0),
    ({"retry-after": "-3"}, 0.0),
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_retry_after_seconds(headers, seconds):
    assert retry_after_seconds(headers) == seconds


def test_retry_after_as_an_http_date():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)

    assert retry_after_seconds({"Retry-After": later}) == pytest.approx(30, abs=2)


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(2)
    for number, base in ((1, 0.25), (2, 0.5), (3, 1.0), (8, 8.0), (20, 8.0)):
        wait = backoff_seconds(number, None, 0.0, rng)
        assert base / 2 <= wait <= base


def test_backoff_honours_hint_and_minimum():
    rng = random.Random(2)

    assert backoff_seconds(1, 2.0, 0.0, rng) == 2.0
    assert backoff_seconds(1, 0.1, 1.0, rng) == 1.0
    assert backoff_seconds(1, None, 5.0, rng) == 5.0
    with pytest.raises(WaitTooLong):
        backoff_seconds(1, MAX_HONOURED_S + 1, 0.0, rng)
