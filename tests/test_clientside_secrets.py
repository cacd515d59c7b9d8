"""No client key, nor the operator's, in a log line, a response body or a
response header, whatever path a request takes: success, a stream, an upstream
error that echoes the key, a refusal, an SSRF refusal, a timeout, an
unreachable upstream, a user_config. The gateway logs at DEBUG under gunicorn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.credentials import REDACTED, fingerprint
from tests.clientside_helpers import MASTER_KEY, Answer, send_json
from tests.fakes import FakeUpstream, chat_ok, sse_ok
from tests.gateway_proc import GatewayProcess, free_port

OPERATOR_KEYS = {name: f"sk-admin-{name.upper()}-SECRET"
                 for name in ("ok", "echo", "stream", "hang", "down", "locked")}


def bearer(call) -> str:
    return call.headers.get("Authorization", "").removeprefix("Bearer ")


def in_kind(call) -> dict:
    """A stream for a stream request, a whole answer otherwise."""
    return {"sse": sse_ok("ok")} if call.json.get("stream") else {"json": chat_ok("ok")}


def echo_key(call) -> dict:
    """What some upstreams do: repeat the refused key in the error message."""
    return {"status": 401, "json": {"error": {
        "message": f"Incorrect API key provided: {bearer(call)}.",
        "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}}


def echo_key_in_stream(call) -> dict:
    first = sse_ok("fine so far")[1]
    error = json.dumps({"error": {"message": f"key {bearer(call)} was revoked",
                                  "type": "invalid_request_error"}})
    return {"sse": [first, error]}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    made = {name: FakeUpstream(name) for name in ("ok", "echo", "stream", "hang")}
    made["ok"].script(in_kind)
    made["echo"].script(echo_key)
    made["stream"].script(echo_key_in_stream)
    made["hang"].script({"hang": True})
    yield made
    for fake in made.values():
        fake.close()


def byok(name: str, base: str) -> dict:
    return {"model_name": f"byok-{name}", "litellm_params": {
        "model": "openai/m", "api_base": base, "api_key": OPERATOR_KEYS[name],
        "configurable_clientside_auth_params": ["api_key"]}}


@pytest.fixture(scope="module")
def gateway(fakes) -> Iterator[GatewayProcess]:
    bases = {name: f"{fake.base}/v1" for name, fake in fakes.items()}
    bases["down"] = f"http://127.0.0.1:{free_port()}/v1"
    model_list = [byok(name, bases[name]) for name in ("ok", "echo", "stream",
                                                        "hang", "down")]
    model_list += [
        {"model_name": "locked", "litellm_params": {
            "model": "openai/m", "api_base": bases["ok"],
            "api_key": OPERATOR_KEYS["locked"]}},
        {"model_name": "fireworks_ai/*", "litellm_params": {
            "model": "fireworks_ai/*", "api_base": bases["ok"],
            "api_key": OPERATOR_KEYS["ok"],
            "configurable_clientside_auth_params": ["api_base"]}},
    ]
    process = GatewayProcess({
        "model_list": model_list,
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "litellm_settings": {"user_url_allowed_hosts": [fakes["echo"].host_port]},
        "general_settings": {"master_key": MASTER_KEY, "allow_user_config": True},
    }, env={"LOG_LEVEL": "DEBUG"})
    process.start()
    yield process
    process.cleanup()


def client_key(path: str) -> str:
    return f"sk-client-{path}-SECRET"


def user_config(base: str, key: str) -> dict:
    return {"model_list": [{"model_name": "mine", "litellm_params": {
        "model": "openai/m", "api_base": base, "api_key": key}}], "num_retries": 0}


def paths(fakes) -> dict[str, tuple[dict, int]]:
    """Each path: the body to send (its key named after the path), the status."""
    echo_base = f"{fakes['echo'].base}/v1"
    return {
        "success": ({"model": "byok-ok", "api_key": client_key("success")}, 200),
        "stream": ({"model": "byok-ok", "stream": True,
                    "api_key": client_key("stream")}, 200),
        "upstream-error": ({"model": "byok-echo",
                            "api_key": client_key("upstream-error")}, 401),
        "operator-echo": ({"model": "byok-echo"}, 401),
        "stream-error": ({"model": "byok-stream", "stream": True,
                          "api_key": client_key("stream-error")}, 200),
        "refusal": ({"model": "locked", "api_key": client_key("refusal")}, 400),
        "ssrf": ({"model": "fireworks_ai/x", "api_key": client_key("ssrf"),
                  "api_base": "http://169.254.169.254/latest/meta-data/"}, 400),
        "bad-form": ({"model": "byok-ok",
                      "api_key": client_key("bad-form") + " trailing"}, 400),
        "timeout": ({"model": "byok-hang", "timeout": 1,
                     "api_key": client_key("timeout")}, 504),
        "unreachable": ({"model": "byok-down", "api_key": client_key("unreachable")},
                        502),
        "client-base": ({"model": "fireworks_ai/x", "api_base": echo_base,
                         "api_key": client_key("client-base")}, 401),
        "user-config": ({"model": "mine", "user_config": user_config(
            echo_base, client_key("user-config"))}, 401),
    }


@pytest.fixture(scope="module")
def answers(gateway, fakes) -> dict[str, Answer]:
    found = {}
    for path, (body, _) in paths(fakes).items():
        messages = [{"role": "user", "content": "hi"}]
        found[path] = send_json(gateway.url, {"messages": messages, **body})
    return found


ALL_SECRETS = [client_key(path) for path in (
    "success", "stream", "upstream-error", "stream-error", "refusal", "ssrf",
    "bad-form", "timeout", "unreachable", "client-base", "user-config")]
ALL_SECRETS += list(OPERATOR_KEYS.values())


def test_each_path_gave_its_expected_answer(answers, fakes):
    for path, (_, status) in paths(fakes).items():
        assert answers[path].status == status, (path, answers[path].text)


def test_the_upstream_really_echoed_the_keys_and_the_gateway_redacted_them(
        answers, fakes):
    seen = {bearer(call) for call in fakes["echo"].calls}
    assert {client_key("upstream-error"), OPERATOR_KEYS["echo"],
            client_key("client-base"), client_key("user-config")} <= seen
    for path in ("upstream-error", "operator-echo", "client-base", "user-config"):
        message = answers[path].json["error"]["message"]
        assert message == f"Incorrect API key provided: {REDACTED}.", path
    stream_error = answers["stream-error"].text
    assert f"key {REDACTED} was revoked" in stream_error
    assert "data: [DONE]" not in stream_error


@pytest.mark.parametrize("secret", ALL_SECRETS)
def test_no_secret_in_a_body_or_a_header(secret, answers):
    for path, answer in answers.items():
        assert secret not in answer.text, path
        assert secret not in json.dumps(answer.headers), path


@pytest.mark.parametrize("secret", ALL_SECRETS)
def test_no_secret_in_the_log(secret, answers, gateway):
    assert secret not in gateway.log_text()


def test_the_log_tells_keys_apart_by_fingerprint(answers, gateway):
    log = gateway.log_text()
    assert "DEBUG" in log
    assert f"api_key=fp:{fingerprint(client_key('success'))}" in log
    assert "refused client param api_key on locked" in log
