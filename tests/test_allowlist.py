"""The allowlist behind configurable_clientside_auth_params, and its load checks."""

from __future__ import annotations

import logging
import re

import pytest

from app import config
from app.allowlist import AllowlistError, Verdict, compile_allowlist
from app.patterns import loose_host
from app.settings import ConfigError

SEED_PATTERN = r"^https://litellm.*direct\.fireworks\.ai/v1$"


def config_with(allowances: list, proxy_wide: bool = False) -> dict:
    return {
        "model_list": [{
            "model_name": "fireworks_ai/*",
            "litellm_params": {"model": "fireworks_ai/*",
                               "configurable_clientside_auth_params": allowances},
        }],
        "general_settings": {"allow_client_side_credentials": proxy_wide},
    }


@pytest.mark.parametrize("entries, name, value, verdict", [
    ([], "api_base", "https://a.example/v1", Verdict.UNLISTED),
    (["api_base"], "api_base", "https://a.example/v1", Verdict.ANY_VALUE),
    (["api_base"], "base_url", "https://a.example/v1", Verdict.ANY_VALUE),
    (["base_url"], "api_base", "https://a.example/v1", Verdict.ANY_VALUE),
    (["vertex_ai_project"], "vertex_project", "p-12345", Verdict.ANY_VALUE),
    ([{"api_base": r"https://a\.example/v1"}], "api_base", "https://a.example/v1",
     Verdict.VOUCHED),
    ([{"api_base": r"https://a\.example/v1"}], "base_url", "https://a.example/v1",
     Verdict.VOUCHED),
    ([{"api_base": r"https://a\.example/v1"}], "api_base", "https://b.example/v1",
     Verdict.MISMATCH),
    # A pattern without $ still matches in full: a longer value is refused.
    ([{"api_base": r"https://a\.example"}], "api_base",
     "https://a.example.evil.example/v1", Verdict.MISMATCH),
    ([{"api_base": r"^https://a\.example/v1$"}], "api_base", "https://a.example/v1",
     Verdict.VOUCHED),
    # A plain name beside a pattern: the pattern still says what was vouched for.
    (["api_base", {"api_base": r"https://a\.example/v1"}], "api_base",
     "https://b.example/v1", Verdict.ANY_VALUE),
    (["api_base", {"api_base": r"https://a\.example/v1"}], "api_base",
     "https://a.example/v1", Verdict.VOUCHED),
    ([{"api_key": r"sk-team-[a-z]+"}], "api_key", "sk-team-blue", Verdict.VOUCHED),
    ([{"api_key": r"sk-team-[a-z]+"}], "api_key", "sk-team-blue-x", Verdict.MISMATCH),
    (["api_key"], "api_base", "https://a.example/v1", Verdict.UNLISTED),
])
def test_verdicts(entries, name, value, verdict):
    allowlist = compile_allowlist(entries, "model_list[0]")
    assert allowlist.judge(name, value) is verdict
    assert verdict.allowed is (verdict in (Verdict.ANY_VALUE, Verdict.VOUCHED))


def test_prefix_matching_would_have_been_fooled_where_fullmatch_is_not():
    pattern = r"https://a\.example"
    value = "https://a.example.evil.example/v1"
    assert re.match(pattern, value)  # marshmallow's Regexp, LiteLLM's check
    allowlist = compile_allowlist([{"api_base": pattern}], "m")
    assert allowlist.judge("api_base", value) is Verdict.MISMATCH


def test_proxy_wide_allows_everything_but_keeps_what_was_vouched():
    allowlist = compile_allowlist([{"api_base": r"https://a\.example/v1"}], "m",
                                  everything=True)
    assert allowlist.judge("api_base", "https://a.example/v1") is Verdict.VOUCHED
    assert allowlist.judge("api_base", "https://b.example/v1") is Verdict.ANY_VALUE
    assert allowlist.judge("azure_ad_token", "t") is Verdict.ANY_VALUE


def test_proxy_wide_switch_reaches_every_deployment_through_the_config():
    built = config.build(config_with([], proxy_wide=True))
    assert built.allow_client_side_credentials is True
    allowlist = built.deployments[0].allowlist
    assert allowlist.judge("organization", "o") is Verdict.ANY_VALUE


def test_a_pattern_that_does_not_compile_stops_the_start_naming_the_deployment():
    with pytest.raises(ConfigError) as raised:
        config.build(config_with([{"api_base": "https://(unclosed"}]))
    assert "model_list[0] (fireworks_ai/*)" in str(raised.value)
    assert "does not compile" in str(raised.value)


def test_an_unknown_name_stops_the_start():
    with pytest.raises(ConfigError, match="'api_secret' .* is not a client auth param"):
        config.build(config_with(["api_secret"]))


def test_patterns_compile_once_at_load(monkeypatch):
    built = config.build(config_with([{"api_base": r"https://a\.example/v1"}]))
    allowlist = built.deployments[0].allowlist

    def no_compiling(*args, **kwargs):
        raise AssertionError("a pattern was compiled on the request path")

    monkeypatch.setattr(re, "compile", no_compiling)
    assert allowlist.judge("api_base", "https://a.example/v1") is Verdict.VOUCHED


@pytest.mark.parametrize("name", ["aws_profile_name", "aws_role_name",
                                  "aws_web_identity_token", "aws_sts_endpoint"])
def test_host_identity_params_cannot_be_allowed(name, caplog):
    with caplog.at_level(logging.WARNING, logger="app.allowlist"):
        allowlist = compile_allowlist([name, {name: ".*"}], "model_list[3] (m)")
    assert allowlist.is_empty
    assert allowlist.judge(name, "x") is Verdict.UNLISTED
    assert "never accepted from clients" in caplog.text
    assert "model_list[3] (m)" in caplog.text


def test_routing_params_need_no_allowance_and_are_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger="app.allowlist"):
        allowlist = compile_allowlist(["api_version", "vertex_ai_location"], "m")
    assert allowlist.is_empty
    assert "needs no allowance" in caplog.text


def test_the_seeds_pattern_is_warned_about_at_load(caplog):
    with caplog.at_level(logging.WARNING, logger="app.allowlist"):
        config.build(config_with([{"api_base": SEED_PATTERN}]))
    assert "run across a dot or slash" in caplog.text
    assert "model_list[0] (fireworks_ai/*)" in caplog.text
    # What it admits, and why the warning matters:
    fooled = "https://litellm.attacker.example/x.direct.fireworks.ai/v1"
    assert re.fullmatch(SEED_PATTERN, fooled)


def test_a_tight_pattern_is_not_warned_about(caplog):
    tight = r"^https://litellm-[a-z0-9-]+\.direct\.fireworks\.ai/v1$"
    with caplog.at_level(logging.WARNING, logger="app.allowlist"):
        config.build(config_with([{"api_base": tight}]))
    assert "run across" not in caplog.text


@pytest.mark.parametrize("pattern, loose", [
    (SEED_PATTERN, True),
    (r"^https://litellm-[a-z0-9-]+\.direct\.fireworks\.ai/v1$", False),
    (r"https://api\.example\.com/v1", False),
    (r"https://api.example.com/v1", True),          # an unescaped dot matches "/"
    (r"https://[^/]+\.example\.com/v1", True),      # [^/] still matches dots
    (r"https://[^./]+\.example\.com/v1", False),
    (r"https://[a-z.]+/v1", True),
    (r"https://[+-0]+\.example/v1", True),          # a range that holds . and /
    (r"https://\S+/v1", True),
    (r"https://\w+\.example\.com/.*", False),       # the path may be anything
    (r"https://[a-z]{1,20}\.example/v1", False),
    (r"https://([a-z]+\.)+example\.com/v1", True),  # a repeated group with a dot
    (r"https?://(?P<h>[a-z-]+)\.example\.com(:\d+)?/v1", False),
    (r"https://(a|.*)\.example/v1", True),
    (r"https://a\.example/v1|https://.*", True),    # each alternative is read
    (r".*\.example\.com/v1", True),                 # no scheme: read from the start
    (r"http://127\.0\.0\.1:\d+/v1", False),
])
def test_loose_host_parts_are_found(pattern, loose):
    assert loose_host(pattern) is loose


def test_allowlist_error_is_a_value_error():
    with pytest.raises(AllowlistError):
        compile_allowlist([{"api_key": "("}], "m")
