"""Says which IP addresses a client may make the gateway connect to.

Deny by default for IPv6 (only global unicast, 2000::/3, minus special ranges);
for IPv4 every special-purpose range is listed. An IPv6 address that carries an
IPv4 one (mapped, compatible, NAT64, 6to4) is judged by the IPv4 address, which
is where its packets go. :func:`inet_aton` reads the numeric host forms that
resolvers accept, so a host such as ``0x7f.1`` is judged as 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Listed rather than left to ``is_global``, whose ranges differ between Pythons.
_BLOCKED_V4 = _networks(
    "0.0.0.0/8",  # "this network", with the unspecified address
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, with cloud metadata at 169.254.169.254
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation
    "192.88.99.0/24",  # 6to4 relay anycast
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation
    "203.0.113.0/24",  # documentation
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, with the broadcast address
)
# Outside 2000::/3 lie loopback, unspecified, unique-local (fc00::/7, with
# AWS's fd00:ec2::254), link-local, multicast and local-use NAT64.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_BLOCKED_V6 = _networks(
    "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
)
# IPv6 forms whose low 32 bits are an IPv4 address the packet really goes to.
_EMBEDDING_V6 = _networks(
    "::/96",  # IPv4-compatible, with :: and ::1
    "::ffff:0:0/96",  # IPv4-mapped
    "64:ff9b::/96",  # NAT64 well-known prefix
)


def is_public(address: IPAddress) -> bool:
    """Whether a client may make the gateway connect to ``address``."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
        return (
            address in _GLOBAL_UNICAST_V6
            and not any(address in network for network in _BLOCKED_V6)
            and address.is_global
        )
    return not any(address in network for network in _BLOCKED_V4) and address.is_global


def inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The address C's ``inet_aton`` reads in ``text``, or None if it reads none.

    Resolvers take 2130706433, 0177.0.0.1, 0x7f.1 and 127.1 for 127.0.0.1, so
    the guard must read them the same way before it judges the address.
    """
    parts = text.split(".")
    if len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        number = _inet_number(part)
        if number is None:
            return None
        numbers.append(number)

    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 1 << (32 - 8 * len(leading)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def _inet_number(part: str) -> int | None:
    """One part of an ``inet_aton`` address: hex with 0x, octal with 0, decimal."""
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", part):
        return int(part[2:], 16)
    if re.fullmatch(r"0[0-7]*", part):
        return int(part, 8)
    if re.fullmatch(r"[1-9][0-9]*", part):
        return int(part)
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a mapped, compatible, NAT64 or 6to4 address reaches."""
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _EMBEDDING_V6):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
