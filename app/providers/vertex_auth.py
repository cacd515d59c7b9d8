"""OAuth access tokens for Vertex AI, from a service account key or ADC, cached.

google-auth is imported only when a token is first needed, so the gateway
loads this module without it. An explicit credential must be a service
account key: a dict, its JSON text, or (for a deployment allowed to use the
gateway's environment, that is an operator's) a path to the key file. Other
credential types (``authorized_user``, ``external_account``) are refused: their
refresh reaches URLs and files that the credential itself names. For the same
reason a deployment that may not use the environment (a client's own
credential) must keep Google's token endpoint. Tokens are cached per
credential, keyed by a hash of its JSON, until five minutes before expiry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app import errors

logger = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
REFRESH_MARGIN = 300.0  # seconds before expiry at which a token is replaced
UNKNOWN_LIFETIME = 3000.0  # seconds to keep a token whose expiry is not known
ADC = "application-default"


@dataclass(frozen=True)
class Token:
    value: str
    fresh_until: float  # epoch seconds
    project: str | None


def credential_info(value: Any, allow_files: bool) -> dict:
    """The service account key in ``value``, checked before any use."""
    if isinstance(value, Mapping):
        info = dict(value)
    elif isinstance(value, str) and value.lstrip().startswith("{"):
        info = parse_json(value)
    elif isinstance(value, str) and allow_files:
        info = read_key_file(value)
    else:
        raise errors.InvalidRequest(
            "vertex_credentials must be a service account key as JSON.",
            param="vertex_credentials")
    if info.get("type") != "service_account":
        raise errors.InvalidRequest(
            "vertex_credentials must be a service account key "
            "(type 'service_account').", param="vertex_credentials")
    if not allow_files and info.get("token_uri", GOOGLE_TOKEN_URI) != GOOGLE_TOKEN_URI:
        raise errors.InvalidRequest(
            "vertex_credentials must use Google's token endpoint.",
            param="vertex_credentials")
    return info


def parse_json(text: str) -> dict:
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        raise errors.InvalidRequest("vertex_credentials is not valid JSON.",
                                    param="vertex_credentials")
    return info


def read_key_file(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_json(handle.read())
    except OSError:
        logger.warning("the Vertex AI credentials file could not be read")
        raise errors.InvalidRequest(
            "The deployment's vertex_credentials file cannot be read.",
            param="vertex_credentials") from None


def credential_key(info: Mapping[str, Any] | None) -> str:
    """The cache key of a credential: a hash, so the cache holds no key text."""
    if info is None:
        return ADC
    canonical = json.dumps(info, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class TokenCache:
    """Access tokens by credential; one refresh at a time per process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def token(self, info: Mapping[str, Any] | None) -> Token:
        """A fresh token for ``info``, or from ADC when ``info`` is None."""
        key = credential_key(info)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.fresh_until > self.clock():
                return cached
            token = fetch_token(info, self.clock())
            self._tokens[key] = token
            return token

    def forget(self, info: Mapping[str, Any] | None) -> None:
        """Drop a token Google refused, so the next attempt gets a new one."""
        with self._lock:
            self._tokens.pop(credential_key(info), None)


def fetch_token(info: Mapping[str, Any] | None, now: float) -> Token:
    """Refresh a credential with google-auth; its errors become ours here."""
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests
    from google.oauth2 import service_account

    try:
        if info is None:
            credentials, project = google.auth.default(scopes=list(SCOPES))
        else:
            credentials = service_account.Credentials.from_service_account_info(
                dict(info), scopes=list(SCOPES))
            project = info.get("project_id")
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.DefaultCredentialsError:
        raise errors.InvalidRequest(
            "The deployment has no credentials for provider 'vertex_ai' and none "
            "were found in the environment.") from None
    except google.auth.exceptions.RefreshError:
        logger.warning("Google refused to refresh a Vertex AI credential")
        raise errors.AuthenticationError(
            "Google refused the Vertex AI credentials.") from None
    except google.auth.exceptions.TransportError:
        raise errors.BadGateway(
            "Google's token endpoint could not be reached.") from None
    except ValueError:
        raise errors.InvalidRequest(
            "vertex_credentials is not a usable service account key.",
            param="vertex_credentials") from None
    return Token(credentials.token, fresh_until(credentials.expiry, now), project)


def fresh_until(expiry: datetime | None, now: float) -> float:
    """When to stop using a token: google-auth gives expiry as naive UTC."""
    if expiry is None:
        return now + UNKNOWN_LIFETIME
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=timezone.utc)
    return expiry.timestamp() - REFRESH_MARGIN
