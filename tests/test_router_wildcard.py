"""A wildcard deployment keeps health per model: one model's failures (or a
client's rate-limited model) never cool the other models it serves."""

from __future__ import annotations

from app import config, create_app
from tests.fakes import FakeUpstream, chat_ok, openai_error

MESSAGES = [{"role": "user", "content": "hi"}]


def test_one_models_failures_do_not_cool_its_siblings():
    with FakeUpstream("W") as fake:
        failing = openai_error(429, "slow down", "requests", "rate_limit_exceeded")

        def reply(call):
            if call.json["model"] == "bad":
                return {"status": 429, "json": failing.json,
                        "headers": {"Retry-After": "999999"}}
            return {"json": chat_ok("ok-from-W")}

        fake.script(reply)
        built = config.build({
            "model_list": [{"model_name": "fake/*", "litellm_params": {
                "model": "openai/*", "api_base": f"{fake.base}/v1",
                "api_key": "sk-admin-W-SECRET"}}],
            "router_settings": {"num_retries": 0, "allowed_fails": 0,
                                "cooldown_time": 60},
        })
        client = create_app(built).test_client()
        for _ in range(3):
            client.post("/v1/chat/completions",
                        json={"model": "fake/bad", "messages": MESSAGES})
        cooled = client.post("/v1/chat/completions",
                             json={"model": "fake/bad", "messages": MESSAGES})
        sibling = client.post("/v1/chat/completions",
                              json={"model": "fake/innocent", "messages": MESSAGES})

    assert cooled.status_code == 503 and "Retry-After" in cooled.headers
    assert sibling.status_code == 200
    assert [c.json["model"] for c in fake.calls].count("bad") == 1
    assert fake.calls[-1].json["model"] == "innocent"


def client_fallback_app(fake):
    built = config.build({
        "model_list": [
            {"model_name": "primary", "litellm_params": {
                "model": "openai/p", "api_base": f"{fake.base}/v1",
                "api_key": "sk-admin-P-SECRET"}},
            {"model_name": "strict", "litellm_params": {
                "model": "openai/s", "api_base": f"{fake.base}/v1",
                "api_key": "sk-admin-S-SECRET"}},
        ],
        "router_settings": {"num_retries": 0},
    })
    return create_app(built).test_client()


def test_a_request_fallback_naming_an_unknown_group_is_a_400():
    with FakeUpstream("P") as fake:
        response = client_fallback_app(fake).post("/v1/chat/completions", json={
            "model": "primary", "messages": MESSAGES, "fallbacks": ["nope"]})
        assert fake.calls == []
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "fallbacks"


def test_a_request_fallback_with_refused_credentials_is_a_400():
    with FakeUpstream("P") as fake:
        response = client_fallback_app(fake).post("/v1/chat/completions", json={
            "model": "primary", "messages": MESSAGES,
            "fallbacks": [{"model": "strict", "api_key": "sk-client-SECRET-1"}]})
        assert fake.calls == []
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == "api_key"
    assert "sk-client-SECRET-1" not in response.get_data(as_text=True)
