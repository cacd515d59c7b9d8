"""The processes a benchmark run stands up: the fake upstream and the gateway.

The gateway runs as it ships: ``gunicorn -c config/gunicorn.conf.py wsgi:app``
with the shipped worker settings (gevent, ``WEB_CONCURRENCY`` 2), on
127.0.0.1, with a config whose deployments point at the fake and that turns
every feature on: a master key, a clientside ``api_base`` allowance, and
``user_config``. Start-up time is taken from the launch of the gunicorn
master to the first answered chat request.
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
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MASTER_KEY = "sk-bench-master"
OPERATOR_KEY = "sk-bench-operator"
CLIENT_KEY = "sk-bench-client"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
READY_POLL_S = 0.005
STOP_WAIT_S = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class StreamShape:
    chunks: int
    interval_ms: int


def bench_config(fake_port: int, stream: StreamShape) -> dict:
    """Every deployment on the fake; every feature of the gateway switched on."""
    origin = f"http://{HOST}:{fake_port}"

    def deployment(name: str, prefix: str) -> dict:
        return {"model_name": name, "litellm_params": {
            "model": "openai/bench", "api_base": f"{origin}{prefix}/v1",
            "api_key": OPERATOR_KEY,
            "configurable_clientside_auth_params": [
                "api_key", {"api_base": rf"http://127\.0\.0\.1:{fake_port}/v1"}],
        }}

    shape = f"/s/{stream.chunks}/{stream.interval_ms}"
    return {
        "model_list": [deployment("fast", ""), deployment("slow", "/d/50"),
                       deployment("stream", shape)],
        "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 2,
                            "allowed_fails": 3, "cooldown_time": 5},
        "litellm_settings": {"user_url_allowed_hosts": [f"{HOST}:{fake_port}"]},
        "general_settings": {"master_key": MASTER_KEY, "allow_user_config": True},
    }


class FakeUpstream:
    """``bench/fake_upstream.py`` in its own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_upstream", "--port", str(self.port)],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the fake upstream did not start")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        stop_process(self.proc)


class Gateway:
    """The gateway under gunicorn with the shipped settings, on loopback."""

    def __init__(self, config: dict, workers: int = 2) -> None:
        self.port = free_port()
        self.workers = workers
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
        self.config_path = self.workdir / "config.yaml"
        self.log_path = self.workdir / "gateway.log"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        major, minor = (int(p) for p in version("gunicorn").split(".")[:2])
        own_socket = ["--no-control-socket"] if (major, minor) >= (25, 1) else []
        return [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                *own_socket, "wsgi:app"]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in PROXY_VARIABLES}
        env.update(CONFIG_FILE_PATH=str(self.config_path), PORT=str(self.port),
                   GATEWAY_BIND_HOST=HOST, WEB_CONCURRENCY=str(self.workers))
        return env

    def start(self, probe: bytes, timeout_s: float = 20.0) -> float:
        """Launch gunicorn; seconds until ``probe`` (a request) is answered 200."""
        started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), cwd=REPO_ROOT, env=self.environment(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        while time.perf_counter() - started < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited:\n{self.log_text()}")
            if answered(self.port, probe):
                return time.perf_counter() - started
            time.sleep(READY_POLL_S)
        raise RuntimeError(f"the gateway did not answer:\n{self.log_text()}")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        listing = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(pid) for pid in listing.read_text().split()]
        except OSError:
            return []

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc, group=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def answered(port: int, probe: bytes) -> bool:
    """Whether one raw request to ``port`` is answered 200."""
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as sock:
            sock.sendall(probe)
            response = http.client.HTTPResponse(sock)
            response.begin()
            response.read()
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak) and VmRSS (now) of a process, in kB."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


def stop_process(proc: subprocess.Popen | None, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after a grace period; only our own child."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(STOP_WAIT_S)
