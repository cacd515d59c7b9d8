import ipaddress
import logging
import socket

import pytest

from app import errors, urlguard
from app.urlguard import CheckedUrl, UrlPolicy, check, parse_client_url

# Every test here runs with lookups and connects beyond loopback failing loudly.
pytestmark = pytest.mark.usefixtures("network_spy")

PARAM = "api_base"
POLICY = UrlPolicy(allowed_hosts=frozenset({"allowed.example"}))
SECRET = "sk-secret123"


@pytest.mark.parametrize(
    ("value", "scheme", "host", "port", "path", "normalised"),
    [
        (
            "HTTPS://API.Example.COM/v1",
            "https",
            "api.example.com",
            443,
            "/v1",
            "https://api.example.com/v1",
        ),
        ("http://h.test", "http", "h.test", 80, "", "http://h.test"),
        ("https://h.test:443/", "https", "h.test", 443, "/", "https://h.test:443/"),
        ("http://[::1]:8080", "http", "::1", 8080, "", "http://[::1]:8080"),
        ("https://[2001:DB8::0:1]/", "https", "2001:db8::1", 443, "/", None),
        ("http://0x7f.1/", "http", "127.0.0.1", 80, "/", "http://127.0.0.1/"),
        ("http://2130706433", "http", "127.0.0.1", 80, "", "http://127.0.0.1"),
        ("http://0177.0.0.1:81/a", "http", "127.0.0.1", 81, "/a", None),
        ("http://127.1/", "http", "127.0.0.1", 80, "/", "http://127.0.0.1/"),
        ("https://a_b.test/x/%41@:;=,", "https", "a_b.test", 443, "/x/%41@:;=,", None),
    ],
)
def test_parse_normalises(value, scheme, host, port, path, normalised):
    url = parse_client_url(value, PARAM)
    assert (url.scheme, url.host, url.port, url.path) == (scheme, host, port, path)
    if normalised is not None:
        assert url.normalised == normalised


def test_parse_keeps_ipv6_in_brackets():
    url = parse_client_url("https://[::ffff:127.0.0.1]:8443/v1", PARAM)
    mapped = str(ipaddress.IPv6Address("::ffff:127.0.0.1"))
    assert url.host == mapped
    assert url.normalised == f"https://[{mapped}]:8443/v1"
    assert url.origin == f"https://[{mapped}]:8443"
    assert url.netloc == f"[{mapped}]:8443"


REFUSED = [
    # Internal addresses, in every spelling.
    "http://169.254.169.254/",
    "https://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "http://2130706433/",
    "https://2130706433/",
    "http://0x7f.1/",
    "https://0x7f.1/",
    "http://0177.0.0.1/",
    "https://0177.0.0.1/",
    "http://127.1/",
    "https://127.1/",
    "https://[::1]/v1",
    "https://[::]/",
    "https://[fd00:ec2::254]/",
    "https://[fe80::1]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[2002:7f00:1::]/",
    "https://10.0.0.5/v1",
    "https://192.168.0.1/",
    "https://172.16.0.1/",
    "https://100.64.0.1/",
    "https://0.0.0.0/",
    "https://255.255.255.255/",
    "https://224.0.0.1/",
    "https://198.18.0.1/",
    "https://192.0.2.1/",
    # Names whose answers hold an internal address, or no address.
    "https://loopback.test/v1",
    "https://mixed.test/v1",
    "https://mapped.test/",
    "https://nowhere.test/",
    "https://empty.test/",
    "https://junk.test/",
    # User info, whichever host it names.
    "https://allowed.example@evil.example/",
    "http://mock-evil.test@169.254.169.254/v1",
    "https://user:pass@api.example.com/",
    "https://@api.example.com/",
    # Other schemes and malformed URLs.
    "file:///etc/passwd",
    "gopher://x",
    "ftp://api.example.com/",
    "javascript:alert(1)",
    "https:/api.example.com/",
    "//api.example.com/",
    "api.example.com/v1",
    "https:///v1",
    "https://:443/",
    "https://api.example.com:0/",
    "https://api.example.com:65536/",
    "https://api.example.com:/",
    "https://api.example.com:https/",
    "https://api.example.com:443:1/",
    "https://[fe80::1%25eth0]/",
    "https://[v1.test]/",
    "https://[::1/",
    "https://[::1]x/",
    "https://1.2.3.4.5/",
    "https://256.0.0.1/",
    "https://evil.0x7f/",
    "https://localhost./",
    "https://a..b/",
    "https://-a.test/",
    "https://api.example.com/v1/<x>",
    "https://api.example.com/v1/%zz",
    # Characters that split or smuggle.
    "https://api.example.com/v1\n",
    "https://api.example.com\r\nX-Injected: 1/",
    "https://api.example.com/\tv1",
    "https://api.example.com /v1",
    " https://api.example.com/v1",
    "https://api.example.com\x00.evil.test/",
    "https://api.example.com/\x7f",
    "https://api.exämple.com/",
    "https://api.example.com\\@evil.test/",
    "https://api.example.com/v1?x=1",
    "https://api.example.com/v1#x",
    # Plain http to a public host that the operator did not list.
    "http://api.example.com/v1",
    # Not a usable value at all.
    "",
    "https://api.example.com/" + "a" * 3000,
    None,
    123,
    b"https://api.example.com/",
    ["https://api.example.com/"],
]


@pytest.mark.parametrize("value", REFUSED)
def test_refused_before_any_connection(value, fake_resolver, network_spy):
    with pytest.raises(errors.InvalidRequest) as caught:
        check(value, PARAM, POLICY, resolver=fake_resolver)

    assert caught.value.status == 400
    assert caught.value.param == PARAM
    assert network_spy.lookups == []
    assert network_spy.connects == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://api.example.com/v1", "only https URLs are accepted"),
        ("http://api.example.com/v1", "litellm_settings.user_url_allowed_hosts"),
        ("https://loopback.test/", "non-public address"),
        ("https://mixed.test/", "non-public address"),
        ("https://[::ffff:127.0.0.1]/", "non-public address"),
        ("https://nowhere.test/", "could not be resolved"),
        ("https://allowed.example@evil.example/", "user info"),
        ("https://api.example.com/v1?x=1", "query"),
        ("https://api.example.com/v1#x", "fragment"),
        ("file:///etc/passwd", "http or https"),
        ("https://api.example.com/v1\n", "control"),
        ("", "empty"),
        ("https://a.test/" + "a" * 3000, "at most 2048"),
        (42, "must be a string"),
        ("https://api.example.com:0/", "port"),
        ("https://a\\b/", "backslash"),
    ],
)
def test_refusal_names_the_problem(value, reason, fake_resolver):
    with pytest.raises(errors.InvalidRequest) as caught:
        check(value, PARAM, POLICY, resolver=fake_resolver)
    assert reason in caught.value.message


def test_http_refusal_happens_before_resolving(fake_resolver):
    with pytest.raises(errors.InvalidRequest):
        check("http://api.example.com/v1", PARAM, POLICY, resolver=fake_resolver)
    assert fake_resolver.calls == []


@pytest.mark.parametrize(
    "value",
    [
        f"https://user:{SECRET}@api.example.com/v1",
        f"https://loopback.test/{SECRET}/v1",
        f"https://api.example.com/v1?key={SECRET}",
        f"https://api.example.com/{SECRET}\n",
        f"http://api.example.com/{SECRET}",
        f"https://nowhere.test/{SECRET}",
    ],
)
def test_refusals_never_echo_or_log_the_value(value, fake_resolver, caplog):
    caplog.set_level(logging.DEBUG, logger="app")
    with pytest.raises(errors.InvalidRequest) as caught:
        check(value, PARAM, POLICY, resolver=fake_resolver)

    assert SECRET not in caught.value.message
    assert SECRET not in str(caught.value.body())
    assert caplog.records
    assert SECRET not in caplog.text
    assert all(r.levelno <= logging.INFO for r in caplog.records)


def test_refusal_logs_the_reason_and_host(fake_resolver, caplog):
    caplog.set_level(logging.INFO, logger="app.urlguard")
    with pytest.raises(errors.InvalidRequest):
        check("https://loopback.test/private/path", PARAM, POLICY, fake_resolver)

    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert "loopback.test" in record.getMessage()
    assert "non-public" in record.getMessage()
    assert "private/path" not in record.getMessage()


@pytest.mark.parametrize(
    ("value", "addresses"),
    [
        ("https://api.example.com/v1", ("8.8.8.8",)),
        ("https://API.EXAMPLE.COM:8443/v1", ("8.8.8.8",)),
        ("https://dual.example.com", ("8.8.4.4", "2001:4860:4860::8888")),
        ("https://8.8.8.8/v1", ("8.8.8.8",)),
        ("https://[2606:4700:4700::1111]/", ("2606:4700:4700::1111",)),
    ],
)
def test_public_https_is_accepted(value, addresses, fake_resolver, network_spy):
    checked = check(value, PARAM, POLICY, resolver=fake_resolver)

    assert isinstance(checked, CheckedUrl)
    assert checked.addresses == addresses
    assert checked.normalised == parse_client_url(value, PARAM).normalised
    assert network_spy.connects == []


def test_duplicate_answers_are_checked_once(fake_resolver):
    fake_resolver.answers["twice.test"] = ["8.8.8.8", "8.8.8.8"]
    assert check("https://twice.test/", PARAM, POLICY, fake_resolver).addresses == (
        "8.8.8.8",
    )


@pytest.mark.parametrize(
    ("allowed", "value", "admitted"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080/v1", True),
        ("127.0.0.1:8080", "https://127.0.0.1:8080/v1", True),
        ("127.0.0.1:8080", "http://2130706433:8080/v1", True),
        ("127.0.0.1:8080", "http://127.0.0.1:8081/v1", False),
        ("127.0.0.1:8080", "https://127.0.0.1:8081/v1", False),
        ("127.0.0.1:8080", "http://127.0.0.1/v1", False),
        ("127.0.0.1:8080", "http://127.0.0.2:8080/v1", False),
        ("pinned.test", "http://pinned.test:1234/x", True),
        ("pinned.test", "https://pinned.test/", True),
        ("pinned.test", "http://pinned.test/", True),
        ("pinned.test", "http://sub.pinned.test/", False),
        ("pinned.test", "https://user@pinned.test/", False),
        ("pinned.test:443", "https://pinned.test/", True),
        ("pinned.test:443", "http://pinned.test/", False),
        ("[::1]:9000", "http://[::1]:9000/", True),
        ("[::1]", "http://[::1]:9001/", True),
        ("[::1]:9000", "http://[::1]:9001/", False),
    ],
)
def test_allowed_hosts(allowed, value, admitted, fake_resolver):
    policy = UrlPolicy(allowed_hosts=frozenset({allowed}))
    if not admitted:
        with pytest.raises(errors.InvalidRequest):
            check(value, PARAM, policy, resolver=fake_resolver)
        return

    checked = check(value, PARAM, policy, resolver=fake_resolver)
    host = parse_client_url(value, PARAM).host
    expected = fake_resolver.answers.get(host, [host])
    assert checked.addresses == tuple(expected)


def test_allowed_host_that_cannot_be_resolved_is_refused(fake_resolver):
    policy = UrlPolicy(allowed_hosts=frozenset({"nowhere.test"}))
    with pytest.raises(errors.InvalidRequest, match="could not be resolved"):
        check("http://nowhere.test/", PARAM, policy, resolver=fake_resolver)


@pytest.mark.parametrize(
    "value",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:1/",
        "http://localhost/",
        "https://10.0.0.5/v1",
        "http://0x7f.1/",
    ],
)
def test_validation_off_admits_valid_urls_without_pinning(value, fake_resolver):
    checked = check(value, PARAM, UrlPolicy(validate=False), resolver=fake_resolver)
    assert checked.addresses == ()
    assert fake_resolver.calls == []


@pytest.mark.parametrize(
    "value", ["file:///etc/passwd", "https://u@h.test/", "https://h.test/?q", ""]
)
def test_validation_off_still_refuses_malformed_urls(value, fake_resolver):
    with pytest.raises(errors.InvalidRequest):
        check(value, PARAM, UrlPolicy(validate=False), resolver=fake_resolver)


def test_policy_from_settings_normalises_entries():
    policy = urlguard.UrlPolicy.from_settings(
        ["Pinned.Test", " 127.1:8080 ", "[::1]:9000", "0x7f.0.0.2"], validate=True
    )
    assert policy.allowed_hosts == frozenset(
        {"pinned.test", "127.0.0.1:8080", "[::1]:9000", "127.0.0.2"}
    )


@pytest.mark.parametrize(
    "entry", ["http://h.test", "h.test/v1", "u@h.test", "h.test:0", "a b", "", "::1"]
)
def test_policy_from_settings_refuses_malformed_entries(entry):
    with pytest.raises(ValueError, match="user_url_allowed_hosts"):
        urlguard.UrlPolicy.from_settings([entry])


def _must_not_resolve(host, port):
    raise AssertionError(f"resolver called for {host}")


@pytest.mark.parametrize(
    "value",
    ["https://8.8.8.8/", "https://[2001:4860:4860::8888]/", "https://0x8080808/"],
)
def test_ip_literals_never_call_the_resolver(value):
    assert check(value, PARAM, POLICY, resolver=_must_not_resolve).addresses


def test_resolver_can_be_replaced_process_wide(fake_resolver):
    with urlguard.resolver_replaced(fake_resolver):
        assert check("https://api.example.com/", PARAM, POLICY).addresses == (
            "8.8.8.8",
        )
        with pytest.raises(errors.InvalidRequest):
            check("https://loopback.test/", PARAM, POLICY)
    assert fake_resolver.calls == [("api.example.com", 443), ("loopback.test", 443)]
    assert urlguard.set_resolver(None) is None


def test_explicit_resolver_wins_over_the_process_wide_one(fake_resolver):
    with urlguard.resolver_replaced(_must_not_resolve):
        checked = check("https://api.example.com/", PARAM, POLICY, fake_resolver)
    assert checked.addresses == ("8.8.8.8",)


def test_resolve_uses_getaddrinfo_and_keeps_only_ip_answers(monkeypatch):
    seen = []

    def getaddrinfo(host, port, **kwargs):
        seen.append((host, port, kwargs))
        stream = socket.SOCK_STREAM
        return [
            (socket.AF_INET6, stream, 6, "", ("2001:4860:4860::8888", port, 0, 0)),
            (socket.AF_INET, stream, 6, "", ("8.8.8.8", port)),
            (socket.AF_UNIX, stream, 0, "", "/run/socket"),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert urlguard.resolve("api.example.com", 443) == [
        "2001:4860:4860::8888",
        "8.8.8.8",
    ]
    assert seen[0][:2] == ("api.example.com", 443)
    assert seen[0][2]["type"] == socket.SOCK_STREAM
