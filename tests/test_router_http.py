"""The router behind the real routes and dispatcher, in-process, against
loopback fakes: streams failing over before the first byte, an error event
after it, and the transparency headers on every answer."""

from __future__ import annotations

import logging

import orjson
import pytest

from app import create_app
from app.config import build
from tests.fakes import openai_error, sse_ok

KEY = "sk-proxy-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
HEADERS = ("x-litellm-model-id", "x-litellm-model-group", "x-litellm-model-api-base",
           "x-litellm-attempted-retries", "x-litellm-attempted-fallbacks")
ROLE = ('{"id":"c","object":"chat.completion.chunk","created":0,"model":"p",'
        '"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        '"finish_reason":null}]}')
PART = ('{"id":"c","object":"chat.completion.chunk","created":0,"model":"p",'
        '"choices":[{"index":0,"delta":{"content":"par"},"finish_reason":null}]}')


@pytest.fixture
def fakes(fake_upstream_factory):
    return fake_upstream_factory("A"), fake_upstream_factory("B")


def app_for(fakes, **router_settings):
    a, b = fakes
    router_settings.setdefault("num_retries", 0)
    config = build({
        "model_list": [
            {"model_name": "primary", "litellm_params": {
                "model": "openai/p", "api_base": f"{a.base}/v1",
                "api_key": "sk-admin-A-SECRET", "stream_timeout": 1},
             "model_info": {"id": "dep-a"}},
            {"model_name": "backup", "litellm_params": {
                "model": "openai/b", "api_base": f"{b.base}/v1",
                "api_key": "sk-admin-B-SECRET"},
             "model_info": {"id": "dep-b"}},
        ],
        "router_settings": {"fallbacks": [{"primary": ["backup"]}],
                            **router_settings},
        "general_settings": {"master_key": KEY},
    })
    return create_app(config=config).test_client()


def post(client, stream=True, **body):
    body = {"model": "primary", "messages": [{"role": "user", "content": "hi"}],
            "stream": stream, **body}
    return client.post("/v1/chat/completions", json=body, headers=AUTH)


def sse_payloads(response) -> list[str]:
    text = response.get_data(as_text=True)
    return [line[len("data: "):] for line in text.split("\n\n") if line]


def streamed_text(payloads: list[str]) -> str:
    chunks = [orjson.loads(p) for p in payloads if p != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in chunks if c.get("choices"))


@pytest.mark.parametrize("primary", [
    pytest.param(openai_error(429, "rate limited", "requests"), id="http-429"),
    pytest.param({"sse": ['{"error":{"message":"Overloaded","type":"overloaded_error",'
                          '"param":null,"code":529}}']}, id="first-event-error"),
    pytest.param({"sse": [ROLE, "[DONE]"]}, id="ends-before-content"),
    pytest.param({"sse": [ROLE], "stall_after_chunks": 1}, id="silent-after-opener"),
    pytest.param({"hang": True}, id="no-answer"),
])
def test_a_stream_failing_before_content_falls_back_whole(fakes, primary):
    a, b = fakes
    a.script(primary)
    b.script({"sse": sse_ok("ok-from-B")})

    response = post(app_for(fakes))
    payloads = sse_payloads(response)

    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert streamed_text(payloads) == "ok-from-B"
    assert payloads[-1] == "[DONE]"
    assert "Overloaded" not in response.get_data(as_text=True)
    assert response.headers["x-litellm-model-id"] == "dep-b"
    assert response.headers["x-litellm-attempted-fallbacks"] == "1"
    assert len(a.calls) == 1 and len(b.calls) == 1
    assert b.calls[0].json["stream"] is True


def test_a_stream_ending_before_content_without_fallback_is_a_502(fakes):
    a, _ = fakes
    a.script({"sse": [ROLE, "[DONE]"]})

    response = post(app_for(fakes), fallbacks=[])

    assert response.status_code == 502
    assert response.json["error"]["type"] == "api_error"


def test_a_mid_stream_failure_ends_with_an_error_event_and_no_done(fakes):
    a, b = fakes
    a.script({"sse": [ROLE, PART], "stall_after_chunks": 2})

    response = post(app_for(fakes))
    payloads = sse_payloads(response)

    assert response.status_code == 200
    assert streamed_text(payloads[:-1]) == "par"
    assert orjson.loads(payloads[-1])["error"]["type"] == "timeout"
    assert "[DONE]" not in payloads
    assert '"finish_reason":"stop"' not in response.get_data(as_text=True)
    assert b.calls == []


def test_a_stream_cut_off_mid_way_ends_with_an_error_event(fakes):
    a, _ = fakes
    a.script({"sse": [ROLE, PART, PART], "close_after_chunks": 2})

    payloads = sse_payloads(post(app_for(fakes)))

    assert orjson.loads(payloads[-1])["error"]["type"] == "api_error"
    assert "[DONE]" not in payloads


def test_headers_on_a_streamed_success(fakes):
    a, _ = fakes
    a.script({"sse": sse_ok("ok-from-A")})

    response = post(app_for(fakes))

    assert {h: response.headers[h] for h in HEADERS} == {
        "x-litellm-model-id": "dep-a",
        "x-litellm-model-group": "primary",
        "x-litellm-model-api-base": a.base,
        "x-litellm-attempted-retries": "0",
        "x-litellm-attempted-fallbacks": "0",
    }


def test_headers_on_a_plain_success_after_retry_and_fallback(fakes):
    a, b = fakes
    a.script(openai_error(500, "boom", "server_error"))

    response = post(app_for(fakes, num_retries=1, allowed_fails=100), stream=False)

    assert response.status_code == 200
    assert response.json["choices"][0]["message"]["content"] == "ok-from-B"
    assert response.headers["x-litellm-model-id"] == "dep-b"
    assert response.headers["x-litellm-model-group"] == "backup"
    assert response.headers["x-litellm-model-api-base"] == b.base
    assert response.headers["x-litellm-attempted-retries"] == "1"
    assert response.headers["x-litellm-attempted-fallbacks"] == "1"


def test_headers_on_an_error(fakes):
    a, b = fakes
    a.script(openai_error(503, "busy", "server_error"))
    b.script(openai_error(429, "slow", "requests"))

    response = post(app_for(fakes), stream=False)

    assert response.status_code == 503
    assert response.json["error"]["message"] == "busy"
    assert response.headers["Retry-After"]
    assert response.headers["x-litellm-model-id"] == "dep-b"
    assert response.headers["x-litellm-model-group"] == "backup"
    assert response.headers["x-litellm-attempted-fallbacks"] == "1"


def test_retry_after_is_passed_on_with_a_429_only(fakes):
    a, _ = fakes
    a.script({"status": 429, "headers": {"retry-after": "7"},
              "json": {"error": {"message": "slow", "type": "requests"}}})
    client = app_for(fakes)

    limited = post(client, stream=False, fallbacks=[])
    a.script({"status": 500, "headers": {"retry-after": "7"},
              "json": {"error": {"message": "boom", "type": "server_error"}}})
    failed = post(client, stream=False, fallbacks=[])

    assert limited.status_code == 429
    assert limited.headers.getlist("Retry-After") == ["7"]
    assert failed.status_code == 500
    assert "Retry-After" not in failed.headers


def test_one_log_line_per_attempt_without_keys(fakes, caplog):
    a, _ = fakes
    a.script(openai_error(500, "boom", "server_error"))

    with caplog.at_level(logging.DEBUG):
        response = post(app_for(fakes, num_retries=1, allowed_fails=100,
                                retry_after=0), stream=False)

    attempts = [r.getMessage() for r in caplog.records
                if r.getMessage().startswith("attempt ")]
    assert response.status_code == 200
    assert [line.split(" latency_ms=")[0] for line in attempts] == [
        "attempt group=primary deployment=dep-a outcome=UpstreamServerError "
        "status=500",
        "attempt group=primary deployment=dep-a outcome=UpstreamServerError "
        "status=500",
        "attempt group=backup deployment=dep-b outcome=success status=200",
    ]
    assert "SECRET" not in caplog.text
    assert not any("SECRET" in value for value in response.headers.values())
