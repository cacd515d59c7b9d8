"""One attempt's books: cooldowns, client-caused failures, the transparency
headers and the log line, against a scripted dispatcher and a fake clock."""

from __future__ import annotations

import logging

import pytest

from app import errors
from app.attempts import origin_of
from app.providers.base import Call
from tests.router_kit import chat, deployment, fail, make_kit, times_out

CLIENT_KEY = "sk-client-SECRET-77"


def solo(**settings):
    """One deployment ``a`` in group ``g``, no retries."""
    settings.setdefault("num_retries", 0)
    return make_kit([deployment("g", "a")], **settings)


# Cooldown entry, extension and exit


@pytest.mark.parametrize("allowed_fails", [0, 1, 3])
def test_the_allowed_fails_plus_first_failure_in_a_minute_cools(allowed_fails):
    kit = solo(allowed_fails=allowed_fails, cooldown_time=5)
    kit.dispatcher.script("a", fail(500))

    for _ in range(allowed_fails):
        kit.error()
        kit.clock.advance(1)
        assert not kit.cooling("a")
    kit.error()

    assert kit.cooling("a")
    assert kit.state.cooldown_until("a", kit.clock()) == kit.clock() + 5
    calls = len(kit.dispatcher.calls)
    assert kit.error().status == 503
    assert len(kit.dispatcher.calls) == calls


def test_failures_more_than_a_minute_apart_do_not_add_up():
    kit = solo(allowed_fails=1)
    kit.dispatcher.script("a", fail(500))

    for _ in range(4):
        kit.error()
        kit.clock.advance(61)

    assert not kit.cooling("a")


def test_a_cooled_deployment_comes_back_by_itself():
    kit = solo(allowed_fails=0, cooldown_time=5)
    kit.dispatcher.script("a", fail(500), chat("back"))
    kit.error()

    kit.clock.advance(5.01)
    served = kit.ask()

    assert served.body["choices"][0]["message"]["content"] == "back"
    assert kit.dispatcher.models() == ["a", "a"]


def test_a_success_resets_the_failure_count():
    kit = solo(allowed_fails=1)
    kit.dispatcher.script("a", fail(500), chat(), fail(500), fail(500))

    kit.error()
    kit.ask()
    kit.error()
    assert not kit.cooling("a")  # one failure since the success
    kit.error()
    assert kit.cooling("a")


def test_a_failure_right_after_a_cooldown_cools_again_at_once():
    kit = solo(allowed_fails=1, cooldown_time=5)
    kit.dispatcher.script("a", fail(500))
    kit.error()
    kit.error()
    kit.clock.advance(6)

    kit.error()

    assert kit.cooling("a")


def test_disable_cooldowns_never_cools():
    kit = solo(allowed_fails=0, disable_cooldowns=True)
    kit.dispatcher.script("a", fail(500))

    for _ in range(5):
        kit.error()

    assert not kit.cooling("a")
    assert len(kit.dispatcher.calls) == 5


@pytest.mark.parametrize("status", [429, 401])
def test_429_and_401_cool_at_once_in_a_group_of_several(status):
    kit = make_kit([deployment("g", "a", order=1), deployment("g", "b", order=2)],
                   num_retries=0, allowed_fails=3, cooldown_time=5)
    kit.dispatcher.script("a", fail(status))

    kit.error()

    assert kit.cooling("a")
    assert kit.ask().headers["x-litellm-model-id"] == "b"


@pytest.mark.parametrize("status", [429, 401])
def test_429_and_401_do_not_cool_the_only_deployment_at_once(status):
    kit = solo(allowed_fails=3)
    kit.dispatcher.script("a", fail(status))

    kit.error()

    assert not kit.cooling("a")


def test_a_longer_retry_after_lengthens_the_cooldown():
    kit = make_kit([deployment("g", "a"), deployment("g", "b")], num_retries=0,
                   cooldown_time=5)
    kit.dispatcher.script("a", fail(429, headers={"retry-after": "30"}))
    kit.dispatcher.script("b", fail(429, headers={"retry-after": "2"}))

    kit.error()
    kit.error()

    now = kit.clock()
    assert kit.state.cooldown_until("a", now) == now + 30
    assert kit.state.cooldown_until("b", now) == now + 5  # never below cooldown_time


def test_a_failure_during_a_cooldown_extends_it_and_never_shortens_it():
    kit = make_kit([deployment("g", "a")], num_retries=0, allowed_fails=0,
                   cooldown_time=10)
    from app.state import InProcessState

    state: InProcessState = kit.state
    assert state.record_failure("a", 0.0, allowed_fails=0, cooldown_time=10,
                                immediate=False) == 10
    # an in-flight request that fails later, with a shorter cooldown
    assert state.record_failure("a", 1.0, allowed_fails=0, cooldown_time=2,
                                immediate=False) == 10
    assert state.record_failure("a", 6.0, allowed_fails=0, cooldown_time=10,
                                immediate=False) == 16
    assert state.cooldown_until("a", 15.9) == 16
    assert state.cooldown_until("a", 16.0) is None


def test_a_stream_failing_mid_way_counts_as_a_failure():
    from tests.router_kit import chunk

    def broken(call, timeouts):
        yield chunk("partial")
        raise errors.BadGateway("The upstream connection broke off.")

    kit = solo(allowed_fails=0)
    kit.dispatcher.script("a", broken)

    chunks = list(kit.ask(stream=True).chunks)

    assert chunks[-1]["error"]["type"] == "api_error"
    assert kit.cooling("a")


# Failures the client caused


def client_kit(**settings):
    allow = {"configurable_clientside_auth_params": ["api_key", "api_base"]}
    models = [deployment("g", "a", timeout=10, **allow),
              deployment("g", "b", timeout=10, **allow)]
    settings.setdefault("num_retries", 0)
    return make_kit(models, allowed_fails=0, cooldown_time=30, **settings)


@pytest.mark.parametrize(("kind", "body"), [
    pytest.param(401, {"api_key": CLIENT_KEY}, id="401-client-key"),
    pytest.param(403, {"api_key": CLIENT_KEY}, id="403-client-key"),
    pytest.param(429, {"api_key": CLIENT_KEY}, id="429-client-key"),
    pytest.param(400, {}, id="400"),
    pytest.param(404, {}, id="404"),
    pytest.param(422, {}, id="422"),
    pytest.param(errors.ContextWindowExceeded, {}, id="context-window"),
    pytest.param("timeout", {"timeout": 2}, id="client-timeout-shorter"),
])
def test_a_failure_the_client_caused_never_cools_a_shared_deployment(kind, body):
    kit = client_kit()
    outcome = times_out(kit.clock) if kind == "timeout" else fail(kind)
    kit.dispatcher.script("a", outcome)
    kit.dispatcher.script("b", outcome)

    for _ in range(3):
        kit.error(**body)

    assert not kit.cooling("a") and not kit.cooling("b")


@pytest.mark.parametrize(("kind", "body"), [
    pytest.param(401, {}, id="401-operator-key"),
    pytest.param(429, {}, id="429-operator-key"),
    pytest.param(500, {"api_key": CLIENT_KEY}, id="500-client-key"),
    pytest.param("timeout", {}, id="timeout"),
    pytest.param("timeout", {"timeout": 20}, id="client-timeout-longer"),
])
def test_a_failure_of_the_deployment_cools_it(kind, body):
    kit = client_kit()
    outcome = times_out(kit.clock) if kind == "timeout" else fail(kind)
    kit.dispatcher.script("a", outcome)
    kit.dispatcher.script("b", outcome)

    kit.error(**body)

    assert kit.cooling("a") or kit.cooling("b")


def test_a_clients_own_api_base_leaves_the_shared_deployments_health_alone():
    kit = make_kit([deployment("g", "a", configurable_clientside_auth_params=[
        "api_key", "api_base"])], num_retries=0, allowed_fails=1,
        litellm_settings={"user_url_allowed_hosts": ["client.test"]},
        resolver=lambda host, port: ["8.8.8.8"])
    own = {"api_base": "http://client.test/v1", "api_key": CLIENT_KEY}
    kit.dispatcher.script("a", fail(500), fail(500), fail(500), chat(), fail(500))

    kit.error(**own)
    kit.error(**own)
    assert not kit.cooling("a")  # the client's host failing is not a's fault
    kit.error()  # a's first failure of its own
    kit.ask(**own)  # a success on the client's host does not reset the count
    kit.error()

    assert kit.cooling("a")
    bases = [sent.call.api_base for sent in kit.dispatcher.calls]
    assert bases == ["http://client.test/v1"] * 2 + ["http://a.test/v1"] + [
        "http://client.test/v1", "http://a.test/v1"]


# Transparency headers and the log line


def test_headers_on_success_name_what_served_it():
    kit = make_kit([deployment("g", "a", order=1), deployment("g", "b", order=2),
                    deployment("h", "c")], num_retries=1)
    kit.dispatcher.script("a", fail(500))

    headers = kit.ask().headers

    assert headers == {
        "x-litellm-model-id": "b",
        "x-litellm-model-group": "g",
        "x-litellm-model-api-base": "http://b.test",
        "x-litellm-attempted-retries": "1",
        "x-litellm-attempted-fallbacks": "0",
    }


def test_headers_on_errors_name_the_last_deployment_tried():
    kit = make_kit([deployment("g", "a"), deployment("h", "b")], num_retries=1,
                   allowed_fails=100, fallbacks=[{"g": ["h"]}])
    kit.dispatcher.script("a", fail(500))
    kit.dispatcher.script("b", fail(503))

    headers = kit.error().headers

    assert headers["x-litellm-model-id"] == "b"
    assert headers["x-litellm-model-group"] == "h"
    assert headers["x-litellm-model-api-base"] == "http://b.test"
    assert headers["x-litellm-attempted-retries"] == "2"
    assert headers["x-litellm-attempted-fallbacks"] == "1"


@pytest.mark.parametrize(("base", "origin"), [
    ("https://user:pw@api.example.com:8443/v1/x?y=1", "https://api.example.com:8443"),
    ("http://127.0.0.1:9000/v1", "http://127.0.0.1:9000"),
    (None, "https://api.openai.com"),
])
def test_the_api_base_header_is_scheme_and_host_only(base, origin):
    call = Call(endpoint="chat", provider="openai", model="m", body={},
                api_base=base)

    assert origin_of(call) == origin


def test_one_log_line_per_attempt_and_never_a_key(caplog):
    kit = make_kit([deployment("g", "a", order=1, configurable_clientside_auth_params=[
        "api_key"]), deployment("g", "b", order=2)], num_retries=2,
        allowed_fails=100)
    kit.dispatcher.script("a", fail(500), fail(503), chat())
    kit.dispatcher.script("b", chat())

    with caplog.at_level(logging.INFO):
        kit.ask()
        kit.ask(api_key=CLIENT_KEY)  # only a admits the client's key

    lines = [r.getMessage() for r in caplog.records if r.name == "app.attempts"]
    assert len(lines) == 4
    assert lines[0].startswith("attempt group=g deployment=a "
                               "outcome=UpstreamServerError status=500 latency_ms=")
    assert "deployment=b outcome=success status=200" in lines[1]
    assert "deployment=a outcome=ServiceUnavailable status=503" in lines[2]
    assert "deployment=a outcome=success status=200" in lines[3]
    assert "SECRET" not in caplog.text
