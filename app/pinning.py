"""Connects to the address :mod:`app.urlguard` checked, not to a fresh DNS answer.

A rebinding DNS server can give the guard a public address and the connection a
private one a moment later. To leave it no second lookup, :func:`pin` rewrites
a prepared request's URL to the checked IP, puts the client's host name in the
``Host`` header and notes the name on the request. :class:`PinnedAdapter` reads
the note and, for https, hands urllib3 the name as ``server_hostname`` (SNI)
and ``assert_hostname`` (certificate check) through requests'
``build_connection_pool_key_attributes`` hook. urllib3 2 keys its pools on
both, so a pool verified for one name is never reused for another name that
shares the IP.

The adapter never retries (``max_retries=0``). Redirects are followed by the
session, not the adapter: send pinned requests with ``allow_redirects=False``.
Use a session with ``trust_env = False``, so that no proxy or ``.netrc``
credential from the environment is applied to a client's URL::

    session.mount("http://", PinnedAdapter())
    session.mount("https://", PinnedAdapter())
    checked = urlguard.check(api_base, "api_base", policy)
    prepared = session.prepare_request(Request("POST", checked.normalised + path))
    session.send(pin(prepared, checked), allow_redirects=False, timeout=(3, 60))

A pinned request connects to the first checked address only; it does not fall
back to the others. Pinning through an HTTP proxy is not supported or tested.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from requests import PreparedRequest
from requests.adapters import HTTPAdapter

from app.urlguard import CheckedUrl

logger = logging.getLogger(__name__)

_NOTE = "_gateway_pin"


@dataclass(frozen=True)
class Pin:
    """Where a pinned request connects, and the name TLS must verify."""

    address: str
    hostname: str


def pin(request: PreparedRequest, checked: CheckedUrl) -> PreparedRequest:
    """Point ``request`` at the checked address; a no-op if nothing was checked.

    ``request.url`` must begin with ``checked.url.origin``: build it from
    ``checked.normalised``. The request is changed in place and returned.
    """
    if not checked.addresses:
        return request
    origin = checked.url.origin
    url = request.url or ""
    rest = url[len(origin) :]
    # Anything but a path or query after the origin would name another host.
    if not url.startswith(origin) or rest[:1] not in ("", "/", "?"):
        raise ValueError("the request URL is not on the checked origin")

    address = checked.addresses[0]
    bracketed = f"[{address}]" if ":" in address else address
    request.url = f"{checked.url.scheme}://{bracketed}:{checked.url.port}{rest}"
    request.headers["Host"] = checked.url.netloc
    setattr(request, _NOTE, Pin(address, checked.url.host))
    logger.debug("pinned %s to %s", checked.url.host, address)
    return request


def pin_of(request: PreparedRequest) -> Pin | None:
    """The pin :func:`pin` noted on ``request``, if any."""
    note = getattr(request, _NOTE, None)
    return note if isinstance(note, Pin) else None


class PinnedAdapter(HTTPAdapter):
    """An HTTPAdapter that honours :func:`pin` and never retries.

    Requests that were not pinned are sent as a plain HTTPAdapter sends them.
    """

    def __init__(
        self,
        pool_connections: int = 10,
        pool_maxsize: int = 10,
        pool_block: bool = False,
    ) -> None:
        super().__init__(
            pool_connections, pool_maxsize, max_retries=0, pool_block=pool_block
        )

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Add the pinned host name for TLS to the pool's key and settings."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pinned = pin_of(request)
        if pinned is None:
            return host_params, pool_kwargs
        if not _same_address(host_params["host"], pinned.address):
            # The URL was changed after pin(): better no request than a wrong one.
            raise ValueError("a pinned request's URL no longer names its address")

        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = pinned.hostname
            pool_kwargs["assert_hostname"] = pinned.hostname
        return host_params, pool_kwargs


def _same_address(host: str | None, address: str) -> bool:
    try:
        return ipaddress.ip_address(host or "") == ipaddress.ip_address(address)
    except ValueError:
        return False
