"""Settings built from config data: fallback maps, frozen defaults, empty lists."""

from __future__ import annotations

from types import MappingProxyType

from app import create_app
from app.config import build
from app.settings import build_router_settings, freeze, thaw
from tests.fakes import FakeUpstream


def test_max_fallbacks_is_a_number_beside_the_fallback_maps():
    settings = build_router_settings({"max_fallbacks": 2, "fallbacks": [{"a": ["b"]}],
                                      "default_fallbacks": ["c"]})
    assert settings.max_fallbacks == 2
    assert dict(settings.fallbacks) == {"a": ("b",)}
    assert settings.default_fallbacks == ("c",)


def test_a_config_without_model_list_loads():
    config = build({"general_settings": {"allow_user_config": True}})
    assert config.deployments == () and config.allow_user_config is True


def test_thaw_gives_plain_copies_of_frozen_values():
    frozen = freeze({"a": {"b": [1, {"c": 2}]}})
    assert isinstance(frozen["a"], MappingProxyType)
    plain = thaw(frozen)
    assert plain == {"a": {"b": [1, {"c": 2}]}}
    assert type(plain["a"]) is dict and type(plain["a"]["b"][1]) is dict
    plain["a"]["b"].append(3)
    assert frozen["a"]["b"] == (1, {"c": 2})


def test_nested_default_params_reach_the_upstream():
    with FakeUpstream("A") as fake:
        config = build({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/m", "api_base": f"{fake.base}/v1", "api_key": "sk-op",
            "response_format": {"type": "json_object"}}}]})
        client = create_app(config=config).test_client()
        for _ in range(2):
            response = client.post("/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": "hi"}]})
            assert response.status_code == 200
        assert [c.json["response_format"] for c in fake.calls] == [
            {"type": "json_object"}] * 2
