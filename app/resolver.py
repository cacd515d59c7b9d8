"""The gevent workers' name resolver: IP addresses answered at once.

gevent's default resolver hands every ``getaddrinfo`` call to its thread
pool, even for a host that is already an IP address, and the answer then
waits for the busy event loop to notice it: 25 ms at the median with 8
greenlets at work and 50 ms with 64, where the call itself takes 1 µs.
Every new upstream connection pays that: each one to a pinned client URL
(pinning connects to the checked address), to an operator base written as
an address, and each one opened while a burst of streams starts.

:class:`NumericFirstResolver` answers numeric hosts and ports inline
(``AI_NUMERICHOST | AI_NUMERICSERV``: the C library parses them and never
sends a DNS query, so it cannot block the loop) and leaves names to the
thread pool as before. ``config/gunicorn.conf.py`` selects it through
``GEVENT_RESOLVER`` unless that variable is already set.
"""

from __future__ import annotations

import _socket
from typing import Any

from gevent.resolver.thread import Resolver

NUMERIC_ONLY = _socket.AI_NUMERICHOST | _socket.AI_NUMERICSERV


class NumericFirstResolver(Resolver):
    """gevent's thread resolver, with IP addresses answered in the calling greenlet."""

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0,
                    proto: int = 0, flags: int = 0) -> list:
        try:
            return _socket.getaddrinfo(host, port, family, type, proto,
                                       flags | NUMERIC_ONLY)
        except _socket.gaierror:
            return super().getaddrinfo(host, port, family, type, proto, flags)
