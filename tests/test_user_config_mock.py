"""A user_config deployment answered by mock_response has no destination:
nothing is resolved or checked, nothing leaves the process."""

from __future__ import annotations

from app import config, create_app


def test_a_mock_user_config_deployment_needs_no_lookup(network_spy):
    built = config.build({"general_settings": {"allow_user_config": True}})
    client = create_app(built).test_client()
    response = client.post("/v1/chat/completions", json={
        "model": "mine", "messages": [{"role": "user", "content": "hi"}],
        "user_config": {"model_list": [{"model_name": "mine", "litellm_params": {
            "model": "gpt-4o-mini", "mock_response": "from the mock"}}]}})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["choices"][0]["message"]["content"] == "from the mock"
    assert network_spy.lookups == [] and network_spy.connects == []
