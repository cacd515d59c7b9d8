"""Shared fixtures: fake upstreams, gateways that clean up after, a network spy
and a fake resolver."""

from __future__ import annotations

import socket
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.gateway_proc import free_port as pick_free_port

LOG_TAIL_CHARS = 20_000
LOOPBACK = ("127.0.0.1", "::1")



@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def fake_upstream_factory() -> Iterator[Callable[..., FakeUpstream]]:
    """Make as many fakes as a test needs: ``make("A", latency_s=0.1)``."""
    made: list[FakeUpstream] = []

    def make(name: str = "X", **options: Any) -> FakeUpstream:
        made.append(FakeUpstream(name, **options))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


@pytest.fixture
def free_port() -> int:
    return pick_free_port()


@pytest.fixture
def make_gateway(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateways from a config; each is stopped and cleaned up at teardown.

    ``make_gateway(config, start=False, workers=2, env={...})``; a failing
    test's report carries each gateway's log.
    """
    made: list[GatewayProcess] = []
    request.node.gateways = made

    def make(
        config: str | dict[str, Any], *, start: bool = True, **options: Any
    ) -> GatewayProcess:
        made.append(GatewayProcess(config, **options))
        return made[-1].start() if start else made[-1]

    yield make
    for gateway in made:
        gateway.cleanup()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the logs of a failing test's gateways to its report."""
    report = yield
    if report.failed:
        for gateway in getattr(item, "gateways", []):
            tail = gateway.log_text()[-LOG_TAIL_CHARS:]
            report.sections.append((f"gateway log ({gateway.url})", tail))
    return report



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
