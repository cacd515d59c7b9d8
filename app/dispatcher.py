"""One attempt as one HTTP exchange, on a per-worker pool of connections.

The dispatcher asks the provider adapter for the request, sends it (pinned to
the checked address for client-chosen URLs, never following redirects, never
reading proxy settings from the environment, never retrying), and hands the
answer back through the adapter. It is the one place that translates
``requests`` errors into the gateway's own.

``requests`` has no total timeout: its read timeout bounds each socket read.
The dispatcher therefore reads bodies itself, one chunk at a time, each read
bounded by what is left: a whole answer is cut with a 504 when ``total``
has passed since the request was sent, however slowly it trickles; a stream
must deliver its first event within ``first_byte`` of sending (keep-alive
comments do not count) and then never pause longer than ``stream`` between
chunks. Known limit: the status line and headers are bounded per socket read
only, so an upstream that trickles its headers a byte at a time is not cut.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy

import requests
import urllib3

from app import credentials, errors, pinning, providers
from app.providers.base import Adapter, Call
from app.urlguard import CheckedUrl

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
MAX_ERROR_BODY = 1 << 20
READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class Timeouts:
    """One attempt's bounds, in seconds.

    ``total`` bounds a whole answer; ``stream`` each gap between stream
    chunks; ``first_byte`` a stream's first event (``stream`` if unset).
    """

    total: float
    stream: float
    first_byte: float | None = None

    def first(self) -> float:
        return self.stream if self.first_byte is None else self.first_byte

    def connect(self, stream: bool) -> float:
        return min(CONNECT_TIMEOUT_S, self.first() if stream else self.total)


@dataclass(frozen=True)
class Target:
    """Transport choices of one attempt: pinning and TLS verification."""

    pinned: CheckedUrl | None = None
    verify: bool | str = True


class Dispatcher:
    """Sends attempts on one session: ``hosts`` pools of ``pool_size`` each.

    A pool keeps at most ``pool_size`` idle connections to its host; past
    that, urllib3 closes each extra connection when its answer ends and
    logs a warning, so ``pool_size`` should be the worker's concurrency.
    """

    def __init__(self, pool_size: int = 100, hosts: int = 256) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or netrc from the environment
        # One session serves every caller: an upstream's cookie must not stick.
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = pinning.PinnedAdapter(pool_connections=hosts,
                                        pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def send(self, call: Call, target: Target, timeouts: Timeouts
             ) -> dict | Iterator[dict]:
        """The OpenAI-shaped answer, or an iterator of chunks when streaming.

        An error never carries the call's secrets, even if the upstream echoed
        them.
        """
        try:
            return self.answer(call, target, timeouts)
        except errors.GatewayError as error:
            raise credentials.redact(error, secrets(call)) from None

    def answer(self, call: Call, target: Target, timeouts: Timeouts
               ) -> dict | Iterator[dict]:
        provider = "mock" if call.mock_response is not None else call.provider
        adapter = providers.adapter_for(provider)
        if adapter.offline(call):
            return adapter.answer_stream(call) if call.stream else adapter.answer(call)
        sent = time.monotonic()
        response = self.exchange(adapter, call, target, timeouts)
        if call.stream:
            reader = StreamReader(response, sent + timeouts.first(), timeouts.stream)
            return relay(adapter, call, reader)
        content = read_body(response, sent + timeouts.total)
        return adapter.parse(call, response.status_code, response.headers, content)

    def exchange(self, adapter: Adapter, call: Call, target: Target,
                 timeouts: Timeouts) -> requests.Response:
        """Send the request; raise the adapter's error for a non-2xx answer."""
        http = adapter.build(call)
        read = timeouts.first() if call.stream else timeouts.total
        try:
            prepared = requests.Request(http.method, http.url, headers=http.headers,
                                        data=http.body).prepare()
            # requests "requotes" URLs, decoding %2E back to a dot; the
            # adapters' URLs are already encoded, one segment per name.
            prepared.url = http.url
            if target.pinned is not None:
                pinning.pin(prepared, target.pinned)
            response = self.session.send(
                prepared, stream=True, allow_redirects=False, verify=target.verify,
                timeout=(timeouts.connect(call.stream), read))
        except requests.RequestException as error:
            raise translate(error) from None
        # The answer (a stream's lasts as long as the stream) would keep its
        # request, and in it the serialised prompt, which is not needed once
        # sent: it keeps an empty one instead.
        response.request = requests.PreparedRequest()
        if response.status_code >= 300:
            raise failure(adapter, call, response, timeouts)
        return response


def failure(adapter: Adapter, call: Call, response: requests.Response,
            timeouts: Timeouts) -> errors.GatewayError:
    """The gateway error for a non-2xx answer (a redirect is never followed)."""
    try:
        content = read_body(response, time.monotonic() + timeouts.total,
                            limit=MAX_ERROR_BODY)
    except errors.GatewayError:
        content = b""
    status = response.status_code
    if status < 400:
        return errors.BadGateway(
            f"The upstream answered with a redirect ({status}), which the "
            f"gateway does not follow.", upstream_status=status)
    return adapter.error(call, status, response.headers, content)


def read_body(response: requests.Response, deadline: float,
              limit: int | None = None) -> bytes:
    """The whole body, cut with a 504 when the deadline passes mid-way."""
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise errors.UpstreamTimeout(
                    "The upstream did not finish its answer within the timeout.")
            set_read_timeout(response, remaining)
            part = response.raw.read1(READ_SIZE, decode_content=True)
            if not part:
                return b"".join(parts)
            parts.append(part)
            size += len(part)
            if limit is not None and size >= limit:
                return b"".join(parts)[:limit]
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise translate_raw(error) from None
    finally:
        response.close()


def set_read_timeout(response: requests.Response, seconds: float) -> None:
    """Bound the next socket read by ``seconds``.

    This reaches into urllib3's connection; if its layout changes the read
    falls back to the read timeout given at send time. urllib3 sets the
    timeout afresh for each request sent on a pooled connection.
    """
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.001))
        except OSError:
            pass


class StreamReader:
    """A stream's raw bytes: its first event due by ``first_by``, then chunks
    at most ``gap`` seconds apart. The relay marks :attr:`started` once the
    adapter has made an event of them."""

    def __init__(self, response: requests.Response, first_by: float,
                 gap: float) -> None:
        self.response = response
        self.first_by, self.gap = first_by, gap
        self.started = False
        self.gap_set = False

    def chunks(self) -> Iterator[bytes]:
        try:
            while True:
                self.bound_next_read()
                part = self.response.raw.read1(READ_SIZE)
                if not part:
                    return
                yield part
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise translate_raw(error) from None

    def bound_next_read(self) -> None:
        if self.started:
            if not self.gap_set:
                set_read_timeout(self.response, self.gap)
                self.gap_set = True
            return
        remaining = self.first_by - time.monotonic()
        if remaining <= 0:
            raise errors.UpstreamTimeout(
                "The upstream sent no stream event within the timeout.")
        set_read_timeout(self.response, remaining)


def relay(adapter: Adapter, call: Call, reader: StreamReader) -> Iterator[dict]:
    """The adapter's chunks, with transport errors translated; closing the
    iterator (a client that went away) closes the upstream connection."""
    try:
        for chunk in adapter.stream(call, reader.chunks()):
            reader.started = True
            yield chunk
    except errors.GatewayError as error:
        raise credentials.redact(error, secrets(call)) from None
    finally:
        reader.response.close()


def secrets(call: Call) -> list[str]:
    return credentials.secrets_of(call.api_key, call.credentials)


def translate(error: requests.RequestException) -> errors.GatewayError:
    """The gateway error for a ``requests`` failure (no URL, no key in it)."""
    if isinstance(error, (requests.ConnectTimeout, requests.ReadTimeout)):
        return errors.UpstreamTimeout("The upstream did not answer within the timeout.")
    if isinstance(error, requests.exceptions.SSLError):
        return errors.BadGateway("The TLS connection to the upstream failed.")
    cause = error.args[0] if error.args else None
    cause = getattr(cause, "reason", cause)  # urllib3 wraps it in MaxRetryError
    # urllib3 derives a refused connection from its connect-timeout class.
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        return errors.BadGateway("The upstream could not be reached.")
    if isinstance(cause, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return errors.UpstreamTimeout("The upstream did not answer within the timeout.")
    return errors.BadGateway("The upstream could not be reached or broke off.")


def translate_raw(error: Exception) -> errors.GatewayError:
    """The gateway error for a urllib3 or socket failure while reading."""
    timeouts = (urllib3.exceptions.ReadTimeoutError, TimeoutError)
    if isinstance(error, timeouts):
        return errors.UpstreamTimeout("The upstream stalled longer than the timeout.")
    return errors.BadGateway("The upstream connection broke off.")
