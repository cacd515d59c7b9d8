"""Loading the operator's config: env references, validation paths, warnings."""

from __future__ import annotations

import logging

import pytest

from app import config
from app.settings import ConfigError


def load_text(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return config.load(str(path))


def test_shipped_default_config_loads_with_no_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "FIREWORKS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    loaded = config.load("config/config.yaml")
    assert [d.model_name for d in loaded.deployments] == ["demo"]
    assert loaded.deployments[0].mock_response


def test_environment_reference_resolved_and_unset_one_disables(tmp_path, monkeypatch,
                                                               caplog):
    monkeypatch.setenv("KEY_A", "sk-a")
    monkeypatch.delenv("KEY_MISSING", raising=False)
    caplog.set_level(logging.WARNING)
    loaded = load_text(tmp_path, """
model_list:
  - model_name: a
    litellm_params: {model: openai/a, api_key: os.environ/KEY_A}
  - model_name: b
    litellm_params: {model: openai/b, api_key: os.environ/KEY_MISSING}
""")
    assert [d.model_name for d in loaded.deployments] == ["a"]
    assert loaded.deployments[0].api_key == "sk-a"
    assert "KEY_MISSING" in caplog.text
    assert "sk-a" not in caplog.text


@pytest.mark.parametrize("params, path", [
    ("{model: openai/a, timeout: abc}", "model_list[1].litellm_params.timeout"),
    ("{model: openai/a, rpm: -1}", "model_list[1].litellm_params.rpm"),
    ("{model: openai/a, weight: true}", "model_list[1].litellm_params.weight"),
    ("{api_base: http://x}", "model_list[1].litellm_params.model"),
    ("{model: nosuchprovider/a}", "model_list[1].litellm_params.model"),
])
def test_wrong_values_stop_the_start_naming_the_key_path(tmp_path, params, path):
    with pytest.raises(ConfigError) as raised:
        load_text(tmp_path, f"""
model_list:
  - model_name: ok
    litellm_params: {{model: openai/ok}}
  - model_name: bad
    litellm_params: {params}
""")
    assert path in str(raised.value)


def test_unknown_keys_are_warned_about_once_not_fatal(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    loaded = load_text(tmp_path, """
model_list:
  - model_name: a
    litellm_params: {model: openai/a, input_cost_per_token: 0.1}
    surprise: 1
router_settings: {redis_host: localhost, num_retries: 1}
litellm_settings: {callbacks: [x]}
general_settings: {database_url: postgres://x}
""")
    assert loaded.router.num_retries == 1
    for path in ("model_list[0].surprise", "router_settings.redis_host",
                 "litellm_settings.callbacks", "general_settings.database_url",
                 "input_cost_per_token"):
        assert caplog.text.count(path) == 1, path


def test_router_settings_win_over_litellm_settings(tmp_path):
    loaded = load_text(tmp_path, """
model_list: [{model_name: a, litellm_params: {model: a}}]
litellm_settings: {num_retries: 4, request_timeout: 30, allowed_fails: 7}
router_settings: {num_retries: 1}
""")
    assert loaded.router.num_retries == 1
    assert loaded.router.request_timeout == 30
    assert loaded.router.allowed_fails == 7
    assert loaded.deployments[0].provider == "openai"


def test_defaults_match_the_readme_table(tmp_path):
    loaded = load_text(tmp_path, "model_list: []")
    assert loaded.router.num_retries == 2
    assert loaded.router.allowed_fails == 3
    assert loaded.router.cooldown_time == 5
    assert loaded.router.request_timeout == 600
    assert loaded.limits.max_body_bytes == 20 * 1024 * 1024


def test_top_level_rpm_used_unless_litellm_params_has_one(tmp_path):
    loaded = load_text(tmp_path, """
model_list:
  - {model_name: a, rpm: 5, tpm: 50, litellm_params: {model: a, rpm: 9}}
""")
    assert (loaded.deployments[0].rpm, loaded.deployments[0].tpm) == (9, 50)


def test_pattern_that_does_not_compile_names_the_deployment(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_text(tmp_path, """
model_list:
  - model_name: fw
    litellm_params:
      model: fireworks_ai/x
      configurable_clientside_auth_params: [{api_base: "https://(unclosed"}]
""")
    assert "model_list[0] (fw)" in str(raised.value)


def test_loose_host_pattern_is_warned_about(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    load_text(tmp_path, r"""
model_list:
  - model_name: fw
    litellm_params:
      model: fireworks_ai/x
      configurable_clientside_auth_params:
        - {api_base: "^https://litellm.*direct\\.fireworks\\.ai/v1$"}
""")
    assert "across a dot or slash" in caplog.text


def test_unset_reference_outside_model_list_stops_the_start(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_MASTER", raising=False)
    with pytest.raises(ConfigError, match="NO_MASTER"):
        load_text(tmp_path, "general_settings: {master_key: os.environ/NO_MASTER}")


def test_config_path_order(monkeypatch):
    monkeypatch.setenv("CONFIG_FILE_PATH", "/env.yaml")
    assert config.config_path("/cli.yaml") == "/cli.yaml"
    assert config.config_path(None) == "/env.yaml"
    monkeypatch.delenv("CONFIG_FILE_PATH")
    assert config.config_path(None) == "config/config.yaml"


def test_settings_are_immutable(tmp_path):
    loaded = load_text(tmp_path, "model_list: [{model_name: a, litellm_params: {model: a}}]")
    with pytest.raises(AttributeError):
        loaded.deployments[0].api_key = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        loaded.router.fallbacks["a"] = ("b",)  # type: ignore[index]


@pytest.mark.parametrize("name", ["clientside-credentials.yaml", "fallbacks.yaml"])
def test_example_configs_load(name, monkeypatch, caplog):
    for variable in ("FIREWORKS_API_KEY", "AZURE_API_BASE", "AZURE_API_KEY",
                     "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GATEWAY_MASTER_KEY"):
        monkeypatch.setenv(variable, f"value-of-{variable.lower()}")
    caplog.set_level(logging.WARNING)
    loaded = config.load(f"config/examples/{name}")
    assert loaded.deployments and loaded.master_key == "value-of-gateway_master_key"
    assert "not supported" not in caplog.text


def test_max_fallbacks_is_a_number_not_a_fallback_map():
    built = config.build({
        "model_list": [{"model_name": "a", "litellm_params": {"model": "a"}}],
        "router_settings": {"max_fallbacks": 3, "fallbacks": [{"a": ["b"]}]},
    })
    assert built.router.max_fallbacks == 3
    assert built.router.fallbacks["a"] == ("b",)


def test_operator_extra_body_is_flattened_into_default_params():
    built = config.build({"model_list": [{"model_name": "a", "litellm_params": {
        "model": "a", "temperature": 0.2,
        "extra_body": {"chat_template_kwargs": {"enable_thinking": False},
                       "model": "sneaky"}}}]})
    defaults = built.deployments[0].defaults
    assert defaults["temperature"] == 0.2
    assert defaults["chat_template_kwargs"] == {"enable_thinking": False}
    assert "extra_body" not in defaults and "model" not in defaults


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_a_blank_master_key_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("GW_MASTER", value)
    with pytest.raises(ConfigError, match="master_key"):
        config.build({"general_settings": {"master_key": "os.environ/GW_MASTER"}})


def test_a_fallback_to_an_unknown_group_is_warned_about(caplog):
    caplog.set_level(logging.WARNING)
    config.build({"model_list": [{"model_name": "a", "litellm_params": {"model": "a"}}],
                  "router_settings": {"fallbacks": [{"a": ["missing-group"]}]}})
    assert "missing-group" in caplog.text


def test_an_environment_reference_without_a_name_stops_the_start():
    with pytest.raises(ConfigError, match="names no environment variable"):
        config.build({"general_settings": {"master_key": "os.environ/"}})
