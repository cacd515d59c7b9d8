"""Field cases B03, B04, B07 and B09 (see /work/shared/cases): clientside
credentials, SSRF, the three classes of body keys, and Azure's api_version.

Each ``.test`` host of a case is a fake on 127.0.0.1; the fakes a client names
are listed in ``user_url_allowed_hosts``. B04 runs in-process under the
network spy, which proves that no connection was even attempted; the others
run under gunicorn.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app import config, create_app
from tests.clientside_helpers import Answer, MASTER_KEY, assert_refused, send_json
from tests.conftest import FakeResolver
from tests.fakes import FakeUpstream

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    made: dict[str, FakeUpstream] = {}

    class Fakes(dict):
        def __missing__(self, name: str) -> FakeUpstream:
            made[name] = self[name] = FakeUpstream(name)
            return made[name]

    yield Fakes()
    for fake in made.values():
        fake.close()


def no_secrets(answer: Answer, *secrets: str) -> None:
    shown = answer.text + str(answer.headers)
    for secret in ("SECRET", *secrets):
        assert secret not in shown


def chat(gateway, **body) -> Answer:
    return send_json(gateway.url, {"messages": HI, **body})


def single_call(fake: FakeUpstream):
    calls = fake.wait_for_calls(1, timeout=2.0)
    assert len(calls) == 1, calls
    fake.reset()
    return calls[0]


# B03: a body api_key without opt-in, and a key that must not stick


def test_b03_client_key_needs_opt_in_and_never_sticks(fakes, make_gateway):
    a, b = fakes["A"], fakes["B"]
    gateway = make_gateway({
        "model_list": [
            {"model_name": "locked-model", "litellm_params": {
                "model": "openai/locked", "api_base": f"{a.base}/v1",
                "api_key": "sk-admin-A-SECRET"}},
            {"model_name": "byok-model", "litellm_params": {
                "model": "openai/byok", "api_base": f"{b.base}/v1",
                "api_key": "sk-admin-B-SECRET",
                "configurable_clientside_auth_params": ["api_key"]}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
    })

    refused = chat(gateway, model="locked-model", api_key="sk-client-K1")
    assert_refused(refused, "api_key")
    no_secrets(refused, "sk-client-K1")
    assert a.calls == []

    served = chat(gateway, model="byok-model", api_key="sk-client-K1")
    assert served.status == 200
    no_secrets(served, "sk-client-K1")
    call = single_call(b)
    assert call.headers["Authorization"] == "Bearer sk-client-K1"
    assert "api_key" not in call.json

    after = chat(gateway, model="byok-model")
    assert after.status == 200
    assert single_call(b).headers["Authorization"] == "Bearer sk-admin-B-SECRET"

    locked = chat(gateway, model="locked-model")
    assert locked.status == 200
    assert single_call(a).headers["Authorization"] == "Bearer sk-admin-A-SECRET"
    assert "sk-client-K1" not in gateway.log_text()


def test_b03_keys_alternate_without_bleeding(fakes, make_gateway):
    """The same kind of fault under alternation: each call carries its own key."""
    b = fakes["B"]
    gateway = make_gateway({
        "model_list": [{"model_name": "byok-model", "litellm_params": {
            "model": "openai/byok", "api_base": f"{b.base}/v1",
            "api_key": "sk-admin-B-SECRET",
            "configurable_clientside_auth_params": ["api_key"]}}],
        "general_settings": {"master_key": MASTER_KEY},
    })
    keys = ["sk-client-K1", None, "sk-client-K2", None, "sk-client-K1"]
    for key in keys:
        params = {"api_key": key} if key else {}
        assert chat(gateway, model="byok-model", **params).status == 200
    seen = [c.headers["Authorization"] for c in b.wait_for_calls(len(keys))]
    assert seen == [f"Bearer {key or 'sk-admin-B-SECRET'}" for key in keys]


def test_b03_an_upstream_cookie_sticks_to_nobody(fakes):
    """The same kind of fault one layer down: the shared HTTP session."""
    b = fakes["B"]
    b.script({"json": "CHAT_OK", "headers": {"Set-Cookie": "session=K1; Path=/"}})
    built = config.build({
        "model_list": [{"model_name": "byok-model", "litellm_params": {
            "model": "openai/byok", "api_base": f"{b.base}/v1",
            "api_key": "sk-admin-B-SECRET",
            "configurable_clientside_auth_params": ["api_key"]}}],
        "general_settings": {"master_key": MASTER_KEY},
    })
    app = create_app(config=built)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    for params in ({"api_key": "sk-client-K1"}, {}):
        response = client.post("/v1/chat/completions", headers=headers, json={
            "model": "byok-model", "messages": HI, **params})
        assert response.status_code == 200
    calls = b.wait_for_calls(2)
    assert [c.headers.get("Cookie") for c in calls] == [None, None]
    assert len(app.extensions["gateway"].dispatcher.session.cookies) == 0


# B04: a client api_base aimed inward, and the admin key to a client's host


B04_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8080/v1",
    "http://localhost/v1",
    "http://[::1]/v1",
    "http://10.0.0.5/v1",
    "http://2130706433/v1",
    "http://mock-evil.test@169.254.169.254/v1",
    "file:///etc/passwd",
    "https://rebind.test/v1",  # a name that resolves to a private address
]


@pytest.fixture
def b04(fakes):
    a, evil = fakes["A"], fakes["EVIL"]
    built = config.build({
        "model_list": [{"model_name": "fireworks_ai/*", "litellm_params": {
            "model": "fireworks_ai/*", "api_base": f"{a.base}/v1",
            "api_key": "sk-admin-A-SECRET",
            "configurable_clientside_auth_params": ["api_base"]}}],
        "litellm_settings": {"user_url_allowed_hosts": [evil.host_port]},
        "general_settings": {"master_key": MASTER_KEY},
    })
    resolver = FakeResolver({"rebind.test": ["10.0.0.1"]})
    return create_app(config=built, resolver=resolver).test_client()


def b04_post(client, **params):
    return client.post("/v1/chat/completions", headers={
        "Authorization": f"Bearer {MASTER_KEY}"}, json={
        "model": "fireworks_ai/some-model", "messages": HI, **params})


@pytest.mark.parametrize("base", B04_REFUSED)
def test_b04_inner_addresses_are_refused_before_a_connection(
        base, b04, fakes, network_spy):
    response = b04_post(b04, api_base=base)

    assert response.status_code == 400
    assert response.get_json()["error"]["type"] == "invalid_request_error"
    assert response.get_json()["error"]["param"] in ("api_base", "api_key")
    assert network_spy.connects == []
    assert fakes["A"].calls == [] and fakes["EVIL"].calls == []


def test_b04_the_admin_key_never_travels_to_the_clients_host(
        b04, fakes, network_spy, caplog):
    evil = fakes["EVIL"]
    caplog.set_level(logging.DEBUG)

    keyless = b04_post(b04, api_base=f"{evil.base}/v1")
    assert keyless.status_code == 400
    assert keyless.get_json()["error"]["param"] == "api_key"
    assert evil.calls == [] and network_spy.connects == []

    served = b04_post(b04, api_base=f"{evil.base}/v1", api_key="sk-client-K1")
    assert served.status_code == 200
    call = single_call(evil)
    assert call.headers["Authorization"] == "Bearer sk-client-K1"
    assert call.path == "/v1/chat/completions"
    assert not {"api_key", "api_base"} & set(call.json)
    assert "sk-admin-A-SECRET" not in str(dict(call.headers)) + call.body.decode()
    assert fakes["A"].calls == []
    assert network_spy.connects == [("127.0.0.1", evil.port)]
    for secret in ("sk-admin-A-SECRET", "sk-client-K1"):
        assert secret not in caplog.text
        assert secret not in served.get_data(as_text=True)


def test_b04_admin_only_settings_stay_home(fakes, network_spy):
    """Organization, extra headers, default params and region of the operator
    are dropped along with the key when the base is the client's."""
    a, evil = fakes["A"], fakes["EVIL"]
    built = config.build({
        "model_list": [{"model_name": "fireworks_ai/*", "litellm_params": {
            "model": "fireworks_ai/*", "api_base": f"{a.base}/v1",
            "api_key": "sk-admin-A-SECRET", "organization": "org-admin-SECRET",
            "extra_headers": {"X-Admin-Token": "admin-header-SECRET"},
            "extra_body": {"admin_flag": "admin-body-SECRET"},
            "aws_region_name": "eu-west-1",
            "configurable_clientside_auth_params": ["api_base"]}}],
        "litellm_settings": {"user_url_allowed_hosts": [evil.host_port]},
        "general_settings": {"master_key": MASTER_KEY},
    })
    client = create_app(config=built).test_client()

    served = b04_post(client, api_base=f"{evil.base}/v1", api_key="sk-client-K1")

    assert served.status_code == 200
    call = single_call(evil)
    assert "SECRET" not in str(dict(call.headers)) + call.body.decode()
    assert "eu-west-1" not in call.body.decode()


# B07: control keys consumed, provider params forwarded, extra_body flattened


def test_b07_three_classes_of_body_keys(fakes, make_gateway):
    a = fakes["A"]
    gateway = make_gateway({
        "model_list": [{"model_name": "oa-compat", "litellm_params": {
            "model": "openai/some-model", "api_base": f"{a.base}/v1",
            "api_key": "sk-admin-A-SECRET"}}],
        "general_settings": {"master_key": MASTER_KEY},
    })

    answer = chat(gateway, model="oa-compat", temperature=0.2, user="end-user-1",
                  num_retries=1, timeout=30, max_retries=3,
                  metadata={"trace_id": "t-1"}, vertex_ai_location="us-east1",
                  repetition_penalty=1.1, top_k=20,
                  extra_body={"chat_template_kwargs": {"enable_thinking": False}})

    assert answer.status == 200, answer.text
    body = single_call(a).json
    expected = {"model": "some-model", "temperature": 0.2, "user": "end-user-1",
                "repetition_penalty": 1.1, "top_k": 20,
                "chat_template_kwargs": {"enable_thinking": False}}
    assert {k: body[k] for k in expected} == expected
    lacking = {"num_retries", "timeout", "max_retries", "metadata",
               "vertex_ai_location", "user_config", "api_key", "api_base",
               "extra_body", "litellm_params", "mock_response"}
    assert not lacking & set(body)

    a.script({"sse": "SSE_OK"})
    streamed = send_json(gateway.url, {
        "model": "oa-compat", "messages": HI, "stream": True,
        "stream_options": {"include_usage": True}, "num_retries": 0})
    assert streamed.status == 200
    assert streamed.text.rstrip().endswith("data: [DONE]")
    body = single_call(a).json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "num_retries" not in body


# B09: the client's Azure api_version, once, in the query


def test_b09_azure_api_version(fakes, make_gateway):
    az, uaz = fakes["AZ"], fakes["UAZ"]
    gateway = make_gateway({
        "model_list": [{"model_name": "azure-gpt", "litellm_params": {
            "model": "azure/gpt-dep", "api_base": az.base,
            "api_key": "sk-admin-AZ-SECRET", "api_version": "2023-07-01-preview"}}],
        "litellm_settings": {"user_url_allowed_hosts": [uaz.host_port]},
        "general_settings": {"master_key": MASTER_KEY, "allow_user_config": True},
    })
    user_config = {"model_list": [{"model_name": "user-azure-instance",
                                   "litellm_params": {
        "model": "azure/chatgpt-v-2", "api_base": uaz.base,
        "api_key": "sk-user-AZ-SECRET", "api_version": "2024-02-01", "timeout": 10}}],
        "num_retries": 0}

    answer = chat(gateway, model="user-azure-instance", user_config=user_config)
    assert answer.status == 200, answer.text
    no_secrets(answer)
    call = single_call(uaz)
    assert call.path == "/openai/deployments/chatgpt-v-2/chat/completions"
    assert call.query == {"api-version": ["2024-02-01"]}
    assert call.headers["api-key"] == "sk-user-AZ-SECRET"
    assert not {"api_version", "api_key", "api_base", "timeout"} & set(call.json)
    assert az.calls == []

    answer = chat(gateway, model="azure-gpt", api_version="2024-06-01")
    assert answer.status == 200
    call = single_call(az)
    assert call.path == "/openai/deployments/gpt-dep/chat/completions"
    assert call.query == {"api-version": ["2024-06-01"]}
    assert call.headers["api-key"] == "sk-admin-AZ-SECRET"
    assert "api_version" not in call.json

    answer = send_json(gateway.url, {"model": "azure-gpt", "messages": HI},
                       query={"api-version": "2024-06-01"})
    assert answer.status == 200
    assert single_call(az).query == {"api-version": ["2024-06-01"]}

    answer = send_json(gateway.url, {"messages": HI},
                       path="/openai/deployments/azure-gpt/chat/completions",
                       headers={"api-key": MASTER_KEY},
                       query={"api-version": "2024-06-01"})
    assert answer.status == 200, answer.text
    assert single_call(az).query == {"api-version": ["2024-06-01"]}

    answer = chat(gateway, model="azure-gpt")
    assert answer.status == 200
    assert single_call(az).query == {"api-version": ["2023-07-01-preview"]}


@pytest.mark.parametrize("place", ["body", "query", "extra_body"])
@pytest.mark.parametrize("version", ["2024-06-01&api-key=x#", "2024-06-01 x",
                                     "a" * 33, "2024/06/01"])
def test_b09_a_version_outside_the_charset_is_refused(place, version, fakes):
    az = fakes["AZ"]
    built = config.build({
        "model_list": [{"model_name": "azure-gpt", "litellm_params": {
            "model": "azure/gpt-dep", "api_base": az.base,
            "api_key": "sk-admin-AZ-SECRET", "api_version": "2023-07-01-preview"}}],
        "general_settings": {"master_key": MASTER_KEY},
    })
    client = create_app(config=built).test_client()
    body = {"model": "azure-gpt", "messages": HI}
    query = {}
    if place == "body":
        body["api_version"] = version
    elif place == "extra_body":
        body["extra_body"] = {"api_version": version}
    else:
        query["api-version"] = version

    response = client.post("/v1/chat/completions", json=body, query_string=query,
                           headers={"Authorization": f"Bearer {MASTER_KEY}"})

    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "api_version"
    assert az.calls == []
