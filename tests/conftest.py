"""Fixtures shared by the test modules."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import pytest

LOOPBACK = ("127.0.0.1", "::1")


@dataclass
class NetworkSpy:
    """What the code under test tried to reach."""

    lookups: list[Any] = field(default_factory=list)
    connects: list[tuple[Any, ...]] = field(default_factory=list)


@pytest.fixture
def network_spy(monkeypatch: pytest.MonkeyPatch) -> NetworkSpy:
    """Record name lookups and connects, and fail any that would leave loopback.

    Only the literal addresses 127.0.0.1 and ::1 get through, so a test using
    this fixture can neither query real DNS nor reach any other host: a refusal
    it proves was made before a connection, not by one failing.
    """
    spy = NetworkSpy()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        spy.lookups.append(host)
        _require_loopback(host, "name lookup")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock: socket.socket, address: Any) -> Any:
        spy.connects.append(tuple(address))
        _require_loopback(address[0], "connect")
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> Any:
        spy.connects.append(tuple(address))
        _require_loopback(address[0], "connect")
        return real_connect_ex(sock, address)

    def no_lookup(host: Any, *args: Any) -> Any:
        spy.lookups.append(host)
        raise AssertionError(f"name lookup attempted: {host!r}")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        monkeypatch.setattr(socket, name, no_lookup)
    return spy


def _require_loopback(host: Any, what: str) -> None:
    if host not in LOOPBACK:
        raise AssertionError(f"{what} to a non-loopback host attempted: {host!r}")


class FakeResolver:
    """A resolver answering from a table, recording what it was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.answers[host])


@pytest.fixture
def fake_resolver() -> FakeResolver:
    """Public, private and mixed answers for the names the tests use."""
    return FakeResolver(
        {
            "api.example.com": ["8.8.8.8"],
            "dual.example.com": ["8.8.4.4", "2001:4860:4860::8888"],
            "allowed.example": ["8.8.8.8"],
            "evil.example": ["8.8.4.4"],
            "loopback.test": ["127.0.0.1"],
            "mixed.test": ["8.8.8.8", "10.0.0.1"],
            "mapped.test": ["::ffff:10.0.0.1"],
            "empty.test": [],
            "junk.test": ["not-an-address"],
            "pinned.test": ["127.0.0.1"],
        }
    )
