"""A fast fake OpenAI-compatible upstream for the benchmark, on loopback only.

It must never be the bottleneck, so it is an asyncio protocol with canned
bytes and almost no parsing: it reads the request line, ``Content-Length``
and whether the body asks for a stream (``"stream":true`` as compact JSON
writes it), never the JSON itself. The tests' fake (``tests/fakes.py``) is
thread-per-connection and records every call, which is right for tests and
too slow to stand behind 1,000+ requests a second.

What a path prefix asks for (any path after it is accepted):

- ``/v1/...``: answer at once;
- ``/d/<ms>/v1/...``: answer after ``ms`` milliseconds;
- a streaming request on ``/s/<n>/<ms>/v1/...``: ``n`` chunks, the first at
  once and the next every ``ms`` milliseconds, then ``data: [DONE]``.

Run as ``python bench/fake_upstream.py --port N``; it prints ``ready`` when
it listens and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

HOST = "127.0.0.1"
MAX_HEAD = 64 * 1024

CHAT_BODY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000,
    "model": "bench", "choices": [{
        "index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}, separators=(",", ":")).encode()

STREAM_CHUNK = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion.chunk",
    "created": 1_700_000_000, "model": "bench",
    "choices": [{"index": 0, "delta": {"content": "ok "}, "finish_reason": None}],
}, separators=(",", ":")).encode()


def plain_response(body: bytes) -> bytes:
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(body))
    return head + body


CHAT_RESPONSE = plain_response(CHAT_BODY)
STREAM_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE_CHUNK = http_chunk(b"data: " + STREAM_CHUNK + b"\n\n")
SSE_END = http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"


def content_length(head: bytes) -> int:
    """The ``Content-Length`` of a request head, 0 when it has none."""
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = lowered.find(b"\r\n", at + 2)
    return int(lowered[at + 17:end if end > 0 else None].strip())


def plan(path: bytes) -> tuple[float, int, float]:
    """(delay s, stream chunks, chunk interval s) that a path prefix asks for."""
    parts = path.split(b"/")
    if len(parts) > 2 and parts[1] == b"d":
        return int(parts[2]) / 1000, 0, 0.0
    if len(parts) > 3 and parts[1] == b"s":
        return 0.0, int(parts[2]), int(parts[3]) / 1000
    return 0.0, 1, 0.0


class FakeProtocol(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self.next_request()

    def next_request(self) -> None:
        """Answer every whole request buffered, stopping at a delayed one."""
        while self.transport is not None and not self.busy:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            end = head_end + 4 + content_length(self.buffer[:head_end + 2])
            if len(self.buffer) < end:
                return
            request, self.buffer = self.buffer[:end], self.buffer[end:]
            self.answer(request, head_end)

    def answer(self, request: bytes, head_end: int) -> None:
        path = request[:request.find(b"\r\n")].split(b" ")[1]
        delay, chunks, interval = plan(path)
        streaming = b'"stream":true' in request[head_end:]
        if not streaming and not delay:
            self.transport.write(CHAT_RESPONSE)  # type: ignore[union-attr]
            return
        self.busy = True
        loop = asyncio.get_running_loop()
        if streaming:
            self.transport.write(STREAM_HEAD)  # type: ignore[union-attr]
            self.send_chunk(loop, max(chunks, 1), interval)
        else:
            loop.call_later(delay, self.finish, CHAT_RESPONSE)

    def send_chunk(self, loop: asyncio.AbstractEventLoop, left: int,
                   interval: float) -> None:
        if self.transport is None:
            return
        if left == 0:
            self.finish(SSE_END)
            return
        self.transport.write(SSE_CHUNK)
        loop.call_later(interval, self.send_chunk, loop, left - 1, interval)

    def finish(self, data: bytes) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        self.busy = False
        self.next_request()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FakeProtocol, HOST, port, backlog=4096)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
