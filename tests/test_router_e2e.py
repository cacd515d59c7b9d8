"""The router end to end: real gunicorn (one worker, so state is shared), the
OpenAI SDK as the client, loopback fakes as the upstreams."""

from __future__ import annotations

import time

import openai
import pytest

from tests.fakes import chat_ok, openai_error, sse_ok

KEY = "sk-proxy-test"
MESSAGES = [{"role": "user", "content": "hi"}]
COOLDOWN_S = 1.5


def answer(text: str):
    """A reply that streams when the request asks for a stream."""
    def reply(call):
        if call.json.get("stream"):
            return {"sse": sse_ok(text)}
        return {"json": chat_ok(text)}
    return reply


@pytest.fixture
def upstreams(fake_upstream_factory):
    bad, good, solo = (fake_upstream_factory(name) for name in ("BAD", "GOOD", "SOLO"))
    bad.script(openai_error(500, "always broken", "server_error"))
    solo.script(openai_error(503, "always busy", "server_error"))
    good.script(answer("ok-from-GOOD"))
    return bad, good, solo


def entry(group, fake, model, **params):
    params = {"model": f"openai/{model}", "api_base": f"{fake.base}/v1",
              "api_key": f"sk-admin-{model}-SECRET", **params}
    return {"model_name": group, "litellm_params": params,
            "model_info": {"id": f"dep-{model}"}}


@pytest.fixture
def client(upstreams, make_gateway):
    bad, good, solo = upstreams
    gateway = make_gateway({
        "model_list": [entry("chat", bad, "bad", order=1),
                       entry("chat", good, "good", order=2),
                       entry("solo", solo, "solo")],
        "router_settings": {"num_retries": 1, "allowed_fails": 1,
                            "cooldown_time": COOLDOWN_S,
                            "fallbacks": [{"solo": ["chat"]}]},
        "general_settings": {"master_key": KEY},
    }, workers=1)
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0,
                        timeout=10)
    sdk.gateway = gateway
    yield sdk
    sdk.close()  # open keep-alive connections would hold the worker's shutdown


def ask(client, model="chat", **options):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, **options)
    return raw.headers, raw.parse()


def test_a_failing_deployment_is_skipped_while_it_cools_down(client, upstreams):
    bad, good, _ = upstreams

    # allowed_fails = 1: the first failure is allowed, the second cools it
    for expected_bad_calls in (1, 2):
        headers, completion = ask(client)
        assert completion.choices[0].message.content == "ok-from-GOOD"
        assert headers["x-litellm-model-id"] == "dep-good"
        assert headers["x-litellm-attempted-retries"] == "1"
        assert headers["x-litellm-attempted-fallbacks"] == "0"
        assert len(bad.calls) == expected_bad_calls
    cooled_at = time.monotonic()

    for _ in range(3):
        headers, _ = ask(client)
        assert headers["x-litellm-attempted-retries"] == "0"
        assert headers["x-litellm-model-id"] == "dep-good"
    assert len(bad.calls) == 2
    assert time.monotonic() - cooled_at < COOLDOWN_S  # still within the cooldown

    time.sleep(max(0.0, cooled_at + COOLDOWN_S + 0.2 - time.monotonic()))
    headers, _ = ask(client)  # back by itself; it fails, so it cools again
    assert len(bad.calls) == 3
    assert headers["x-litellm-attempted-retries"] == "1"
    ask(client)
    assert len(bad.calls) == 3
    assert len(good.calls) == 7


def test_headers_report_retries_and_fallbacks(client, upstreams):
    bad, good, solo = upstreams

    headers, completion = ask(client, model="solo")

    assert completion.choices[0].message.content == "ok-from-GOOD"
    assert len(solo.calls) == 2  # one retry, then the fallback group
    assert headers["x-litellm-model-group"] == "chat"
    assert headers["x-litellm-model-id"] == "dep-good"
    assert headers["x-litellm-model-api-base"] == good.base
    assert headers["x-litellm-attempted-retries"] == "2"  # solo once, bad once
    assert headers["x-litellm-attempted-fallbacks"] == "1"
    assert headers["x-litellm-overhead-duration-ms"]


def test_a_stream_falls_back_before_its_first_byte(client, upstreams):
    _, good, solo = upstreams

    raw = client.chat.completions.with_raw_response.create(
        model="solo", messages=MESSAGES, stream=True)
    text = "".join(chunk.choices[0].delta.content or ""
                   for chunk in raw.parse() if chunk.choices)

    assert text == "ok-from-GOOD"
    assert raw.headers["x-litellm-attempted-fallbacks"] == "1"
    assert raw.headers["x-litellm-model-id"] == "dep-good"
    assert good.calls[-1].json["stream"] is True


def test_errors_carry_the_headers_and_the_log_one_line_per_attempt(client,
                                                                   upstreams):
    _, _, solo = upstreams

    with pytest.raises(openai.InternalServerError) as caught:
        ask(client, model="solo", extra_body={"fallbacks": []})

    response = caught.value.response
    assert response.status_code == 503
    assert response.headers["x-litellm-model-id"] == "dep-solo"
    assert response.headers["x-litellm-attempted-retries"] == "1"
    assert response.headers["x-litellm-attempted-fallbacks"] == "0"
    assert response.headers["Retry-After"]
    assert caught.value.body["message"] == "always busy"
    request_id = response.headers["x-request-id"]
    log = client.gateway.log_text()
    lines = [line for line in log.splitlines() if f"[{request_id}]" in line
             and " attempt " in line]
    assert len(lines) == 2
    assert all("group=solo deployment=dep-solo outcome=ServiceUnavailable "
               "status=503 latency_ms=" in line for line in lines)
    assert "SECRET" not in log
