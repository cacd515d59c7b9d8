"""The benchmark's Python load generator: closed loops and held streams, on gevent.

Each run is one process (``python -m bench.loadgen SPEC``, SPEC a JSON
object) that prints one JSON result line, so it never shares a GIL with the
gateway, the fake upstream or another generator. It speaks HTTP/1.1 over raw
gevent sockets with requests serialised once, which keeps it cheap enough to
load a gateway that answers 1,000+ requests a second; ``wrk`` is cheaper still
and is preferred for the throughput runs when it is installed.

Kinds of run:

- ``closed``: ``concurrency`` keep-alive connections, each sending the next
  request as soon as the last answer is read, for ``duration_s``;
- ``streams``: ``count`` streaming requests opened evenly over ``ramp_s``,
  each read to its end, recording the time to its first chunk.

Only loopback addresses are accepted as targets.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

HOST = "127.0.0.1"
RECV = 65536
OVERHEAD_HEADER = b"x-litellm-overhead-duration-ms:"
CONNECT_TIMEOUT_S = 5.0
LAST_CHUNK = b"\r\n0\r\n\r\n"


class Broken(Exception):
    """The connection ended or answered something unreadable."""


def build_request(port: int, path: str, body: bytes, headers: dict[str, str],
                  close: bool = False) -> bytes:
    """One serialised HTTP/1.1 POST, sent as is on every loop."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}:{port}",
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             f"Connection: {'close' if close else 'keep-alive'}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_head(sock, buffer: bytes) -> tuple[bytes, bytes]:
    """(the response head, the bytes read after it)."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            return buffer[:end + 2], buffer[end + 4:]
        data = sock.recv(RECV)
        if not data:
            raise Broken("closed before the head")
        buffer += data


def header_value(lowered_head: bytes, name: bytes) -> bytes | None:
    at = lowered_head.find(b"\r\n" + name)
    if at < 0:
        return None
    start = at + 2 + len(name)
    return lowered_head[start:lowered_head.find(b"\r\n", start)].strip()


def read_response(sock, buffer: bytes) -> tuple[int, bytes, bytes]:
    """(status, lowered head, leftover bytes) of one whole keep-alive answer."""
    head, rest = read_head(sock, buffer)
    lowered = head.lower()
    status = int(head[9:12])
    length = header_value(lowered, b"content-length:")
    if length is not None:
        return status, lowered, read_exactly(sock, rest, int(length))
    if header_value(lowered, b"transfer-encoding:") == b"chunked":
        return status, lowered, read_chunked(sock, rest)
    raise Broken("an answer with neither a length nor chunks")


def read_exactly(sock, buffer: bytes, size: int) -> bytes:
    while len(buffer) < size:
        data = sock.recv(RECV)
        if not data:
            raise Broken("closed mid-body")
        buffer += data
    return buffer[size:]


def read_chunked(sock, buffer: bytes) -> bytes:
    """Skip a chunked body; return what follows its terminator."""
    while True:
        line_end = buffer.find(b"\r\n")
        if line_end < 0:
            buffer = more(sock, buffer)
            continue
        size = int(buffer[:line_end].split(b";")[0], 16)
        end = line_end + 2 + size + 2
        if len(buffer) < end:
            buffer = more(sock, buffer)
            continue
        buffer = buffer[end:]
        if size == 0:
            return buffer


def more(sock, buffer: bytes) -> bytes:
    data = sock.recv(RECV)
    if not data:
        raise Broken("closed mid-body")
    return buffer + data


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    overheads_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def connect(port: int):
    from gevent import socket

    sock = socket.create_connection((HOST, port), timeout=CONNECT_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    return sock


@dataclass
class Loop:
    """What the connections of one closed-loop run share."""

    port: int
    request: bytes
    timeout_s: float
    tally: Tally = field(default_factory=Tally)
    connected: int = 0
    deadline: float = 0.0
    go: Any = None  # a gevent Event, made in the generator's own process


def closed_worker(loop: Loop) -> None:
    """One connection: an untimed first exchange, then send, read, repeat.

    The first exchange opens the connection before the clock starts, so the
    figures are of a steady state, not of a burst of new connections (whose
    accept delays the streams' time to first chunk shows instead).
    """
    sock, buffer = None, b""
    try:
        sock = connect(loop.port)
        sock.settimeout(loop.timeout_s)
        sock.sendall(loop.request)
        _, _, buffer = read_response(sock, buffer)
    except (OSError, Broken, ValueError):
        loop.tally.errors += 1
        close_quietly(sock)
        sock = None
    loop.connected += 1
    loop.go.wait()
    while time.perf_counter() < loop.deadline:
        sock, buffer = exchange(loop, sock, buffer)
    close_quietly(sock)


def exchange(loop: Loop, sock, buffer: bytes):
    """One timed request and answer; a failure closes the connection."""
    started = time.perf_counter()
    try:
        if sock is None:
            sock, buffer = connect(loop.port), b""
            sock.settimeout(loop.timeout_s)
        sock.sendall(loop.request)
        status, head, buffer = read_response(sock, buffer)
    except (OSError, Broken, ValueError):
        loop.tally.errors += 1
        close_quietly(sock)
        return None, b""
    tally = loop.tally
    tally.latencies_ms.append((time.perf_counter() - started) * 1000)
    tally.statuses[status] = tally.statuses.get(status, 0) + 1
    overhead = header_value(head, OVERHEAD_HEADER)
    if overhead is not None:
        tally.overheads_ms.append(float(overhead))
    return sock, buffer


def close_quietly(sock) -> None:
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def run_closed(spec: dict) -> dict:
    import gevent
    from gevent.event import Event

    request = build_request(spec["port"], spec["path"], spec["body"].encode(),
                            spec.get("headers", {}))
    timeout_s = spec.get("timeout_s", 10.0)
    loop = Loop(spec["port"], request, timeout_s, go=Event())
    workers = [gevent.spawn(closed_worker, loop) for _ in range(spec["concurrency"])]
    ready_by = time.perf_counter() + timeout_s
    while loop.connected < len(workers) and time.perf_counter() < ready_by:
        gevent.sleep(0.005)
    started = time.perf_counter()
    loop.deadline = started + spec["duration_s"]
    loop.go.set()
    gevent.joinall(workers, timeout=spec["duration_s"] + timeout_s)
    gevent.killall(workers, timeout=1)
    tally = loop.tally
    return {"elapsed_s": time.perf_counter() - started,
            "latencies_ms": tally.latencies_ms, "overheads_ms": tally.overheads_ms,
            "errors": tally.errors,
            "statuses": {str(k): v for k, v in tally.statuses.items()}}


@dataclass
class StreamTally:
    ttfc_ms: list[float] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    open_now: int = 0
    open_peak: int = 0


def one_stream(port: int, request: bytes, expect_chunks: int, tally: StreamTally,
               timeout_s: float) -> None:
    """Open one stream and read it to its end (``Connection: close``)."""
    started = time.perf_counter()
    sock, first, seen, opened = None, None, b"", False
    failure = None
    try:
        sock = connect(port)
        sock.settimeout(timeout_s)
        sock.sendall(request)
        while True:
            data = sock.recv(RECV)
            if not data:
                break
            seen += data
            if first is None and b"data: " in seen:
                first = time.perf_counter()
                tally.open_now += 1
                tally.open_peak = max(tally.open_peak, tally.open_now)
                opened = True
            if seen.endswith(LAST_CHUNK):
                break
    except OSError as error:
        failure = type(error).__name__
    finally:
        close_quietly(sock)
        if opened:
            tally.open_now -= 1
    judge_stream(seen, first, started, expect_chunks, tally, failure)


def judge_stream(seen: bytes, first: float | None, started: float,
                 expect_chunks: int, tally: StreamTally,
                 failure: str | None) -> None:
    """Count the stream's chunks and note the first thing wrong with it."""
    count = seen.count(b"data: {")
    if failure is not None:
        tally.errors.append(failure)
    elif not seen.startswith(b"HTTP/1.1 200"):
        tally.errors.append(f"status {seen[9:12].decode(errors='replace')}")
    elif b"data: [DONE]" not in seen or b'"error"' in seen:
        tally.errors.append("no [DONE] or an error event")
    elif count != expect_chunks:
        tally.errors.append(f"{count} chunks of {expect_chunks}")
    if first is not None:
        tally.ttfc_ms.append((first - started) * 1000)
    tally.durations_s.append(time.perf_counter() - started)
    tally.chunks.append(count)


def run_streams(spec: dict) -> dict:
    import gevent

    request = build_request(spec["port"], spec["path"], spec["body"].encode(),
                            spec.get("headers", {}), close=True)
    tally = StreamTally()
    count, ramp = spec["count"], spec["ramp_s"]
    started = time.perf_counter()
    streams = []
    for number in range(count):
        wait = started + ramp * number / count - time.perf_counter()
        if wait > 0:
            gevent.sleep(wait)
        streams.append(gevent.spawn(one_stream, spec["port"], request,
                                    spec["chunks"], tally, spec["timeout_s"]))
    gevent.joinall(streams, timeout=spec["limit_s"])
    unfinished = sum(1 for s in streams if not s.dead)
    gevent.killall(streams, timeout=1)
    return {"elapsed_s": time.perf_counter() - started, "count": count,
            "unfinished": unfinished, "open_peak": tally.open_peak,
            "ttfc_ms": tally.ttfc_ms, "durations_s": tally.durations_s,
            "errors": tally.errors[:20], "error_count": len(tally.errors)}


RUNS = {"closed": run_closed, "streams": run_streams}


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    if spec.get("host", HOST) != HOST:
        raise SystemExit("the load generator targets 127.0.0.1 only")
    result = RUNS[spec["kind"]](spec)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
