"""A fake upstream provider: a loopback HTTP/1.1 server that records and scripts.

Each fake answers from scripts (a default one and one per path suffix) whose
replies are served in order, the last one repeating, as the cases describe
them. Every request is recorded as a :class:`Call`. Usage::

    with FakeUpstream("A") as fake:
        fake.script(openai_error(429, "slow down", "requests"), {"sse": sse_ok()})
        ...  # point the gateway at f"{fake.base}/v1"
        assert fake.calls_to("/chat/completions")[0].json["stream"] is True

It binds 127.0.0.1 (or ::1) only, on an ephemeral port.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tests.fake_calls import Call, Headers, parse_call
from tests.fake_replies import (
    Reply,
    as_reply,
    chat_ok,
    completion_ok,
    embeddings_ok,
    error_body,
    openai_error,
    sse_ok,
)
from tests.fake_wire import POLL_S, FakeHTTPServer

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "Call",
    "FakeUpstream",
    "Headers",
    "Reply",
    "chat_ok",
    "completion_ok",
    "embeddings_ok",
    "error_body",
    "openai_error",
    "sse_ok",
]

LOOPBACK = {"127.0.0.1": socket.AF_INET, "::1": socket.AF_INET6}

ReplySpec = Reply | dict[str, Any] | Callable[[Call], Any]


class _Script:
    """Replies served in order; the last one repeats."""

    def __init__(self, replies: list[Reply | Callable[[Call], Any]]) -> None:
        if not replies:
            raise ValueError("a script needs at least one reply")
        self._replies = replies
        self._next = 0

    def take(self) -> Reply | Callable[[Call], Any]:
        reply = self._replies[min(self._next, len(self._replies) - 1)]
        self._next += 1
        return reply


class FakeUpstream:
    """A scripted, recording HTTP/1.1 server on a loopback ephemeral port.

    ``latency_s`` delays every reply; ``max_hold_s`` bounds how long a hang or
    a stall may last even if the fake is never closed; ``keep_calls=False``
    stops recording, so a long benchmark does not grow the fake's memory.
    ``tls`` (a server-side ``ssl.SSLContext``) serves https instead; the
    client's disconnect is then not watched during delays, so script no
    delays, hangs or stalls on a TLS fake.
    """

    def __init__(
        self,
        name: str = "X",
        *,
        latency_s: float = 0.0,
        host: str = "127.0.0.1",
        max_hold_s: float = 120.0,
        keep_calls: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"a fake binds loopback only, not {host!r}")
        self.name, self.host = name, host
        self.latency_s, self.max_hold_s = latency_s, max_hold_s
        self.keep_calls = keep_calls
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._sockets: set[socket.socket] = set()
        self._default: _Script
        self._paths: dict[str, _Script]
        self.clear_scripts()

        self._server = FakeHTTPServer(host, LOOPBACK[host], self)
        self.scheme = "https" if tls is not None else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket,
                                                  server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_S},
            name=f"fake-upstream-{name}",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"FakeUpstream({self.name!r}, {self.base})"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host_port}"

    # Scripts

    def script(self, *responses: ReplySpec) -> None:
        """Replace the default script, used for paths without their own."""
        with self._lock:
            self._default = _Script([self._prepare(item) for item in responses])

    def script_path(self, suffix: str, *responses: ReplySpec) -> None:
        """Script requests whose path ends with ``suffix``; the longest match wins."""
        with self._lock:
            self._paths[suffix] = _Script([self._prepare(item) for item in responses])

    def clear_scripts(self) -> None:
        """Back to answering every path with ``chat_ok("ok-from-<name>")``."""
        default = _Script([Reply(json=chat_ok(f"ok-from-{self.name}"))])
        with self._lock:
            self._default, self._paths = default, {}

    def next_reply(self, call: Call) -> Reply:
        """The reply due for ``call``; a callable in the script is asked now."""
        with self._lock:
            matches = [suffix for suffix in self._paths if call.path.endswith(suffix)]
            script = self._paths[max(matches, key=len)] if matches else self._default
            reply = script.take()
        if isinstance(reply, Reply):
            return reply
        return self._build(reply(call))

    def _prepare(self, spec: ReplySpec) -> Reply | Callable[[Call], Any]:
        """Build a scripted reply once; a callable is kept to be asked later."""
        if callable(spec) and not isinstance(spec, Reply):
            return spec
        return self._build(spec)

    def _build(self, spec: Reply | dict[str, Any]) -> Reply:
        """A reply from its keyword form; the cases' CHAT_OK and SSE_OK name us."""
        if isinstance(spec, dict):
            spec = dict(spec)
            if spec.get("json") == "CHAT_OK":
                spec["json"] = chat_ok(f"ok-from-{self.name}")
            if spec.get("sse") == "SSE_OK":
                spec["sse"] = sse_ok(f"ok-from-{self.name}")
        return as_reply(spec)

    # Records

    def record(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        peer_port: int,
    ) -> Call:
        """Note a request as it arrives; the wire side calls this."""
        call = parse_call(method, target, headers, body, peer_port)
        if self.keep_calls:
            with self._lock:
                self._calls.append(call)
        return call

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, path_suffix: str) -> list[Call]:
        return [call for call in self.calls if call.path.endswith(path_suffix)]

    def reset(self) -> None:
        """Forget the recorded calls; scripts carry on where they were."""
        with self._lock:
            self._calls = []

    def wait_for_calls(
        self, count: int, timeout: float = 5.0, path_suffix: str = ""
    ) -> list[Call]:
        """The matching calls once there are ``count`` of them (or at timeout)."""
        deadline = time.monotonic() + timeout
        while len(found := self.calls_to(path_suffix)) < count:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        return found

    # Lifetime

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            if self.closing.is_set():
                _shut(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def close(self, timeout: float = 2.0) -> None:
        """Stop serving; hanging and stalled replies end, connections drop."""
        with self._lock:
            if self.closing.is_set():
                return
            self.closing.set()
            open_sockets = list(self._sockets)
        self._server.shutdown()
        for sock in open_sockets:
            _shut(sock)
        self._server.server_close()
        self._thread.join(timeout)

        deadline = time.monotonic() + timeout
        while self._sockets and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _shut(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock``; it may already be closed."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
