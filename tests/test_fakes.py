"""The fake upstream does what the end-to-end tests will rely on."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.fakes import Call, FakeUpstream, chat_ok, openai_error, sse_ok

CHAT = "/v1/chat/completions"


def post(fake: FakeUpstream, path: str = CHAT, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("json", {"model": "m"})
    kwargs.setdefault("timeout", 5)
    return requests.post(fake.base + path, **kwargs)


def open_stream(fake: FakeUpstream, timeout: float = 5.0) -> http.client.HTTPResponse:
    """Send a chat request on a raw connection and return the response unread."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    conn.request(
        "POST",
        CHAT,
        body=b'{"stream": true}',
        headers={"Content-Type": "application/json"},
    )
    return conn.getresponse()


def test_default_reply_is_a_chat_completion_naming_the_fake(
    fake_upstream_factory: Callable[..., FakeUpstream],
) -> None:
    fake = fake_upstream_factory("A")
    body = post(fake).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "ok-from-A"


def test_script_is_served_in_order_and_the_last_reply_repeats(
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.script(
        openai_error(429, "slow down", "requests", "rate_limit_exceeded"),
        {"status": 503, "json": {"error": {"message": "busy"}}},
        {"json": chat_ok("third")},
    )
    statuses = [post(fake_upstream).status_code for _ in range(5)]
    assert statuses == [429, 503, 200, 200, 200]
    assert post(fake_upstream).json()["choices"][0]["message"]["content"] == "third"


def test_path_scripts_take_the_longest_suffix_and_others_use_the_default(
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.script({"status": 418})
    fake_upstream.script_path("/completions", {"status": 201})
    fake_upstream.script_path("/chat/completions", {"status": 202})
    assert post(fake_upstream, "/v1/chat/completions").status_code == 202
    assert post(fake_upstream, "/v1/completions").status_code == 201
    assert post(fake_upstream, "/v1/embeddings").status_code == 418


def test_case_sentinels_name_the_fake(
    fake_upstream_factory: Callable[..., FakeUpstream],
) -> None:
    fake = fake_upstream_factory("B")
    fake.script({"json": "CHAT_OK"}, {"sse": "SSE_OK"})
    assert "ok-from-B" in post(fake).text
    assert post(fake).text.endswith("data: [DONE]\n\n")


def test_a_callable_reply_sees_the_call(fake_upstream: FakeUpstream) -> None:
    def echo_model(call: Call) -> dict[str, object]:
        return {"json": chat_ok(f"model was {call.json['model']}")}

    fake_upstream.script(echo_model)
    assert "model was m1" in post(fake_upstream, json={"model": "m1"}).text
    assert "model was m2" in post(fake_upstream, json={"model": "m2"}).text


def test_a_script_that_raises_answers_500(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(lambda call: 1 / 0)
    reply = post(fake_upstream)
    assert reply.status_code == 500
    assert "ZeroDivisionError" in reply.text


def test_requests_are_recorded(fake_upstream: FakeUpstream) -> None:
    post(
        fake_upstream,
        "/v1/chat/completions?api-version=1&tag=a&tag=b",
        json={"model": "m", "stream": False},
        headers={"Authorization": "Bearer sk-x", "X-Extra": "1"},
    )
    call = fake_upstream.calls[0]
    assert (call.method, call.path) == ("POST", "/v1/chat/completions")
    assert call.query == {"api-version": ["1"], "tag": ["a", "b"]}
    assert call.headers["authorization"] == "Bearer sk-x"
    assert call.headers.get("x-EXTRA") == "1" and "X-Missing" not in call.headers
    assert call.json == {"model": "m", "stream": False}
    assert call.body == b'{"model": "m", "stream": false}'
    assert call.status == 200 and call.completed and not call.stream_closed


def test_odd_bodies_are_recorded_raw(fake_upstream: FakeUpstream) -> None:
    post(fake_upstream, json=None, data=b"{not json")
    post(fake_upstream, json=None, data=iter([b'{"a":', b" 1}"]))  # chunked
    bad, chunked = fake_upstream.calls
    assert (bad.body, bad.json) == (b"{not json", None)
    assert chunked.json == {"a": 1}
    assert "chunked" in chunked.headers["transfer-encoding"]


def test_calls_to_and_reset(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script({"status": 201}, {"status": 202})
    post(fake_upstream, "/v1/embeddings")
    fake_upstream.reset()
    post(fake_upstream)
    assert [c.path for c in fake_upstream.calls] == [CHAT]
    assert fake_upstream.calls[0].status == 202
    assert fake_upstream.calls_to("/embeddings") == []


def test_keep_alive_reuses_one_connection(fake_upstream: FakeUpstream) -> None:
    with requests.Session() as session:
        for _ in range(3):
            session.post(fake_upstream.base + CHAT, json={}, timeout=5)
    assert len({call.peer_port for call in fake_upstream.calls}) == 1


def test_concurrent_connections_are_served_together(
    fake_upstream_factory: Callable[..., FakeUpstream],
) -> None:
    fake = fake_upstream_factory(latency_s=0.3)
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(post(fake).status_code))
        for _ in range(40)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert statuses == [200] * 40
    assert time.monotonic() - started < 2.0


def test_keep_calls_off_serves_without_recording(
    fake_upstream_factory: Callable[..., FakeUpstream],
) -> None:
    fake = fake_upstream_factory(keep_calls=False)
    assert post(fake).status_code == 200
    assert fake.calls == []


def test_delay_holds_the_status_line(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script({"delay_s": 0.3})
    started = time.monotonic()
    assert post(fake_upstream).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_sse_events_arrive_one_at_a_time(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script({"sse": sse_ok("abcd", parts=4), "chunk_interval_s": 0.1})
    reply = post(fake_upstream, stream=True)
    assert reply.headers["Content-Type"] == "text/event-stream"
    arrivals = [(time.monotonic(), chunk) for chunk in reply.iter_content(None)]

    call = fake_upstream.calls[0]
    assert call.chunks_sent == 7 and call.completed
    assert arrivals[0][0] < call.chunk_times[-1] - 0.4
    assert arrivals[0][1].startswith(b"data: {") and arrivals[0][1].endswith(b"\n\n")
    assert b"".join(chunk for _, chunk in arrivals).endswith(b"data: [DONE]\n\n")


def test_raw_chunks_are_sent_as_they_are(fake_upstream: FakeUpstream) -> None:
    frames = [b"\x00\x00\x00\x10binary", b"\xff\xfe tail"]
    fake_upstream.script(
        {"raw_chunks": frames, "headers": {"Content-Type": "application/vnd.test"}}
    )
    reply = post(fake_upstream, stream=True)
    assert reply.headers["Content-Type"] == "application/vnd.test"
    assert reply.content == b"".join(frames)


def test_hang_answers_nothing_and_does_not_block_close() -> None:
    fake = FakeUpstream()
    fake.script({"hang": True})
    with pytest.raises(requests.Timeout):
        post(fake, timeout=0.3)
    errors: list[Exception] = []
    waiter = threading.Thread(target=lambda: _expect_error(fake, errors))
    waiter.start()
    fake.wait_for_calls(2)

    started = time.monotonic()
    fake.close()
    waiter.join(5)
    assert time.monotonic() - started < 1.0
    assert len(errors) == 1 and not waiter.is_alive()


def _expect_error(fake: FakeUpstream, errors: list[Exception]) -> None:
    try:
        post(fake, timeout=30)
    except requests.RequestException as exc:
        errors.append(exc)


def test_stall_goes_silent_without_closing(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script({"sse": sse_ok(), "stall_after_chunks": 2})
    reply = open_stream(fake_upstream, timeout=0.5)
    received = b""
    for _ in range(10):
        if received.count(b"data: ") == 2 and received.endswith(b"\n\n"):
            break
        received += reply.read1(65536)
    assert received.count(b"data: ") == 2
    with pytest.raises(TimeoutError):
        reply.read1(65536)
    assert fake_upstream.calls[0].chunks_sent == 2


def test_close_after_chunks_drops_the_connection(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script({"sse": sse_ok(), "close_after_chunks": 2})
    reply = post(fake_upstream, stream=True)
    received: list[bytes] = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        received.extend(reply.iter_content(None))
    assert b"".join(received).count(b"data: ") == 2
    assert not fake_upstream.calls[0].completed


@pytest.mark.parametrize(
    "reply",
    [
        {"sse": sse_ok("abcdefgh", parts=8), "chunk_interval_s": 0.2},
        {"sse": sse_ok(), "stall_after_chunks": 1},
        {"sse": sse_ok(), "delay_s": 30},
        {"hang": True},
    ],
    ids=["between-events", "stalled", "delayed", "hanging"],
)
def test_client_disconnect_is_detected(
    fake_upstream: FakeUpstream, reply: dict[str, object]
) -> None:
    fake_upstream.script(reply)
    conn = socket.create_connection(("127.0.0.1", fake_upstream.port), timeout=5)
    conn.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    )
    call = fake_upstream.wait_for_calls(1)[0]
    time.sleep(0.2)
    conn.close()

    assert call.wait_ended(3.0)
    assert call.stream_closed and not call.completed
    assert call.chunks_sent < 8


def test_a_finished_stream_is_not_marked_closed(fake_upstream: FakeUpstream) -> None:
    fake_upstream.script({"sse": sse_ok()})
    assert post(fake_upstream, stream=True).content.endswith(b"[DONE]\n\n")
    call = fake_upstream.calls[0]
    assert call.wait_ended(2.0) and call.completed and not call.stream_closed


def test_only_loopback_hosts_are_accepted() -> None:
    with pytest.raises(ValueError):
        FakeUpstream(host="0.0.0.0")


def test_ipv6_loopback_when_available() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        fake = FakeUpstream(host="::1")
    except OSError:
        pytest.skip("::1 is not configured")
    with fake:
        assert fake.host_port == f"[::1]:{fake.port}"
        assert post(fake).status_code == 200
