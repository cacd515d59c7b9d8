"""The wire side of the fake upstream: read one request, play one scripted reply.

Every wait (a delay, the gap between events, a hang, a stall) watches the
socket, so a client that goes away is noticed even when nothing is being
written, and watches the server's closing flag, so no wait outlives it.
"""

from __future__ import annotations

import select
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import TYPE_CHECKING, Any

from tests.fake_replies import Reply

if TYPE_CHECKING:
    from tests.fake_calls import Call
    from tests.fakes import FakeUpstream

POLL_S = 0.05
TERMINATOR = b"0\r\n\r\n"
MAX_LINE = 65_537
MAX_REQUEST_CHUNKS = 100_000

# What a wait ended with.
ELAPSED, HANGUP, CLOSING = "elapsed", "hangup", "closing"


class FakeHTTPServer(ThreadingHTTPServer):
    """A threaded server that never joins its handlers: the fake ends them itself."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, host: str, family: int, upstream: FakeUpstream) -> None:
        self.address_family = family
        self.upstream = upstream
        super().__init__((host, 0), FakeHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse lookup of the host name."""
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port


class FakeHandler(BaseHTTPRequestHandler):
    """Serves one connection; keep-alive unless a reply ends it.

    A call's record is updated just before each write, so a client that has
    read a reply already sees it recorded; a failed write takes it back.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FakeHTTPServer

    @property
    def upstream(self) -> FakeUpstream:
        return self.server.upstream

    def setup(self) -> None:
        super().setup()
        self.upstream.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.upstream.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read the recorded calls, not a request log."""

    def serve(self) -> None:
        """Record the request, then play the next scripted reply for it."""
        call = self.upstream.record(
            self.command,
            self.path,
            self.headers.items(),
            self._read_body(),
            self.client_address[1],
        )
        try:
            self._play(call, self._reply_for(call))
        except OSError:
            # A write failed: the client hung up, unless we are shutting down.
            self._mark_gone(call, hangup=not self.upstream.closing.is_set())
        finally:
            call.ended.set()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = serve

    def _reply_for(self, call: Call) -> Reply:
        """The next reply; a script that raises answers 500 with the error."""
        try:
            return self.upstream.next_reply(call)
        except Exception as exc:  # noqa: BLE001 - a broken script must show, not hang
            return Reply(status=500, body=f"fake upstream script raised: {exc!r}")

    def _play(self, call: Call, reply: Reply) -> None:
        delay = self.upstream.latency_s + reply.delay_s
        if delay and self._pause(call, delay):
            return
        if reply.hang:
            self._pause(call, self.upstream.max_hold_s)
            self.close_connection = True
        elif reply.is_stream:
            self._stream(call, reply)
        else:
            call.status, call.completed = reply.status, True
            self.wfile.write(reply.head(self.close_connection) + reply.payload())

    def _stream(self, call: Call, reply: Reply) -> None:
        """Send events one by one, then finish, stall or drop as scripted."""
        events = reply.wire_events()
        cut = reply.stall_after_chunks
        if cut is None:
            cut = reply.close_after_chunks
        call.status = reply.status
        self.wfile.write(reply.head(self.close_connection))

        for index, event in enumerate(events[:cut]):
            gap = reply.chunk_interval_s if index else 0.0
            if gap and self._pause(call, gap):
                return
            call.chunk_times.append(time.monotonic())
            self.wfile.write(event)

        if reply.stall_after_chunks is not None:
            self._pause(call, self.upstream.max_hold_s)
            self.close_connection = True
        elif reply.close_after_chunks is not None:
            self._drop()
        else:
            call.completed = True
            self.wfile.write(TERMINATOR)

    def _drop(self) -> None:
        """End the connection mid-reply, without the final chunk."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _pause(self, call: Call, seconds: float) -> bool:
        """Wait; True when the reply must stop (client gone or server closing)."""
        outcome = self._wait(seconds)
        if outcome != ELAPSED:
            self._mark_gone(call, hangup=outcome == HANGUP)
        return outcome != ELAPSED

    def _mark_gone(self, call: Call, hangup: bool) -> None:
        self.close_connection = True
        call.completed = False
        call.stream_closed = call.stream_closed or hangup

    def _wait(self, seconds: float) -> str:
        """Sleep up to ``seconds`` while watching the client and the closing flag."""
        closing = self.upstream.closing
        deadline = time.monotonic() + min(seconds, self.upstream.max_hold_s)
        for _ in range(int(self.upstream.max_hold_s / POLL_S) + 2):
            left = deadline - time.monotonic()
            if closing.is_set():
                return CLOSING
            if left <= 0:
                return ELAPSED
            readable, _, _ = select.select([self.connection], [], [], min(left, POLL_S))
            if readable and not closing.is_set():
                return self._after_readable(left)
        return ELAPSED

    def _after_readable(self, left: float) -> str:
        """End of stream or reset means the client left; other bytes are waited out."""
        try:
            gone = self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            gone = True
        if gone:
            return HANGUP
        return CLOSING if self.upstream.closing.wait(left) else ELAPSED

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        return b""

    def _read_chunked(self) -> bytes:
        """Read a chunked request body and drop its trailers."""
        parts = []
        for _ in range(MAX_REQUEST_CHUNKS):
            size_line = self.rfile.readline(MAX_LINE).split(b";")[0].strip()
            size = int(size_line or b"0", 16)
            if size == 0:
                break
            parts.append(self.rfile.read(size))
            self.rfile.readline(MAX_LINE)
        for _ in range(MAX_REQUEST_CHUNKS):
            if self.rfile.readline(MAX_LINE) in (b"\r\n", b"\n", b""):
                break
        return b"".join(parts)
