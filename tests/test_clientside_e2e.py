"""The feature page's clientside-credentials examples, end to end: real
gunicorn, the real OpenAI SDK (and the JS body form), loopback fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clientside_helpers import (
    FORMS,
    assert_refused,
    content,
    send,
    sdk_client,
    MESSAGES,
)
from tests.fakes import FakeUpstream, openai_error, sse_ok
from tests.gateway_proc import GatewayProcess

FW_KEY = "sk-admin-FW-SECRET"
ENV_FW_KEY = "sk-env-FW-SECRET"
AZ_KEY = "sk-admin-AZ-SECRET"
CLIENT_KEY = "my-bad-key"
FAKES = ("oper", "client", "other", "azop", "azc", "fail", "lockfb", "openfb",
         "m1", "m2")


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    made = {name: FakeUpstream(name) for name in FAKES}
    yield made
    for fake in made.values():
        fake.close()


def deployment(name: str, model: str, base: str, key: str | None = None,
               allow: list | None = None, **params) -> dict:
    litellm_params = {"model": model, "api_base": base, **params}
    if key is not None:
        litellm_params["api_key"] = key
    if allow is not None:
        litellm_params["configurable_clientside_auth_params"] = allow
    return {"model_name": name, "litellm_params": litellm_params}


def gateway_config(f: dict[str, FakeUpstream]) -> dict:
    oper = f"{f['oper'].base}/v1"
    regex = rf"^http://127\.0\.0\.1:{f['client'].port}/v1$"
    return {
        "model_list": [
            deployment("fireworks_ai/*", "fireworks_ai/*", oper, FW_KEY, ["api_base"]),
            deployment("fw-regex/*", "fireworks_ai/*", oper, FW_KEY,
                       [{"api_base": regex}]),
            deployment("fw-envkey/*", "fireworks_ai/*", oper, None, ["api_base"]),
            deployment("gpt-3.5-turbo", "azure/chatgpt-v-2", f["azop"].base, AZ_KEY,
                       ["api_base"], api_version="2023-07-01-preview"),
            deployment("oa-compat", "openai/some-model", oper, "sk-admin-OA-SECRET"),
            deployment("byok-primary", "openai/p", f"{f['fail'].base}/v1",
                       "sk-admin-P-SECRET", ["api_key"]),
            deployment("locked-fallback", "openai/lf", f"{f['lockfb'].base}/v1",
                       "sk-admin-LF-SECRET"),
            deployment("byok-primary-2", "openai/p2", f"{f['fail'].base}/v1",
                       "sk-admin-P-SECRET", ["api_key"]),
            deployment("open-fallback", "openai/of", f"{f['openfb'].base}/v1",
                       "sk-admin-OF-SECRET", ["api_key"]),
            deployment("mixed", "openai/m1", f"{f['m1'].base}/v1",
                       "sk-admin-M1-SECRET"),
            deployment("mixed", "openai/m2", f"{f['m2'].base}/v1", "sk-admin-M2-SECRET",
                       ["api_key"]),
        ],
        "router_settings": {
            "num_retries": 0,
            "disable_cooldowns": True,
            "fallbacks": [{"byok-primary": ["locked-fallback"]},
                          {"byok-primary-2": ["open-fallback"]}],
        },
        "litellm_settings": {"user_url_allowed_hosts": [
            f[name].host_port for name in ("client", "other", "azc")]},
        "general_settings": {"master_key": "sk-proxy-test"},
    }


@pytest.fixture(scope="module")
def gateway(fakes) -> Iterator[GatewayProcess]:
    process = GatewayProcess(gateway_config(fakes),
                             env={"FIREWORKS_API_KEY": ENV_FW_KEY})
    process.start()
    yield process
    process.cleanup()


@pytest.fixture(autouse=True)
def fresh(request, fakes, gateway) -> None:
    """Forget earlier calls and scripts; attach the gateway log on failure."""
    request.node.gateways = [gateway]
    for fake in fakes.values():
        fake.clear_scripts()
        fake.reset()
    fakes["fail"].script(openai_error(500, "upstream broke", "server_error"))


def only_call(fake: FakeUpstream):
    calls = fake.wait_for_calls(1, timeout=2.0)
    assert len(calls) == 1, calls
    return calls[0]


def assert_untouched(fakes: dict[str, FakeUpstream], *names: str) -> None:
    for name in names:
        assert fakes[name].calls == [], name


# fireworks_ai/* with ["api_base"]


@pytest.mark.parametrize("form", FORMS)
def test_plain_api_base_with_the_clients_key(form, gateway, fakes):
    params = {"api_key": CLIENT_KEY, "api_base": f"{fakes['client'].base}/v1"}
    answer = send(form, gateway.url, "fireworks_ai/some-model", params)

    assert content(answer) == "ok-from-client"
    call = only_call(fakes["client"])
    assert call.path == "/v1/chat/completions"
    assert call.headers["Authorization"] == f"Bearer {CLIENT_KEY}"
    assert call.json["model"] == "some-model"
    assert not {"api_key", "api_base", "extra_body"} & set(call.json)
    assert FW_KEY not in str(dict(call.headers)) + call.body.decode()
    assert_untouched(fakes, "oper")


@pytest.mark.parametrize("form", FORMS)
def test_plain_api_base_without_a_client_key_is_refused(form, gateway, fakes):
    params = {"api_base": f"{fakes['client'].base}/v1"}
    answer = send(form, gateway.url, "fireworks_ai/some-model", params)

    assert_refused(answer, "api_key")
    assert "operator's key is never sent" in answer.json["error"]["message"]
    assert_untouched(fakes, "client", "oper")


def test_plain_api_base_streams_from_the_clients_host(gateway, fakes):
    fakes["client"].script({"sse": sse_ok("streamed-from-client")})
    with sdk_client(gateway.url) as client:
        stream = client.chat.completions.create(
            model="fireworks_ai/some-model", messages=MESSAGES, stream=True,
            extra_body={"api_key": CLIENT_KEY,
                        "api_base": f"{fakes['client'].base}/v1"})
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream
                       if chunk.choices)
    assert text == "streamed-from-client"
    assert only_call(fakes["client"]).headers["Authorization"] == f"Bearer {CLIENT_KEY}"


def test_the_environments_key_never_backs_a_client_base(gateway, fakes):
    # Without client params the deployment uses the gateway's environment key...
    answer = send("js-body", gateway.url, "fw-envkey/some-model", {})
    assert content(answer) == "ok-from-oper"
    assert only_call(fakes["oper"]).headers["Authorization"] == f"Bearer {ENV_FW_KEY}"

    # ...but never on a call to a host the client chose.
    refused = send("js-body", gateway.url, "fw-envkey/some-model",
                   {"api_base": f"{fakes['client'].base}/v1"})
    assert_refused(refused, "api_key")
    params = {"api_base": f"{fakes['client'].base}/v1", "api_key": CLIENT_KEY}
    assert content(send("js-body", gateway.url, "fw-envkey/some-model", params))
    call = only_call(fakes["client"])
    assert call.headers["Authorization"] == f"Bearer {CLIENT_KEY}"
    assert ENV_FW_KEY not in str(dict(call.headers))


# fireworks_ai/* with [{"api_base": regex}]


@pytest.mark.parametrize("form", FORMS)
def test_regex_api_base_that_matches(form, gateway, fakes):
    params = {"api_key": CLIENT_KEY, "api_base": f"{fakes['client'].base}/v1"}
    answer = send(form, gateway.url, "fw-regex/some-model", params)

    assert content(answer) == "ok-from-client"
    call = only_call(fakes["client"])
    assert call.headers["Authorization"] == f"Bearer {CLIENT_KEY}"
    assert call.json["model"] == "some-model"
    assert_untouched(fakes, "oper", "other")


def test_a_vouched_base_may_carry_the_deployments_key(gateway, fakes):
    params = {"api_base": f"{fakes['client'].base}/v1"}
    answer = send("python-sdk", gateway.url, "fw-regex/some-model", params)

    assert content(answer) == "ok-from-client"
    assert only_call(fakes["client"]).headers["Authorization"] == f"Bearer {FW_KEY}"


@pytest.mark.parametrize("form", FORMS)
def test_regex_api_base_that_does_not_match(form, gateway, fakes):
    # The other fake is allowed by the SSRF guard; only the pattern stops it.
    params = {"api_key": CLIENT_KEY, "api_base": f"{fakes['other'].base}/v1"}
    answer = send(form, gateway.url, "fw-regex/some-model", params)

    assert_refused(answer, "api_base")
    message = answer.json["error"]["message"]
    assert "does not match the pattern" in message
    assert fakes["other"].base not in message and CLIENT_KEY not in message
    assert_untouched(fakes, "other", "client", "oper")


# The Azure credentials example


@pytest.mark.parametrize("form", FORMS)
def test_azure_credentials_example(form, gateway, fakes):
    params = {"api_key": "my-azure-key", "api_base": fakes["azc"].base,
              "api_version": "2024-02-01"}
    answer = send(form, gateway.url, "gpt-3.5-turbo", params)

    assert content(answer) == "ok-from-azc"
    call = only_call(fakes["azc"])
    assert call.path == "/openai/deployments/chatgpt-v-2/chat/completions"
    assert call.query == {"api-version": ["2024-02-01"]}
    assert call.headers["api-key"] == "my-azure-key"
    assert "Authorization" not in call.headers
    assert not {"api_key", "api_base", "api_version"} & set(call.json)
    assert AZ_KEY not in str(dict(call.headers))
    assert_untouched(fakes, "azop")


# vertex_ai_location


@pytest.mark.parametrize("form", FORMS)
def test_vertex_location_is_accepted_and_not_forwarded(form, gateway, fakes):
    answer = send(form, gateway.url, "oa-compat", {"vertex_ai_location": "us-east1"})

    assert content(answer) == "ok-from-oper"
    body = only_call(fakes["oper"]).json
    assert "vertex_ai_location" not in body and "vertex_location" not in body


@pytest.mark.parametrize("location", ["us-east1.evil.example", "US-EAST1",
                                      "us-east1/../x", ""])
def test_vertex_location_is_validated(location, gateway, fakes):
    answer = send("python-sdk", gateway.url, "oa-compat",
                  {"vertex_ai_location": location})
    assert_refused(answer, "vertex_ai_location")
    assert_untouched(fakes, "oper")


# Groups: a deployment or fallback only serves client params it allows


def test_a_group_serves_client_params_only_from_deployments_that_allow_them(
        gateway, fakes):
    for _ in range(6):
        answer = send("js-body", gateway.url, "mixed", {"api_key": CLIENT_KEY})
        assert content(answer) == "ok-from-m2"
    assert len(fakes["m2"].calls) == 6
    assert all(c.headers["Authorization"] == f"Bearer {CLIENT_KEY}"
               for c in fakes["m2"].calls)
    assert_untouched(fakes, "m1")


def test_a_fallback_that_refuses_the_client_params_is_skipped(gateway, fakes):
    answer = send("python-sdk", gateway.url, "byok-primary", {"api_key": CLIENT_KEY})

    assert answer.status == 500, answer.text
    assert only_call(fakes["fail"]).headers["Authorization"] == f"Bearer {CLIENT_KEY}"
    assert_untouched(fakes, "lockfb")


def test_the_same_fallback_serves_a_request_without_client_params(gateway, fakes):
    answer = send("python-sdk", gateway.url, "byok-primary", {})

    assert content(answer) == "ok-from-lockfb"
    assert answer.headers["x-litellm-attempted-fallbacks"] == "1"
    call = only_call(fakes["lockfb"])
    assert call.headers["Authorization"] == "Bearer sk-admin-LF-SECRET"


def test_a_fallback_that_allows_the_client_params_serves_them(gateway, fakes):
    answer = send("js-body", gateway.url, "byok-primary-2", {"api_key": CLIENT_KEY})

    assert content(answer) == "ok-from-openfb"
    call = only_call(fakes["openfb"])
    assert call.headers["Authorization"] == f"Bearer {CLIENT_KEY}"
