"""Form checks for credential values a client sends, and keeping secrets out
of what the gateway says.

A client's credential is used for its own call, but its value still reaches
HTTP headers, URLs and google-auth, so each one must have the shape its
provider expects before anything uses it. Messages never repeat the value.
Where a log line must tell keys apart it shows :func:`fingerprint`, never a
part of the key; :func:`redact` takes a call's secrets out of an upstream's
error message before the client or the log sees it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from app import errors
from app.params import AUTH_ALIASES, CREDENTIAL_PARAMS, URL_PARAMS

MAX_SECRET_CHARS = 8192
MAX_EXTRA_HEADERS = 32

_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\t]{0,4096}")
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,61}[a-z0-9]")
_FORBIDDEN_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "upgrade",
    "te", "trailer", "proxy-authorization", "keep-alive",
})
GOOGLE_TOKEN_URIS = frozenset({
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/token",
})
GOOGLE_UNIVERSE = "googleapis.com"
REDACTED = "[redacted]"
# Shorter values are not looked for in messages: they would match ordinary text.
MIN_REDACTED_CHARS = 8


def refuse(name: str, reason: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(f"The param '{name}' is invalid: {reason}.",
                                 param=name)


def check_value(name: str, value: Any) -> None:
    """Raise a 400 naming ``name`` unless ``value`` has the expected form."""
    canonical = AUTH_ALIASES[name]
    if canonical == "extra_headers":
        check_headers(name, value)
    elif canonical == "vertex_credentials":
        service_account(name, value)
    elif canonical == "vertex_project":
        if not isinstance(value, str) or not _PROJECT.fullmatch(value):
            raise refuse(name, "expected a Google Cloud project id")
    elif canonical not in URL_PARAMS:
        check_secret(name, value)


def check_secret(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise refuse(name, "expected a non-empty string")
    if len(value) > MAX_SECRET_CHARS or not _PRINTABLE.fullmatch(value):
        raise refuse(name, "expected printable characters without spaces")


def check_headers(name: str, value: Any) -> None:
    if not isinstance(value, Mapping) or len(value) > MAX_EXTRA_HEADERS:
        raise refuse(name, f"expected an object of at most {MAX_EXTRA_HEADERS} headers")
    for header, text in value.items():
        if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
            raise refuse(name, "a header name is not a valid HTTP token")
        if header.lower() in _FORBIDDEN_HEADERS:
            raise refuse(name, f"the header '{header}' may not be set")
        if not isinstance(text, str) or not _HEADER_VALUE.fullmatch(text):
            raise refuse(name, f"the value of header '{header}' is not valid")


def service_account(name: str, value: Any) -> dict[str, Any]:
    """A client's Vertex credentials: inline service-account JSON only.

    Never a file path (the gateway must not read its own files for a client)
    and never another credential type; the token endpoint must be Google's.
    """
    info = value
    if isinstance(value, str):
        try:
            info = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise refuse(name, "expected inline service-account JSON") from None
    if not isinstance(info, Mapping) or info.get("type") != "service_account":
        raise refuse(name, "expected service-account credentials")
    if info.get("token_uri") not in GOOGLE_TOKEN_URIS:
        raise refuse(name, "token_uri must be Google's own token endpoint")
    if info.get("universe_domain", GOOGLE_UNIVERSE) != GOOGLE_UNIVERSE:
        raise refuse(name, "universe_domain must be Google's own")
    for required in ("client_email", "private_key"):
        if not isinstance(info.get(required), str):
            raise refuse(name, f"the service account has no {required}")
    if "PRIVATE KEY-----" not in info["private_key"]:
        raise refuse(name, "private_key must be a PEM private key")
    return dict(info)


def fingerprint(secret: str) -> str:
    """A short, stable name for a secret in logs: 8 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def secrets_of(api_key: str | None, credentials: Mapping[str, Any]) -> list[str]:
    """The values of one call that must never be shown: keys, tokens, headers."""
    found = [api_key] if api_key else []
    for name in CREDENTIAL_PARAMS:
        value = credentials.get(name)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping):
            found.extend(str(value.get(k) or "") for k in ("private_key",
                                                          "private_key_id"))
    headers = credentials.get("extra_headers")
    if isinstance(headers, Mapping):
        for value in map(str, headers.values()):
            # "Bearer <token>": upstreams echo the bare token as often as the whole
            found.extend((value, value.partition(" ")[2]))
    return [s for s in found if len(s) >= MIN_REDACTED_CHARS]


def redact(error: errors.GatewayError, secrets: Iterable[str]) -> errors.GatewayError:
    """``error`` with every secret replaced in its message, param and code.

    Upstreams are known to echo a key they refused; the client must not see
    the operator's key that way, nor its own key in an error or a log.
    """
    ordered = sorted(set(secrets), key=len, reverse=True)
    if not ordered:
        return error
    error.message = scrub(error.message, ordered)
    if error.param is not None:
        error.param = scrub(error.param, ordered)
    if error.code is not None and error.code != type(error).code:
        error.code = scrub(error.code, ordered)
    return error


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text
