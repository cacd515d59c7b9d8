"""gunicorn settings for the gateway.

Workers are gevent's (gunicorn's own async worker class): each worker holds
many slow streams at once, where a sync worker would hold one. gunicorn patches
the standard library when it boots a gevent worker, before the app (and so
``ssl`` and ``requests``) is imported: keep ``preload_app`` off.

PORT (PaaS hosts set it) chooses the port, GATEWAY_BIND_HOST the address
(default 0.0.0.0), WEB_CONCURRENCY the worker count (default 2), and
GATEWAY_WORKER_CONNECTIONS the connections one worker holds (default 2000).
Workers resolve IP addresses without gevent's thread pool
(:mod:`app.resolver`); set GEVENT_RESOLVER to choose another resolver.
"""

import os
import sys

from app.logs import logconfig_dict as gateway_logging

os.environ.setdefault("GEVENT_RESOLVER", "app.resolver.NumericFirstResolver")


def positive(name: str, default: str) -> int:
    """A whole number of at least 1 from the environment, or a clear exit."""
    text = os.environ.get(name, default)
    if not text.isdigit() or int(text) < 1:
        sys.exit(f"{name} must be a whole number of at least 1, not {text!r}")
    return int(text)


bind = f"{os.environ.get('GATEWAY_BIND_HOST', '0.0.0.0')}:{positive('PORT', '4000')}"
workers = positive("WEB_CONCURRENCY", "2")
worker_class = "gevent"
worker_connections = positive("GATEWAY_WORKER_CONNECTIONS", "2000")
# gunicorn 25.1+ opens a control socket at one fixed path per user, so two
# gateways on one host would take each other's; the gateway does not use it.
control_socket_disable = True
preload_app = False
timeout = 30  # gevent workers keep their heartbeat while streams are open
graceful_timeout = 10
keepalive = 5
accesslog = None
logconfig_dict = gateway_logging(os.environ.get("LOG_LEVEL", "INFO"))
