"""Client URLs the gateway must refuse before any connection, and redirects it
must not follow. The app runs in-process with a fake resolver under the network
spy, so no test needs DNS and a refusal is proven to come before a connect."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from app import config, create_app
from tests.conftest import FakeResolver
from tests.fakes import FakeUpstream
from tests.pki import Pki

CLIENT_KEY = "sk-client-SSRF-0001"
MASTER = "sk-proxy-test"
RESOLVER_TABLE = {
    "api.example.com": ["8.8.8.8"],
    "api.example.com.evil.example": ["8.8.4.4"],
    "evil.example": ["8.8.4.4"],
    "allowed.example": ["8.8.8.8"],
    "loopback.test": ["127.0.0.1"],
    "rebind.test": ["8.8.8.8", "10.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "upstream.test": ["127.0.0.1"],
}


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver(dict(RESOLVER_TABLE))


@pytest.fixture
def oper() -> Iterator[FakeUpstream]:
    with FakeUpstream("oper") as fake:
        yield fake


def app_for(model_list: list, resolver: FakeResolver, allowed: list[str] = (),
            **litellm_settings):
    built = config.build({
        "model_list": model_list,
        "litellm_settings": {"user_url_allowed_hosts": list(allowed),
                             **litellm_settings},
        "general_settings": {"master_key": MASTER},
    })
    return create_app(config=built, resolver=resolver).test_client()


def fireworks(base: str, allow: list) -> dict:
    return {"model_name": "fireworks_ai/*", "litellm_params": {
        "model": "fireworks_ai/*", "api_base": base, "api_key": "sk-admin-FW-SECRET",
        "configurable_clientside_auth_params": allow}}


def post(client, **params):
    body = {"model": "fireworks_ai/some-model",
            "messages": [{"role": "user", "content": "hi"}], **params}
    return client.post("/v1/chat/completions", json=body,
                       headers={"Authorization": f"Bearer {MASTER}"})


def assert_refused(response, param: str = "api_base") -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


@pytest.mark.parametrize("url, asks_resolver", [
    ("http://169.254.169.254/latest/meta-data/", False),
    ("https://169.254.169.254/latest/meta-data/", False),
    ("https://[fd00:ec2::254]/latest/meta-data/", False),
    ("https://metadata.test/computeMetadata/v1/", True),
    ("http://[::ffff:127.0.0.1]/", False),
    ("https://[::ffff:127.0.0.1]/", False),
    ("http://2130706433/", False),
    ("https://2130706433/", False),
    ("http://0x7f.1/", False),
    ("https://0x7f.1/", False),
    ("https://0177.0.0.1/", False),
    ("https://loopback.test/v1", True),
    ("https://rebind.test/v1", True),  # one private answer refuses the name
    ("https://allowed.example@evil.example/", False),
    ("https://api.example.com/v1\n", False),
    ("https://api.example.com\r\nX-Injected: 1/v1", False),
    ("http://api.example.com/v1", False),  # plain http to a public host
    ("http://localhost/v1", False),
    ("https://[::1]/v1", False),
    ("https://10.0.0.5/v1", False),
    ("https://100.64.0.1/v1", False),
    ("file:///etc/passwd", False),
])
def test_refused_before_any_connection(url, asks_resolver, resolver, oper,
                                       network_spy):
    client = app_for([fireworks(f"{oper.base}/v1", ["api_base"])], resolver)
    response = post(client, api_base=url, api_key=CLIENT_KEY)

    assert_refused(response)
    text = response.get_data(as_text=True)
    assert CLIENT_KEY not in text and "sk-admin-FW-SECRET" not in text
    assert network_spy.connects == [] and network_spy.lookups == []
    assert bool(resolver.calls) is asks_resolver
    assert oper.calls == []


def test_a_pattern_without_dollar_is_not_fooled_by_a_longer_host(
        resolver, oper, network_spy):
    pattern = r"https://api\.example\.com"
    longer = "https://api.example.com.evil.example/v1"
    assert re.match(pattern, longer)  # prefix matching would have let it in
    client = app_for([fireworks(f"{oper.base}/v1", [{"api_base": pattern}])],
                     resolver)

    response = post(client, api_base=longer)

    assert_refused(response)
    assert "does not match the pattern" in response.get_json()["error"]["message"]
    assert network_spy.connects == [] and resolver.calls == []


def redirecting(target: str) -> dict:
    return {"status": 302, "headers": {"Location": target}, "body": ""}


@pytest.mark.parametrize("location", ["http://127.0.0.2:1/v1/chat/completions",
                                      "http://169.254.169.254/latest/meta-data/"])
def test_a_redirect_from_an_allowed_upstream_is_not_followed(
        location, resolver, oper, network_spy):
    with FakeUpstream("client") as upstream:
        upstream.script(redirecting(location))
        client = app_for([fireworks(f"{oper.base}/v1", ["api_base"])], resolver,
                         allowed=[upstream.host_port])

        response = post(client, api_base=f"{upstream.base}/v1", api_key=CLIENT_KEY,
                        num_retries=0)

        assert response.status_code == 502
        assert "redirect" in response.get_json()["error"]["message"]
        assert len(upstream.calls) == 1
    assert network_spy.connects == [("127.0.0.1", upstream.port)]


# HTTPS fakes, verified against a throwaway CA handed over as ssl_verify


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def https_app(upstream: FakeUpstream, oper: FakeUpstream, resolver: FakeResolver,
              pki: Pki, allow: list):
    return app_for([fireworks(f"{oper.base}/v1", allow)], resolver,
                   allowed=[f"upstream.test:{upstream.port}"],
                   ssl_verify=str(pki.ca_path))


def test_https_client_base_is_pinned_and_verified(pki, resolver, oper, network_spy):
    with FakeUpstream("tls", tls=pki.server_context("upstream.test")) as upstream:
        client = https_app(upstream, oper, resolver, pki, ["api_base"])
        base = f"https://upstream.test:{upstream.port}/v1"

        response = post(client, api_base=base, api_key=CLIENT_KEY)

        assert response.status_code == 200, response.get_data(as_text=True)
        call = upstream.calls[0]
        assert call.headers["Host"] == f"upstream.test:{upstream.port}"
        assert call.headers["Authorization"] == f"Bearer {CLIENT_KEY}"
    assert network_spy.connects == [("127.0.0.1", upstream.port)]
    assert "upstream.test" not in network_spy.lookups
    assert resolver.calls == [("upstream.test", upstream.port)]


def test_https_vouched_base_by_regex(pki, resolver, oper, network_spy):
    with FakeUpstream("tls", tls=pki.server_context("upstream.test")) as upstream:
        pattern = rf"^https://upstream\.test:{upstream.port}/v1$"
        client = https_app(upstream, oper, resolver, pki, [{"api_base": pattern}])

        matching = post(client, api_base=f"https://upstream.test:{upstream.port}/v1")
        other = post(client, api_base=f"https://upstream.test:{upstream.port}/v2")

        assert matching.status_code == 200
        assert upstream.calls[0].headers["Authorization"] == "Bearer sk-admin-FW-SECRET"
        assert_refused(other)
        assert len(upstream.calls) == 1


def test_https_certificate_for_another_name_is_refused(pki, resolver, oper,
                                                       network_spy):
    with FakeUpstream("tls", tls=pki.server_context("other.test")) as upstream:
        client = https_app(upstream, oper, resolver, pki, ["api_base"])

        response = post(client, api_base=f"https://upstream.test:{upstream.port}/v1",
                        api_key=CLIENT_KEY)

        assert response.status_code == 502
        assert "TLS" in response.get_json()["error"]["message"]
        assert upstream.calls == []


def test_https_redirect_to_loopback_is_not_followed(pki, resolver, oper,
                                                    network_spy):
    with FakeUpstream("tls", tls=pki.server_context("upstream.test")) as upstream:
        upstream.script(redirecting("http://127.0.0.2:1/v1/chat/completions"))
        client = https_app(upstream, oper, resolver, pki, ["api_base"])

        response = post(client, api_base=f"https://upstream.test:{upstream.port}/v1",
                        api_key=CLIENT_KEY, num_retries=0)

        assert response.status_code == 502
        assert len(upstream.calls) == 1
    assert network_spy.connects == [("127.0.0.1", upstream.port)]


def test_validation_off_lets_the_operator_reach_anything(resolver, oper,
                                                         network_spy):
    # litellm_settings.user_url_validation: false is the one switch that turns
    # the guard off; a loopback fake stands in for an inner host.
    client = app_for([fireworks(f"{oper.base}/v1", ["api_base"])], resolver,
                     user_url_validation=False)
    response = post(client, api_base=f"{oper.base}/custom", api_key=CLIENT_KEY)
    assert response.status_code == 200
    assert oper.calls[0].path == "/custom/chat/completions"
