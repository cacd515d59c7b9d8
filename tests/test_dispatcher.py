"""The dispatcher's transport rules: no environment proxies, no redirects,
no retries underneath the router, and the offline mock path."""

from __future__ import annotations

import pytest

from app import errors
from app.dispatcher import Dispatcher, Target, Timeouts
from app.providers.base import Call
from tests.fakes import FakeUpstream, chat_ok

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
