"""The workers' resolver: IP addresses inline, names on gevent's thread pool."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import gevent
import pytest

from app.resolver import NumericFirstResolver

REPO_ROOT = Path(__file__).resolve().parent.parent
NAME_ANSWER = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 443))]


class RecordingPool:
    """Stands in for gevent's thread pool: records what it was asked to run."""

    def __init__(self) -> None:
        self.asked: list[tuple] = []

    def apply(self, function, args, kwargs=None):
        self.asked.append(args)
        return NAME_ANSWER


@pytest.fixture
def resolver():
    found = NumericFirstResolver(hub=gevent.get_hub())
    found.pool = RecordingPool()
    return found


@pytest.mark.parametrize("host, family", [
    ("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6),
])
def test_an_ip_address_is_answered_without_the_thread_pool(resolver, host, family):
    answer = resolver.getaddrinfo(host, 8080, 0, socket.SOCK_STREAM)
    assert resolver.pool.asked == []
    assert answer == socket.getaddrinfo(host, 8080, 0, socket.SOCK_STREAM)
    assert answer[0][0] == family


@pytest.mark.parametrize("host, port", [
    ("api.example.test", 443),
    ("127.0.0.1", "https"),  # a service name may need a lookup too
])
def test_a_name_goes_to_the_thread_pool(resolver, host, port):
    answer = resolver.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    assert answer == NAME_ANSWER
    assert resolver.pool.asked == [(host, port, 0, socket.SOCK_STREAM, 0, 0)]


def test_the_shipped_gunicorn_config_selects_it(monkeypatch):
    monkeypatch.setenv("GEVENT_RESOLVER", "unset")
    monkeypatch.delenv("GEVENT_RESOLVER")
    settings: dict = {}
    exec((REPO_ROOT / "config" / "gunicorn.conf.py").read_text(), settings)
    chosen = os.environ["GEVENT_RESOLVER"]
    config = gevent._config.Config()
    config.set("resolver", chosen)
    assert config.resolver is NumericFirstResolver


def test_an_operator_choice_of_resolver_is_kept(monkeypatch):
    monkeypatch.setenv("GEVENT_RESOLVER", "ares")
    exec((REPO_ROOT / "config" / "gunicorn.conf.py").read_text(), {})
    assert os.environ["GEVENT_RESOLVER"] == "ares"
