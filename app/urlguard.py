"""Checks client-supplied upstream URLs so a client cannot aim the gateway inward.

A client may name its own ``api_base``. :func:`check` parses it strictly,
resolves the host once and refuses it when any address is not public, unless
the operator listed the host in ``litellm_settings.user_url_allowed_hosts``.
The addresses it returns are the ones to connect to (see :mod:`app.pinning`),
so a DNS answer that changes after the check cannot move the request.

Refused by design, not supported: user info, queries and fragments, non-ASCII
characters (send host names as punycode), IPv6 zone identifiers, host names
with a trailing dot. Names are resolved by the system resolver, with its
timeouts; an answer is judged as a whole, so one private address refuses it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from app import errors
from app.addresses import IPAddress, inet_aton, is_public

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWLIST_SETTING = "litellm_settings.user_url_allowed_hosts"

Resolver = Callable[[str, int], list[str]]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_PORT = re.compile(r"[0-9]{1,5}")
_PATH = re.compile(r"(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*")


@dataclass(frozen=True)
class ClientUrl:
    """A parsed client URL; ``path`` keeps its leading slash and may be empty.

    ``host`` is lower-case, an IPv4 address in dotted decimal however it was
    written, an IPv6 address compressed and without brackets.
    """

    scheme: str
    host: str
    port: int
    path: str
    normalised: str

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``: the part that names the connection."""
        return self.normalised[: len(self.normalised) - len(self.path)]

    @property
    def netloc(self) -> str:
        """``host[:port]`` as written in a URL or a ``Host`` header."""
        return self.origin.partition("://")[2]

    @property
    def ip(self) -> IPAddress | None:
        """The host as an address when it is an IP literal."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


@dataclass(frozen=True)
class CheckedUrl:
    """A URL the gateway may send to, with the addresses to connect to.

    No addresses means the guard was off: connect the ordinary way.
    """

    url: ClientUrl
    addresses: tuple[str, ...]

    @property
    def normalised(self) -> str:
        return self.url.normalised


@dataclass(frozen=True)
class UrlPolicy:
    """The operator's rules: LiteLLM's ``user_url_allowed_hosts`` and
    ``user_url_validation``.

    Entries of ``allowed_hosts`` are ``host`` (any port) or ``host:port``,
    lower-case, IPv6 in brackets; :meth:`from_settings` normalises them.
    """

    allowed_hosts: frozenset[str] = frozenset()
    validate: bool = True

    @classmethod
    def from_settings(
        cls, allowed_hosts: Iterable[str] = (), validate: bool = True
    ) -> UrlPolicy:
        """A policy from config values; raises ValueError on a malformed entry."""
        return cls(frozenset(_allowlist_entry(e) for e in allowed_hosts), validate)


def parse_client_url(value: object, param: str) -> ClientUrl:
    """Parse ``value`` strictly; raise InvalidRequest naming ``param`` if unfit."""
    text = _plain_text(value, param)
    match = _SCHEME.match(text)
    if match is None:
        _refuse(param, f"{param} must be an absolute http or https URL")
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        _refuse(param, f"{param} must use the http or https scheme")

    authority, slash, path = text[match.end() :].partition("/")
    host_text, port_text = _split_authority(authority, param)
    host = _parse_host(host_text, param)
    port = _parse_port(port_text, scheme, param)
    path = slash + path
    if not _PATH.fullmatch(path):
        _refuse(param, f"{param} has a path with characters that must be escaped")

    netloc = f"[{host}]" if ":" in host else host
    if port_text is not None:
        netloc = f"{netloc}:{port}"
    return ClientUrl(scheme, host, port, path, f"{scheme}://{netloc}{path}")


def check(
    value: object, param: str, policy: UrlPolicy, resolver: Resolver | None = None
) -> CheckedUrl:
    """Parse ``value`` and make sure the gateway may send a client's request there.

    Raises InvalidRequest (400) naming ``param`` when it may not. ``resolver``
    replaces the process-wide one (see :func:`set_resolver`) for this call.
    """
    url = parse_client_url(value, param)
    if not policy.validate:
        return CheckedUrl(url, ())
    if _is_allowed(url, policy.allowed_hosts):
        # The operator vouched for the host; resolve it only to pin the connection.
        return CheckedUrl(url, _addresses(url, param, resolver))

    if url.scheme != "https":
        _refuse(
            param,
            f"only https URLs are accepted in {param} unless the operator lists "
            f"the host in {ALLOWLIST_SETTING}",
            url.host,
        )
    addresses = _addresses(url, param, resolver)
    if not all(is_public(ipaddress.ip_address(a)) for a in addresses):
        _refuse(
            param,
            f"{param} must not point to a private, loopback, link-local or "
            f"otherwise non-public address",
            url.host,
        )
    return CheckedUrl(url, addresses)


def resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host``, in its order."""
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    families = (socket.AF_INET, socket.AF_INET6)
    return [str(info[4][0]) for info in infos if info[0] in families]


_replacement: Resolver | None = None


def set_resolver(resolver: Resolver | None) -> Resolver | None:
    """Resolve every later check through ``resolver`` (None: :func:`resolve`).

    A test seam: end-to-end tests swap name resolution process-wide with it.
    Returns the replacement it displaced, to hand back when done.
    """
    global _replacement
    previous, _replacement = _replacement, resolver
    return previous


@contextmanager
def resolver_replaced(resolver: Resolver) -> Iterator[None]:
    """Use ``resolver`` process-wide inside the ``with`` block."""
    previous = set_resolver(resolver)
    try:
        yield
    finally:
        set_resolver(previous)


def _plain_text(value: object, param: str) -> str:
    """The value as a string of visible ASCII without the characters we refuse."""
    if not isinstance(value, str):
        _refuse(param, f"{param} must be a string")
    if not value:
        _refuse(param, f"{param} must not be empty")
    if len(value) > MAX_URL_LENGTH:
        _refuse(param, f"{param} must be at most {MAX_URL_LENGTH} characters")
    if not all("!" <= char <= "~" for char in value):
        _refuse(
            param,
            f"{param} must not contain whitespace, control or non-ASCII characters",
        )
    if "\\" in value:
        _refuse(param, f"{param} must not contain backslashes")
    if "?" in value or "#" in value:
        _refuse(param, f"{param} must not contain a query or a fragment")
    return value


def _split_authority(authority: str, param: str) -> tuple[str, str | None]:
    """The host and port texts; the port is None when none is written."""
    if "@" in authority:
        _refuse(param, f"{param} must not contain user info (an '@' before the host)")
    if not authority.startswith("["):
        host, colon, port = authority.partition(":")
        return host, port if colon else None

    end = authority.find("]")
    rest = authority[end + 1 :]
    if end < 0 or rest[:1] not in ("", ":"):
        _refuse(param, f"{param} has a malformed IPv6 host")
    return authority[: end + 1], rest[1:] if rest else None


def _parse_host(text: str, param: str) -> str:
    """The canonical host: numeric forms become the address they stand for."""
    if text.startswith("["):
        return _parse_ipv6(text[1:-1], param)
    host = text.lower()
    if not host:
        _refuse(param, f"{param} has no host")

    labels = host.split(".")
    # Like browsers: a host ending in a number must be a whole IPv4 address.
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        address = inet_aton(host)
        if address is None:
            _refuse(param, f"{param} has a malformed IPv4 host")
        return str(address)
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        _refuse(param, f"{param} has a malformed host name")
    return host


def _parse_ipv6(text: str, param: str) -> str:
    """The compressed address; a zone (``%25eth0``) names an interface, not a host."""
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        address = None
    if address is None or address.scope_id is not None:
        _refuse(param, f"{param} has a malformed IPv6 host")
    return str(address)


def _parse_port(text: str | None, scheme: str, param: str) -> int:
    if text is None:
        return DEFAULT_PORTS[scheme]
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        _refuse(param, f"{param} must have a port from 1 to 65535")
    return int(text)


def _is_allowed(url: ClientUrl, allowed_hosts: frozenset[str]) -> bool:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host in allowed_hosts or f"{host}:{url.port}" in allowed_hosts


def _allowlist_entry(entry: str) -> str:
    """An allowlist entry in the form :func:`_is_allowed` compares with."""
    try:
        url = parse_client_url(f"http://{entry.strip()}", "user_url_allowed_hosts")
    except errors.InvalidRequest as error:
        raise ValueError(f"user_url_allowed_hosts: {entry!r}: {error}") from None
    if url.path:
        raise ValueError(f"user_url_allowed_hosts: {entry!r} has a path")
    return url.netloc


def _addresses(
    url: ClientUrl, param: str, resolver: Resolver | None
) -> tuple[str, ...]:
    """The addresses to judge and connect to; an IP literal is its own."""
    if url.ip is not None:
        return (str(url.ip),)
    lookup = resolver or _replacement or resolve
    try:
        answer = [str(ipaddress.ip_address(a)) for a in lookup(url.host, url.port)]
    except (OSError, ValueError):
        answer = []
    if not answer:
        _refuse(param, f"the host in {param} could not be resolved", url.host)
    return tuple(dict.fromkeys(answer))


def _refuse(param: str, message: str, host: str | None = None) -> NoReturn:
    """Raise the 400 for ``param``; the log gets our reason and the host only."""
    logger.info("refused the URL in %s: %s (host %s)", param, message, host or "-")
    raise errors.InvalidRequest(message, param=param)
