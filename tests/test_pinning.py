"""Pinned requests, sent for real, but only to servers on 127.0.0.1 started here."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from app import pinning, urlguard
from app.pinning import PinnedAdapter, pin
from app.urlguard import CheckedUrl, UrlPolicy, parse_client_url

REDIRECTS = {
    "/to-loopback": "http://127.0.0.2:1/",
    "/to-metadata": "http://169.254.169.254/latest/meta-data/",
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host")))
        target = REDIRECTS.get(self.path)
        self.send_response(302 if target else 200)
        if target:
            self.send_header("Location", target)
        self.send_header("Content-Length", "0" if target else "2")
        self.end_headers()
        if not target:
            self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.server_names: list[str | None] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer's own server_bind asks getfqdn(), a reverse DNS lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


@contextmanager
def serving(context: ssl.SSLContext | None = None) -> Iterator[_Server]:
    """A threaded HTTP server on 127.0.0.1, with TLS when given a context."""
    server = _Server()
    if context is not None:
        context.sni_callback = lambda sock, name, ctx: server.server_names.append(name)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """The dispatcher's set-up: one pinned adapter, no environment settings."""
    with requests.Session() as session:
        session.trust_env = False
        adapter = PinnedAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        yield session


def send(session: requests.Session, checked: CheckedUrl, path: str, **kwargs):
    prepared = session.prepare_request(
        requests.Request("GET", checked.normalised + path)
    )
    pin(prepared, checked)
    return session.send(prepared, allow_redirects=False, timeout=(5, 5), **kwargs)


def checked_for(value: str, fake_resolver) -> CheckedUrl:
    policy = UrlPolicy(allowed_hosts=frozenset({"pinned.test"}))
    with urlguard.resolver_replaced(fake_resolver):
        return urlguard.check(value, "api_base", policy)


# pin() and the adapter on their own


@pytest.mark.parametrize(
    ("base", "suffix", "address", "url", "host"),
    [
        (
            "https://api.example.com/v1",
            "/chat/completions",
            "8.8.8.8",
            "https://8.8.8.8:443/v1/chat/completions",
            "api.example.com",
        ),
        (
            "http://pinned.test:8080",
            "/x",
            "127.0.0.1",
            "http://127.0.0.1:8080/x",
            "pinned.test:8080",
        ),
        (
            "https://v6.example.com/v1",
            "",
            "2001:4860:4860::8888",
            "https://[2001:4860:4860::8888]:443/v1",
            "v6.example.com",
        ),
        ("http://[::1]:9000", "/x", "::1", "http://[::1]:9000/x", "[::1]:9000"),
    ],
)
def test_pin_points_the_url_at_the_address(base, suffix, address, url, host):
    checked = CheckedUrl(parse_client_url(base, "api_base"), (address, "8.8.4.4"))
    prepared = requests.Request("POST", base + suffix, json={}).prepare()

    assert pin(prepared, checked) is prepared
    assert prepared.url == url
    assert prepared.headers["Host"] == host
    assert pinning.pin_of(prepared) == pinning.Pin(address, checked.url.host)


def test_pin_leaves_an_unchecked_request_alone():
    checked = CheckedUrl(parse_client_url("http://localhost:1/", "api_base"), ())
    prepared = requests.Request("GET", "http://localhost:1/x").prepare()
    pin(prepared, checked)
    assert prepared.url == "http://localhost:1/x"
    assert "Host" not in prepared.headers
    assert pinning.pin_of(prepared) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com.evil.test/v1",
        "https://api.example.comx/v1",
        "https://api.example.com:8443/v1",
        "http://api.example.com/v1",
        "https://other.example.com/v1",
    ],
)
def test_pin_refuses_a_url_off_the_checked_origin(url):
    checked = CheckedUrl(parse_client_url("https://api.example.com", "p"), ("8.8.8.8",))
    with pytest.raises(ValueError):
        pin(requests.Request("GET", url).prepare(), checked)


@pytest.mark.parametrize(
    ("base", "pinned", "expected"),
    [
        ("https://api.example.com/v1", True, "api.example.com"),
        ("http://api.example.com/v1", True, None),
        ("https://api.example.com/v1", False, None),
    ],
)
def test_adapter_verifies_tls_against_the_pinned_name(base, pinned, expected):
    checked = CheckedUrl(parse_client_url(base, "api_base"), ("8.8.8.8",))
    prepared = requests.Request("GET", base).prepare()
    if pinned:
        pin(prepared, checked)

    _, pool_kwargs = PinnedAdapter().build_connection_pool_key_attributes(
        prepared, True
    )
    assert pool_kwargs.get("server_hostname") == expected
    assert pool_kwargs.get("assert_hostname") == expected


def test_adapter_refuses_a_pinned_request_whose_url_changed():
    base = "https://api.example.com/v1"
    checked = CheckedUrl(parse_client_url(base, "api_base"), ("8.8.8.8",))
    prepared = pin(requests.Request("GET", base).prepare(), checked)
    prepared.url = "https://10.0.0.1:443/v1"
    with pytest.raises(ValueError):
        PinnedAdapter().build_connection_pool_key_attributes(prepared, True)


def test_adapter_never_retries():
    retries = PinnedAdapter().max_retries
    assert retries.total == 0
    assert not retries.is_retry("GET", 503)


def test_network_spy_stops_lookups_and_connects_beyond_loopback(network_spy):
    with pytest.raises(AssertionError):
        socket.getaddrinfo("pinned.test", 80)
    with socket.socket() as sock, pytest.raises(AssertionError):
        sock.connect(("192.0.2.1", 9))
    assert network_spy.lookups == ["pinned.test"]


# End to end on loopback


def test_http_request_goes_to_the_checked_address(session, fake_resolver, network_spy):
    with serving() as server:
        port = server.server_port
        checked = checked_for(f"http://pinned.test:{port}", fake_resolver)
        response = send(session, checked, "/x")

    assert response.status_code == 200
    assert response.text == "ok"
    assert server.seen == [("/x", f"pinned.test:{port}")]
    assert fake_resolver.calls == [("pinned.test", port)]
    assert "pinned.test" not in network_spy.lookups
    assert network_spy.connects == [("127.0.0.1", port)]


def test_unpinned_request_connects_the_ordinary_way(session, network_spy):
    with serving() as server:
        port = server.server_port
        checked = urlguard.check(
            f"http://127.0.0.1:{port}", "api_base", UrlPolicy(validate=False)
        )
        response = send(session, checked, "/x")

    assert response.status_code == 200
    assert server.seen == [("/x", f"127.0.0.1:{port}")]


@pytest.mark.parametrize("path", sorted(REDIRECTS))
def test_redirects_are_not_followed(path, session, fake_resolver, network_spy):
    with serving() as server:
        port = server.server_port
        checked = checked_for(f"http://pinned.test:{port}", fake_resolver)
        response = send(session, checked, path)

    assert response.status_code == 302
    assert response.headers["Location"] == REDIRECTS[path]
    assert server.seen == [(path, f"pinned.test:{port}")]
    assert network_spy.connects == [("127.0.0.1", port)]


# TLS, with a throwaway CA made for the test run


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA and server certificates for pinned.test and other.test."""
    pytest.importorskip("cryptography")
    folder = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key = _certificate("urlguard test CA", None)
    files = {"ca": _write(folder / "ca.pem", ca_cert)}
    for name in ("pinned.test", "other.test"):
        cert, key = _certificate(name, (ca_cert, ca_key))
        files[name] = _write(folder / f"{name}.pem", cert, key)
    return files


def _certificate(name, issuer):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_cert, issuer_key = issuer or (None, key)
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            False,
        )
    )
    if issuer_cert is None:
        builder = builder.add_extension(x509.BasicConstraints(True, None), True)
        builder = builder.add_extension(_key_usage(x509, ca=True), True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(False, None), True)
        builder = builder.add_extension(_key_usage(x509, ca=False), True)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]), False
        )
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _key_usage(x509, ca):
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path, cert, key=None):
    from cryptography.hazmat.primitives import serialization

    pem = cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        pem += key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    path.write_bytes(pem)
    return path


def _server_context(pem: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


def test_https_verifies_the_hostname_on_the_pinned_connection(
    pki, session, fake_resolver, network_spy
):
    with serving(_server_context(pki["pinned.test"])) as server:
        port = server.server_port
        checked = checked_for(f"https://pinned.test:{port}/v1", fake_resolver)
        response = send(session, checked, "/x", verify=str(pki["ca"]))

    assert response.status_code == 200
    assert server.seen == [("/v1/x", f"pinned.test:{port}")]
    assert server.server_names == ["pinned.test"]
    assert "pinned.test" not in network_spy.lookups
    assert network_spy.connects == [("127.0.0.1", port)]


def test_https_refuses_a_certificate_for_another_name(
    pki, session, fake_resolver, network_spy
):
    with serving(_server_context(pki["other.test"])) as server:
        port = server.server_port
        checked = checked_for(f"https://pinned.test:{port}/v1", fake_resolver)
        with pytest.raises(requests.exceptions.SSLError):
            send(session, checked, "/x", verify=str(pki["ca"]))

    assert server.seen == []
    assert server.server_names == ["pinned.test"]


def test_https_without_a_pin_would_not_verify_the_ip(pki, session, network_spy):
    # The control: the same server reached by IP alone fails verification,
    # so the success above really came from the pinned host name.
    with serving(_server_context(pki["pinned.test"])) as server:
        port = server.server_port
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://127.0.0.1:{port}/x", verify=str(pki["ca"]))
    assert server.seen == []
