"""Shared fixtures: fake upstreams, free ports and gateways that clean up after."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from tests.fakes import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.gateway_proc import free_port as pick_free_port

LOG_TAIL_CHARS = 20_000


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
