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
