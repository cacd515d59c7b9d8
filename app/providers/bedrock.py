"""AWS Bedrock: Converse for chat and completions, InvokeModel for embeddings.

Requests are signed with SigV4 by botocore over the exact body bytes handed to
the dispatcher, so nothing may change the body or the signed headers after
``build``. Credentials come from the deployment's ``aws_*`` keys, else from a
Bedrock API key (``api_key``, sent as a bearer token), else, only where the
deployment may use the gateway's environment, from botocore's default chain.
The region comes from ``aws_region_name``, else the endpoint's host name, else
``AWS_REGION``/``AWS_DEFAULT_REGION`` under the same rule. botocore is imported
only when a Bedrock request is built, so the gateway runs without it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from app import errors
from app.providers.base import Call, HttpRequest, dumps, path_segment
from app.providers.bedrock_converse import converse_body, parse_converse
from app.providers.bedrock_embeddings import embeddings_body, parse_embeddings
from app.providers.bedrock_errors import http_error
from app.providers.bedrock_stream import ConverseStream
from app.providers.translating import (
    TranslatingAdapter,
    bearer,
    environment_value,
    json_headers,
)

logger = logging.getLogger(__name__)

DEFAULT_ROOT = "https://bedrock-runtime.{region}.amazonaws.com"
SIGNING_NAME = "bedrock"
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")

_REGION = re.compile(r"[a-z0-9-]{1,40}")
_ENDPOINT_REGION = re.compile(
    r"bedrock-runtime(?:-fips)?\.([a-z0-9-]{1,40})\.amazonaws\.com(?:\.cn)?")


class _DefaultChain:
    """botocore's default credential chain, resolved at most once per process.

    Resolving walks the environment, the shared files and possibly instance
    metadata; what it finds refreshes itself, so one resolution serves all calls.
    """

    def __init__(self) -> None:
        self._found: Any = None

    def get(self) -> Any:
        if self._found is None:
            from botocore.session import get_session

            self._found = get_session().get_credentials()
        return self._found

    def reset(self) -> None:
        self._found = None


DEFAULT_CHAIN = _DefaultChain()


def region(call: Call) -> str:
    """The signing region; a client-given one must look like an AWS region."""
    found = call.credentials.get("aws_region_name") or endpoint_region(call) \
        or environment_value(call, REGION_ENV)
    if not found:
        raise errors.InvalidRequest(
            "This Bedrock deployment has no region: set aws_region_name.",
            param="aws_region_name")
    if not isinstance(found, str) or not _REGION.fullmatch(found):
        raise errors.InvalidRequest(
            "aws_region_name is not a valid AWS region name.",
            param="aws_region_name")
    return found


def endpoint_root(call: Call) -> str | None:
    root = call.api_base or call.credentials.get("aws_bedrock_runtime_endpoint")
    return str(root).rstrip("/") if root else None


def endpoint_region(call: Call) -> str | None:
    root = endpoint_root(call)
    match = _ENDPOINT_REGION.search(root) if root else None
    return match.group(1) if match else None


def url(call: Call, signing_region: str) -> str:
    """The model goes into the path as one segment, every reserved byte encoded."""
    root = endpoint_root(call) or DEFAULT_ROOT.format(region=signing_region)
    if call.endpoint == "embeddings":
        action = "invoke"
    else:
        action = "converse-stream" if call.stream else "converse"
    return f"{root}/model/{path_segment(call.model)}/{action}"


def explicit_credentials(call: Call) -> Any:
    """The deployment's own AWS keys, or None when it gave none."""
    access = call.credentials.get("aws_access_key_id")
    secret = call.credentials.get("aws_secret_access_key")
    if not access and not secret:
        return None
    if not (access and secret):
        raise errors.InvalidRequest(
            "Bedrock needs both aws_access_key_id and aws_secret_access_key.",
            param="aws_access_key_id")
    from botocore.credentials import Credentials

    return Credentials(access, secret, call.credentials.get("aws_session_token"))


def environment_credentials(call: Call) -> Any:
    """Credentials from botocore's chain, where the deployment may use them."""
    found = DEFAULT_CHAIN.get() if call.use_environment_credentials else None
    if found is None:
        raise errors.InvalidRequest(
            "This Bedrock deployment has no credentials: set aws_access_key_id "
            "and aws_secret_access_key, or an api_key.",
            param="model")
    return found.get_frozen_credentials()


class _QuietSigning(logging.Filter):
    """Drops botocore.auth's debug records: they print the canonical request,
    session token included, and the signature."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_QUIET_SIGNING = _QuietSigning()


def signed_headers(credentials: Any, signing_region: str, request: HttpRequest
                   ) -> dict[str, str]:
    """The request's headers plus SigV4's, signed over its exact body bytes."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    signing_log = logging.getLogger("botocore.auth")
    if _QUIET_SIGNING not in signing_log.filters:
        signing_log.addFilter(_QUIET_SIGNING)

    aws_request = AWSRequest(method=request.method, url=request.url,
                             data=request.body, headers=request.headers)
    SigV4Auth(credentials, SIGNING_NAME, signing_region).add_auth(aws_request)
    return dict(aws_request.headers.items())


class BedrockAdapter(TranslatingAdapter):
    name = "bedrock"

    def build_chat(self, call: Call) -> HttpRequest:
        return self.signed(call, converse_body(call))

    def build_embeddings(self, call: Call) -> HttpRequest:
        return self.signed(call, embeddings_body(call))

    def signed(self, call: Call, body: dict[str, Any]) -> HttpRequest:
        """The request for ``body``, signed (or with the API key) as the last step."""
        signing_region = region(call)
        request = HttpRequest("POST", url(call, signing_region), json_headers(call),
                              dumps(body))
        credentials = explicit_credentials(call)
        if credentials is None and call.api_key:
            request.headers.update(bearer(call.api_key))
            return request
        if credentials is None:
            credentials = environment_credentials(call)
        request.headers = signed_headers(credentials, signing_region, request)
        return request

    def parse_chat(self, call: Call, payload: Mapping[str, Any]) -> dict:
        return parse_converse(call, payload)

    def parse_embeddings(self, call: Call, payload: Mapping[str, Any],
                         headers: Mapping[str, str]) -> dict:
        return parse_embeddings(call, payload, headers)

    def stream_chat(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        return ConverseStream(call).relay(raw)

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        return http_error(status, headers, content)


ADAPTER = BedrockAdapter()
