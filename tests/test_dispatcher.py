"""The dispatcher's transport rules (no environment proxies, no redirects, no
retries underneath the router, the offline mock path) and its clock: answers
cut at their timeouts and stream bounds, against loopback fakes."""

from __future__ import annotations

import random
import time

import pytest

from app import config, errors, schemas
from app.dispatcher import Dispatcher, Target, Timeouts
from app.gate import Gate
from app.providers.base import Call
from app.router import Router
from app.settings import Limits
from app.state import InProcessState
from tests.fakes import FakeUpstream, chat_ok, openai_error, sse_ok
from tests.gateway_proc import free_port

TIMEOUTS = Timeouts(total=5, stream=5)


def chat_call(base: str, **extra) -> Call:
    return Call(endpoint="chat", provider="openai", model="m",
                body={"messages": [{"role": "user", "content": "hi"}]},
                api_base=base, api_key="sk-test", requested_model="m", **extra)


def test_environment_proxies_are_never_used(monkeypatch):
    with FakeUpstream("UP") as upstream, FakeUpstream("PROXY") as proxy:
        upstream.script({"json": chat_ok("ok-direct")})
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.base)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        answer = Dispatcher().send(chat_call(f"{upstream.base}/v1"), Target(), TIMEOUTS)
        assert answer["choices"][0]["message"]["content"] == "ok-direct"
        assert proxy.calls == [] and len(upstream.calls) == 1


def test_redirects_are_not_followed():
    with FakeUpstream("UP") as upstream, FakeUpstream("ELSEWHERE") as elsewhere:
        upstream.script({"status": 307, "headers": {
            "Location": f"{elsewhere.base}/v1/chat/completions"}, "body": b""})
        with pytest.raises(errors.BadGateway, match="redirect"):
            Dispatcher().send(chat_call(f"{upstream.base}/v1"), Target(), TIMEOUTS)
        assert elsewhere.calls == []


def test_one_send_is_one_attempt_even_on_failure():
    with FakeUpstream("UP") as upstream:
        upstream.script({"status": 503, "json": {"error": {"message": "busy"}}})
        with pytest.raises(errors.ServiceUnavailable):
            Dispatcher().send(chat_call(f"{upstream.base}/v1"), Target(), TIMEOUTS)
        assert len(upstream.calls) == 1


def test_refused_connection_is_a_502():
    with FakeUpstream("GONE") as gone:
        base = f"{gone.base}/v1"
    with pytest.raises(errors.BadGateway):
        Dispatcher().send(chat_call(base), Target(), Timeouts(total=2, stream=2))


def test_mock_response_answers_without_any_exchange():
    call = chat_call("http://127.0.0.1:9/v1", mock_response="mocked")
    answer = Dispatcher().send(call, Target(), TIMEOUTS)
    assert answer["choices"][0]["message"]["content"] == "mocked"


@pytest.mark.parametrize("pool_size, discards", [(3, False), (1, True)])
def test_a_pool_as_large_as_the_concurrency_keeps_every_connection(
        pool_size, discards, caplog):
    """Streams held at once return their connections to the pool when they
    end; a pool smaller than that closes the extras, with a warning each."""
    import threading

    with FakeUpstream("UP") as upstream:
        upstream.script({"sse": sse_ok("ok"), "chunk_interval_s": 0.05})
        dispatcher = Dispatcher(pool_size=pool_size)
        call = chat_call(f"{upstream.base}/v1", stream=True)
        streams = [dispatcher.send(call, Target(), TIMEOUTS) for _ in range(3)]
        readers = [threading.Thread(target=list, args=(s,)) for s in streams]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(5)
    assert ("Connection pool is full" in caplog.text) is discards


def test_the_gateway_pools_as_many_connections_as_a_worker_holds(monkeypatch):
    from app.gateway import Gateway
    from app.settings import GatewayConfig

    monkeypatch.setenv("GATEWAY_WORKER_CONNECTIONS", "7")
    adapter = Gateway(GatewayConfig()).dispatcher.session.get_adapter("http://x")
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 7


def test_a_sent_body_is_not_kept_for_the_life_of_the_answer():
    """A stream's answer lives as long as the stream: its request must not
    keep the serialised prompt (measured: 100 KB held per 20 KB prompt)."""
    from app import providers

    with FakeUpstream("UP") as upstream:
        upstream.script({"sse": sse_ok("ok"), "chunk_interval_s": 0.01})
        call = chat_call(f"{upstream.base}/v1", stream=True)
        dispatcher = Dispatcher()
        response = dispatcher.exchange(providers.adapter_for("openai"), call,
                                       Target(), TIMEOUTS)
        try:
            assert response.request.body is None
            sent = upstream.wait_for_calls(1)[0].json
            assert sent["messages"] == call.body["messages"]
        finally:
            response.close()


# The clock


CONTENT = ('{"id":"c","object":"chat.completion.chunk","created":0,"model":"m",'
           '"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}')
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def dispatcher():
    return Dispatcher(pool_size=4)


def call_to(base: str, stream: bool = False) -> Call:
    return Call(endpoint="chat", provider="openai", model="m",
                body={"messages": MESSAGES}, stream=stream,
                api_base=f"{base}/v1", api_key="sk-test-SECRET")


def timed(action):
    started = time.monotonic()
    try:
        return action(), time.monotonic() - started
    except errors.GatewayError as error:
        return error, time.monotonic() - started


def test_a_trickling_answer_is_cut_at_its_timeout(dispatcher, fake_upstream):
    fake_upstream.script({"raw_chunks": [b"{"] + [b" "] * 30 + [b"}"],
                          "chunk_interval_s": 0.2,
                          "headers": {"Content-Type": "application/json"}})

    error, elapsed = timed(lambda: dispatcher.send(
        call_to(fake_upstream.base), Target(), Timeouts(total=1.0, stream=1.0)))

    assert isinstance(error, errors.UpstreamTimeout)
    assert error.status == 504
    assert 0.9 <= elapsed < 1.4


def test_an_answer_within_its_timeout_is_read_whole(dispatcher, fake_upstream):
    body = b'{"id":"x","object":"chat.completion","choices":[]}'
    fake_upstream.script({"raw_chunks": [body[:10], body[10:]],
                          "chunk_interval_s": 0.1,
                          "headers": {"Content-Type": "application/json"}})

    answer = dispatcher.send(call_to(fake_upstream.base), Target(),
                             Timeouts(total=2.0, stream=2.0))

    assert answer["id"] == "x"


def test_headers_that_never_come_time_out(dispatcher, fake_upstream):
    fake_upstream.script({"hang": True})

    error, elapsed = timed(lambda: dispatcher.send(
        call_to(fake_upstream.base), Target(), Timeouts(total=0.5, stream=0.5)))

    assert isinstance(error, errors.UpstreamTimeout)
    assert 0.4 <= elapsed < 1.0


def open_first(dispatcher, base, timeouts):
    chunks = dispatcher.send(call_to(base, stream=True), Target(), timeouts)
    return next(chunks)


@pytest.mark.parametrize("reply", [
    pytest.param({"hang": True}, id="no-headers"),
    pytest.param({"raw_chunks": [b": opening\n\n", f"data: {CONTENT}\n\n".encode()],
                  "chunk_interval_s": 3.0}, id="headers-then-silence"),
    pytest.param({"raw_chunks": [b": keep-alive\n\n"] * 20 + [
        f"data: {CONTENT}\n\n".encode()], "chunk_interval_s": 0.2},
        id="keep-alive-comments-only"),
])
def test_a_streams_first_event_is_due_within_first_byte(dispatcher, fake_upstream,
                                                         reply):
    fake_upstream.script(reply)

    error, elapsed = timed(lambda: open_first(
        dispatcher, fake_upstream.base, Timeouts(total=9, stream=9, first_byte=1.0)))

    assert isinstance(error, errors.UpstreamTimeout)
    assert 0.9 <= elapsed < 1.5


def test_a_stream_gap_longer_than_stream_timeout_ends_it(dispatcher, fake_upstream):
    fake_upstream.script({"sse": [CONTENT, CONTENT], "stall_after_chunks": 1})
    chunks = dispatcher.send(call_to(fake_upstream.base, stream=True), Target(),
                             Timeouts(total=9, stream=0.6, first_byte=5))

    first = next(chunks)
    started = time.monotonic()
    with pytest.raises(errors.UpstreamTimeout):
        next(chunks)

    assert first["choices"][0]["delta"]["content"] == "hi"
    assert 0.5 <= time.monotonic() - started < 1.1


def test_slow_but_steady_streams_are_not_cut(dispatcher, fake_upstream):
    fake_upstream.script({"sse": sse_ok("steady", parts=4), "chunk_interval_s": 0.2})

    # 7 events 0.2 s apart: longer than ``total`` in all, never a gap of 0.6 s
    chunks = list(dispatcher.send(call_to(fake_upstream.base, stream=True), Target(),
                                  Timeouts(total=1, stream=0.6, first_byte=1)))

    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) \
        == "steady"


def test_a_stream_cut_off_mid_way_is_a_502(dispatcher, fake_upstream):
    fake_upstream.script({"sse": [CONTENT, CONTENT, CONTENT], "close_after_chunks": 1})
    chunks = dispatcher.send(call_to(fake_upstream.base, stream=True), Target(),
                             Timeouts(total=5, stream=5))

    next(chunks)
    with pytest.raises(errors.BadGateway):
        list(chunks)


# Exactly N + 1 attempts


def real_router(base: str, retries: int) -> Router:
    built = config.build({
        "model_list": [{"model_name": "g", "litellm_params": {
            "model": "openai/m", "api_base": f"{base}/v1", "api_key": "sk-x",
            "timeout": 0.5}}],
        "router_settings": {"num_retries": retries, "allowed_fails": 100,
                            "retry_after": 0}})
    return Router(built.deployments, built.router, gate=Gate(built.urls),
                  dispatcher=Dispatcher(pool_size=4), state=InProcessState(),
                  sleep=lambda seconds: None, rng=random.Random(1))


def serve(router: Router, **body) -> errors.GatewayError:
    request = schemas.parse("chat", {"model": "g", "messages": MESSAGES, **body},
                            Limits())
    with pytest.raises(errors.GatewayError) as caught:
        router.serve(request)
    return caught.value


@pytest.mark.parametrize("retries", [0, 1, 3])
@pytest.mark.parametrize("reply", [
    pytest.param(openai_error(500, "boom", "server_error"), id="500"),
    pytest.param(openai_error(429, "slow", "requests"), id="429"),
    pytest.param({"hang": True}, id="timeout"),
    pytest.param({"sse": [CONTENT] * 3, "close_after_chunks": 0,
                  "headers": {"Content-Type": "application/json"}},
                 id="dropped-connection"),
])
def test_n_retries_make_exactly_n_plus_one_upstream_calls(fake_upstream, retries,
                                                           reply):
    fake_upstream.script(reply)

    serve(real_router(fake_upstream.base, retries))

    assert len(fake_upstream.wait_for_calls(retries + 1, timeout=1)) == retries + 1


@pytest.mark.parametrize("retries", [0, 2])
def test_n_retries_make_exactly_n_plus_one_connections_when_refused(network_spy,
                                                                    retries):
    port = free_port()  # nothing listens here
    router = real_router(f"http://127.0.0.1:{port}", retries)

    error = serve(router)

    assert error.status == 502
    assert network_spy.connects.count(("127.0.0.1", port)) == retries + 1


def test_a_retry_after_success_reads_the_answer(fake_upstream):
    fake_upstream.script(openai_error(503, "busy", "server_error"),
                         {"json": chat_ok("second")})
    router = real_router(fake_upstream.base, 1)
    request = schemas.parse("chat", {"model": "g", "messages": MESSAGES}, Limits())

    served = router.serve(request)

    assert served.body["choices"][0]["message"]["content"] == "second"
    assert len(fake_upstream.calls) == 2
