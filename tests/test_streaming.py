"""Streams: what counts as content, failing over before the first byte, and
ending with an error event after it."""

from __future__ import annotations

import pytest

from app import errors
from app.streaming import MAX_HELD, Relay, has_content, open_stream
from tests.router_kit import chunk, deployment, fail, make_kit, stream_ok


def failing_after(chunks, error):
    def play(call, timeouts):
        yield from chunks
        raise error

    return play


@pytest.mark.parametrize(("event", "content"), [
    (chunk("", role=True), False),
    (chunk(None, role=True), False),
    ({"choices": []}, False),
    ({"choices": [], "usage": {"total_tokens": 3}}, False),
    (chunk("hi"), True),
    (chunk(finish="stop"), True),
    ({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0}]}}]}, True),
    ({"choices": [{"index": 0, "text": "x", "finish_reason": None}]}, True),
    ({"object": "something.else"}, True),
])
def test_has_content(event, content):
    assert has_content(event) is content


def test_openers_are_held_back_with_the_first_content():
    events = iter([chunk("", role=True), chunk("hi"), chunk(finish="stop")])

    held, rest = open_stream(events)

    assert [has_content(e) for e in held] == [False, True]
    assert list(rest) == [chunk(finish="stop")]


def test_holding_back_is_bounded():
    events = iter([chunk("", role=True)] * (MAX_HELD + 5))

    held, _ = open_stream(events)

    assert len(held) == MAX_HELD


def test_a_stream_ending_before_content_is_a_502_and_closed():
    closed = []

    def events():
        try:
            yield chunk("", role=True)
        finally:
            closed.append(True)

    with pytest.raises(errors.BadGateway):
        open_stream(events())
    assert closed == [True]


def test_relay_reports_once_even_when_never_iterated():
    reports = []
    relay = Relay([chunk("a")], iter([]), lambda *args: reports.append(args))

    relay.close()
    relay.close()

    assert reports == [(None, 0, False)]
    assert list(relay) == []


def test_relay_counts_tokens_from_the_last_usage():
    reports = []
    usage = {"choices": [], "usage": {"total_tokens": 42}}
    relay = Relay([chunk("a")], iter([chunk("b"), usage]),
                  lambda *args: reports.append(args))

    assert len(list(relay)) == 3
    assert reports == [(None, 42, True)]


# Through the router, with a scripted dispatcher


def streaming_kit(**settings):
    models = [deployment("g", "a"), deployment("h", "b")]
    settings.setdefault("num_retries", 0)
    return make_kit(models, fallbacks=[{"g": ["h"]}], **settings)


@pytest.mark.parametrize("primary", [
    pytest.param(fail(429), id="http-429"),
    pytest.param(failing_after([], errors.ServiceUnavailable("Overloaded")),
                 id="first-event-is-an-error"),
    pytest.param(failing_after([chunk("", role=True)], errors.RateLimited("slow")),
                 id="error-after-the-role-opener"),
    pytest.param([chunk("", role=True)], id="ends-before-content"),
    pytest.param([], id="empty"),
])
def test_a_stream_failing_before_content_falls_back(primary):
    kit = streaming_kit()
    kit.dispatcher.script("a", primary)
    kit.dispatcher.script("b", stream_ok("from-b"))

    served = kit.ask(stream=True)
    events = list(served.chunks)

    assert kit.dispatcher.models() == ["a", "b"]
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) \
        == "from-b"
    assert served.headers["x-litellm-model-id"] == "b"
    assert served.headers["x-litellm-attempted-fallbacks"] == "1"


def test_a_stream_ending_before_content_without_fallbacks_is_a_502():
    kit = make_kit([deployment("g", "a")], num_retries=0)
    kit.dispatcher.script("a", [chunk("", role=True)])

    error = kit.error(stream=True)

    assert error.status == 502


def test_a_stream_failing_before_content_is_retried():
    kit = make_kit([deployment("g", "a")], num_retries=1)
    kit.dispatcher.script("a", failing_after([], errors.RateLimited("slow")),
                          stream_ok("second"))

    served = kit.ask(stream=True)

    assert len(list(served.chunks)) == 3
    assert served.headers["x-litellm-attempted-retries"] == "1"


def test_a_mid_stream_failure_ends_with_the_error_object_and_no_fallback():
    kit = streaming_kit()
    kit.dispatcher.script("a", failing_after(
        [chunk("", role=True), chunk("par")],
        errors.UpstreamTimeout("The upstream stalled longer than the timeout.")))

    events = list(kit.ask(stream=True).chunks)

    assert events[1] == chunk("par")
    assert events[-1] == {"error": {
        "message": "The upstream stalled longer than the timeout.",
        "type": "timeout", "param": None, "code": None}}
    assert not any(c.get("finish_reason") for e in events[:-1]
                   for c in e.get("choices", []))
    assert kit.dispatcher.models() == ["a"]


def test_a_stream_keeps_its_in_flight_count_until_it_ends():
    kit = make_kit([deployment("g", "a")], routing_strategy="least-busy")
    kit.dispatcher.script("a", stream_ok())

    served = kit.ask(stream=True)
    assert kit.state.in_flight("a") == 1
    next(served.chunks)
    served.chunks.close()  # the client went away

    assert kit.state.in_flight("a") == 0
