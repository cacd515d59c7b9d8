"""Shared fixtures: fake upstreams that close after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes import FakeUpstream


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
