"""Form checks on client credentials, fingerprints and redaction of secrets."""

from __future__ import annotations

import builtins
import hashlib
import io
import os

import orjson
import pytest

from app import errors
from app.credentials import (
    REDACTED,
    check_value,
    fingerprint,
    redact,
    secrets_of,
    service_account,
)

PEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "client-project-1",
    "private_key_id": "0123456789abcdef",
    "private_key": PEM,
    "client_email": "sa@client-project-1.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}


@pytest.mark.parametrize("name, value", [
    ("api_key", "sk-client-0123456789"),
    ("organization", "org-client-1"),
    ("azure_ad_token", "eyJ0eXAi.eyJhdWQi.sig"),
    ("aws_access_key_id", "AKIACLIENTEXAMPLE01"),
    ("aws_secret_access_key", "client/secret+key/EXAMPLE"),
    ("aws_session_token", "FwoGZXIvYXdzEXAMPLE=="),
    ("extra_headers", {"X-Team": "blue", "OpenAI-Beta": "assistants=v2"}),
    ("vertex_project", "client-project-1"),
    ("vertex_ai_project", "client-project-1"),
    ("vertex_credentials", SERVICE_ACCOUNT),
    ("vertex_ai_credentials", orjson.dumps(SERVICE_ACCOUNT).decode()),
])
def test_well_formed_values_pass(name, value):
    check_value(name, value)


@pytest.mark.parametrize("name, value", [
    ("api_key", ""),
    ("api_key", 12345),
    ("api_key", "sk-with space"),
    ("api_key", "sk-line\nbreak"),
    ("api_key", "sk-" + "x" * 9000),
    ("organization", ["org"]),
    ("azure_ad_token", "token\r\nX-Injected: 1"),
    ("extra_headers", "X-Team: blue"),
    ("extra_headers", {"Host": "internal.example"}),
    ("extra_headers", {"Transfer-Encoding": "chunked"}),
    ("extra_headers", {"Bad Header": "x"}),
    ("extra_headers", {"X-Team": "blue\r\nX-Injected: 1"}),
    ("extra_headers", {f"X-{i}": "v" for i in range(33)}),
    ("vertex_project", "Bad_Project"),
    ("vertex_project", "p/../../x"),
])
def test_malformed_values_are_refused_without_echoing_them(name, value):
    with pytest.raises(errors.InvalidRequest) as raised:
        check_value(name, value)
    assert raised.value.param == name
    if isinstance(value, str) and len(value) > 3:
        assert value not in raised.value.message


@pytest.mark.parametrize("change, fragment", [
    ({"type": "authorized_user"}, "expected service-account credentials"),
    ({"type": "external_account"}, "expected service-account credentials"),
    ({"token_uri": "https://evil.example/token"}, "token_uri"),
    ({"token_uri": None}, "token_uri"),
    ({"universe_domain": "evil.example"}, "universe_domain"),
    ({"private_key": None}, "private_key"),
    ({"private_key": "not a key"}, "PEM"),
    ({"client_email": None}, "client_email"),
])
def test_only_googles_own_service_accounts_are_accepted(change, fragment):
    info = {**SERVICE_ACCOUNT, **change}
    info = {k: v for k, v in info.items() if v is not None}
    with pytest.raises(errors.InvalidRequest, match=fragment) as raised:
        service_account("vertex_credentials", info)
    assert raised.value.param == "vertex_credentials"


@pytest.fixture
def no_file_reads(monkeypatch):
    """Record any attempt to open or inspect a file; fail the test if one is made."""
    touched: list[str] = []

    def forbid(path, *args, **kwargs):
        touched.append(str(path))
        raise AssertionError(f"file access attempted: {path!r}")

    monkeypatch.setattr(builtins, "open", forbid)
    monkeypatch.setattr(io, "open", forbid)
    for name in ("open", "stat", "lstat", "access"):
        monkeypatch.setattr(os, name, forbid)
    for name in ("exists", "isfile", "getsize"):
        monkeypatch.setattr(os.path, name, forbid)
    return touched


@pytest.mark.parametrize("path", [
    "/etc/passwd",
    "/var/run/secrets/google/key.json",
    "~/.config/gcloud/application_default_credentials.json",
    "file:///etc/passwd",
    "key.json",
])
def test_a_file_path_is_refused_and_never_read(path, no_file_reads):
    with pytest.raises(errors.InvalidRequest) as raised:
        check_value("vertex_credentials", path)
    assert raised.value.param == "vertex_credentials"
    assert "inline service-account JSON" in raised.value.message
    assert path not in raised.value.message
    assert no_file_reads == []


def test_fingerprint_is_a_short_hash_never_a_prefix():
    key = "sk-client-0123456789"
    print_ = fingerprint(key)
    assert print_ == hashlib.sha256(key.encode()).hexdigest()[:8]
    assert len(print_) == 8 and print_ not in key and key[:4] not in print_
    assert fingerprint("sk-other") != print_


def test_secrets_of_a_call_cover_keys_tokens_and_header_values():
    found = secrets_of("sk-client-0123456789", {
        "azure_ad_token": "token-abcdefgh",
        "aws_secret_access_key": "aws-secret-0001",
        "vertex_credentials": SERVICE_ACCOUNT,
        "extra_headers": {"X-Auth": "header-secret-01", "X-Short": "on"},
        "organization": "org-visible-1",
    })
    for secret in ("sk-client-0123456789", "token-abcdefgh", "aws-secret-0001",
                   PEM, "0123456789abcdef", "header-secret-01"):
        assert secret in found
    assert "on" not in found and "org-visible-1" not in found


def test_redact_takes_every_secret_out_of_an_upstream_error():
    error = errors.AuthenticationError(
        "Incorrect API key provided: sk-client-0123456789 (also sk-client-01234)",
        param="sk-client-0123456789", code="invalid_api_key")
    redact(error, ["sk-client-01234", "sk-client-0123456789"])
    assert "sk-client" not in error.message
    assert error.message.count(REDACTED) == 2
    assert error.param == REDACTED
    assert error.code == "invalid_api_key"
    assert error.status == 401


def test_redact_without_secrets_leaves_the_error_alone():
    error = errors.UpstreamServerError("boom")
    assert redact(error, []) is error and error.message == "boom"


def test_a_bearer_header_counts_its_bare_token_as_a_secret():
    found = secrets_of(None, {"extra_headers": {
        "Authorization": "Bearer sk-client-BARE-0123456789"}})
    assert "sk-client-BARE-0123456789" in found
    assert "Bearer sk-client-BARE-0123456789" in found
