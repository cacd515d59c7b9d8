"""The launcher runs an app under gunicorn on loopback and keeps its log.

The real gateway is not needed here: each test writes a stand-in ``wsgi.py``
and ``config/gunicorn.conf.py`` into its own temporary directory.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.gateway_proc import GatewayProcess, GatewayStartError

STAND_IN_APP = """
import json, os, sys

print("stand-in booting", flush=True)
if os.environ.get("STAND_IN_FAIL"):
    raise RuntimeError("stand-in refuses to start")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    print(f"stand-in served {path}", file=sys.stderr, flush=True)
    status, body = "200 OK", b"alive"
    if path == "/health/liveliness" and os.environ.get("STAND_IN_UNHEALTHY"):
        status = "503 Service Unavailable"
    elif path == "/config":
        with open(os.environ["CONFIG_FILE_PATH"], "rb") as config:
            body = config.read()
    elif path == "/env":
        body = json.dumps(dict(os.environ)).encode()
    start_response(status, [("Content-Length", str(len(body)))])
    return [body]
"""

STAND_IN_GUNICORN = """
import os

bind = f"{os.environ['GATEWAY_BIND_HOST']}:{os.environ['PORT']}"
workers = int(os.environ["WEB_CONCURRENCY"])
worker_class = "gevent"
"""


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    """A directory holding a tiny app laid out like the gateway's repo root."""
    (tmp_path / "config").mkdir()
    (tmp_path / "wsgi.py").write_text(STAND_IN_APP)
    (tmp_path / "config" / "gunicorn.conf.py").write_text(STAND_IN_GUNICORN)
    return tmp_path


def get(gateway: GatewayProcess, path: str) -> requests.Response:
    return requests.get(gateway.url + path, timeout=5)


def test_starts_on_loopback_with_config_and_environment(
    stand_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    config = {"model_list": [{"model_name": "m"}]}
    with GatewayProcess(
        config, workers=2, env={"EXTRA": "yes"}, cwd=stand_in
    ) as gateway:
        assert gateway.url.startswith("http://127.0.0.1:")
        assert "model_name: m" in get(gateway, "/config").text
        env = json.loads(get(gateway, "/env").text)

    assert env["PORT"] == str(gateway.port)
    assert env["WEB_CONCURRENCY"] == "2" and env["EXTRA"] == "yes"
    assert env["GATEWAY_BIND_HOST"] == "127.0.0.1"
    assert "HTTPS_PROXY" not in env


def test_log_captures_output_and_outlives_cleanup(stand_in: Path) -> None:
    gateway = GatewayProcess("{}", cwd=stand_in).start()
    get(gateway, "/config")
    assert "stand-in booting" in gateway.log_text()

    gateway.cleanup()
    assert not gateway.workdir.exists()
    assert "stand-in served /config" in gateway.log_text()
    assert "Control socket" not in gateway.log_text()


def test_stop_ends_the_server_and_restart_reads_the_new_config(
    stand_in: Path,
) -> None:
    with GatewayProcess("first: 1\n", cwd=stand_in) as gateway:
        url = gateway.url
        assert gateway.stop() == 0 and not gateway.running
        with pytest.raises(requests.ConnectionError):
            get(gateway, "/config")

        gateway.restart("second: 2\n")
        assert gateway.url == url
        assert get(gateway, "/config").text == "second: 2\n"


def test_an_app_that_cannot_boot_fails_fast_with_its_log(stand_in: Path) -> None:
    gateway = GatewayProcess("{}", env={"STAND_IN_FAIL": "1"}, cwd=stand_in)
    started = time.monotonic()
    with pytest.raises(GatewayStartError, match="stand-in refuses to start"):
        gateway.start(timeout=15)
    assert time.monotonic() - started < 10
    assert not gateway.running
    gateway.cleanup()


def test_an_unhealthy_app_times_out(stand_in: Path) -> None:
    gateway = GatewayProcess("{}", env={"STAND_IN_UNHEALTHY": "1"}, cwd=stand_in)
    with pytest.raises(GatewayStartError, match="not healthy within 1.5 s"):
        gateway.start(timeout=1.5)
    assert not gateway.running
    gateway.cleanup()


def test_a_taken_port_is_replaced(stand_in: Path) -> None:
    gateway = GatewayProcess("{}", cwd=stand_in)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", gateway.port))
        squatter.listen()
        taken = gateway.port
        with gateway:
            assert gateway.port != taken
            assert get(gateway, "/health/liveliness").status_code == 200


def test_a_non_loopback_bind_is_refused() -> None:
    with pytest.raises(ValueError):
        GatewayProcess("{}", env={"GATEWAY_BIND_HOST": "0.0.0.0"})


def test_make_gateway_fixture_starts_and_cleans_up(
    stand_in: Path, make_gateway: Callable[..., GatewayProcess]
) -> None:
    gateway = make_gateway({"general_settings": {}}, cwd=stand_in)
    assert gateway.running
    assert get(gateway, "/health/liveliness").status_code == 200
    assert make_gateway("{}", start=False, cwd=stand_in).running is False
