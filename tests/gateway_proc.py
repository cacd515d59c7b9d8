"""The real gateway under gunicorn, as a child process for end-to-end tests.

The child gets its config through ``CONFIG_FILE_PATH`` and its address through
``PORT`` and ``GATEWAY_BIND_HOST=127.0.0.1``, so it listens on loopback only.
Proxy variables are dropped from its environment: a test's upstream calls go
straight to the fakes on loopback, never through a proxy.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from typing_extensions import Self

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
HEALTH_PATH = "/health/liveliness"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
PORT_ATTEMPTS = 3
TERM_WAIT_S = 2.0


class GatewayStartError(RuntimeError):
    """The gateway exited or never became healthy; the message holds its log."""


def free_port(host: str = HOST) -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _own_control_args() -> list[str]:
    """Keep test servers off gunicorn's one control socket per user.

    Since gunicorn 25.1 every server listens on the same socket under the home
    directory, so two gateways in one test run would take it from each other.
    """
    major, minor = (int(part) for part in version("gunicorn").split(".")[:2])
    return ["--no-control-socket"] if (major, minor) >= (25, 1) else []


def _signal_children(pid: int, signum: int) -> None:
    """Signal the direct children of ``pid``, where Linux lists them."""
    listing = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        children = [int(child) for child in listing.read_text().split()]
    except OSError:
        return
    for child in children:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass


def _config_yaml(config: str | dict[str, Any]) -> str:
    if isinstance(config, str):
        return config
    return yaml.safe_dump(config, sort_keys=False)


class GatewayProcess:
    """One gunicorn-served gateway on a loopback port, with its log kept.

    ``cwd`` is where ``wsgi.py`` and ``config/gunicorn.conf.py`` live: the repo
    root unless a test brings a stand-in app.
    """

    def __init__(
        self,
        config_text: str | dict[str, Any],
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] | list[str] = (),
        cwd: str | Path | None = None,
    ) -> None:
        self.workers = workers
        self.extra_env = dict(env or {})
        if self.extra_env.get("GATEWAY_BIND_HOST", HOST) != HOST:
            raise ValueError(f"the gateway under test binds {HOST} only")
        self.extra_args = tuple(extra_args)
        self.cwd = Path(cwd) if cwd is not None else REPO_ROOT
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="gateway-"))
        self.config_path = self.workdir / "config.yaml"
        self.log_path = self.workdir / "gateway.log"
        self.config_path.write_text(_config_yaml(config_text))
        self._proc: subprocess.Popen[bytes] | None = None
        self._final_log: str | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        gunicorn = ["-m", "gunicorn", "-c", "config/gunicorn.conf.py"]
        app = [*_own_control_args(), "wsgi:app", *self.extra_args]
        return [sys.executable, *gunicorn, *app]

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key.lower() not in PROXY_VARIABLES
        }
        env.update(
            CONFIG_FILE_PATH=str(self.config_path),
            PORT=str(self.port),
            WEB_CONCURRENCY=str(self.workers),
            GATEWAY_BIND_HOST=HOST,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 15.0) -> Self:
        """Launch gunicorn and wait until the liveliness probe answers 200.

        If another process took the chosen port meanwhile, pick a new one.
        """
        if self.running:
            raise RuntimeError(f"gateway already running on {self.url}")
        for _ in range(PORT_ATTEMPTS):
            if self._start_once(timeout):
                return self
            self.port = free_port()
        raise self._start_error(f"found no free port in {PORT_ATTEMPTS} tries")

    def _start_once(self, timeout: float) -> bool:
        """One launch; False when it failed only because its port was taken."""
        log_mark = len(self.log_text())
        self._launch()
        try:
            self._await_health(timeout)
        except GatewayStartError:
            self.stop()
            if not self._lost_port(log_mark):
                raise
            return False
        return True

    def _launch(self) -> None:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _lost_port(self, log_mark: int) -> bool:
        """Whether the last launch failed only because its port was in use."""
        return "Connection in use" in self.log_text()[log_mark:]

    def _await_health(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise self._start_error("exited during start-up")
            if self._probe() == 200:
                return
            time.sleep(0.05)
        raise self._start_error(f"was not healthy within {timeout} s")

    def _probe(self) -> int | None:
        """The liveliness status, or None while nothing answers."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=1.0)
        try:
            conn.request("GET", HEALTH_PATH)
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def _start_error(self, what: str) -> GatewayStartError:
        return GatewayStartError(
            f"gateway on {self.url} {what}; log:\n{self.log_text()}"
        )

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL to the process group; the exit code, if any."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(TERM_WAIT_S)
        except subprocess.TimeoutExpired:
            # A worker forked just before the signal still ran the master's
            # handler and missed it; by now it listens for its own.
            _signal_children(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(grace_s)

    def restart(self, config_text: str | dict[str, Any] | None = None) -> None:
        """Stop, optionally rewrite the config, start again on the same port."""
        self.stop()
        if config_text is not None:
            self.config_path.write_text(_config_yaml(config_text))
        self.start()

    def log_text(self) -> str:
        """Everything the gateway has logged so far (kept after cleanup)."""
        if self._final_log is not None:
            return self._final_log
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cleanup(self) -> None:
        """Stop the gateway and remove its files, keeping the log text."""
        self.stop()
        if self._final_log is None:
            self._final_log = self.log_text()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()
