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

from app.logs import logconfig_dict as gateway_logging

os.environ.setdefault("GEVENT_RESOLVER", "app.resolver.NumericFirstResolver")

bind = f"{os.environ.get('GATEWAY_BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '4000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("GATEWAY_WORKER_CONNECTIONS", "2000"))
preload_app = False
timeout = 30  # gevent workers keep their heartbeat while streams are open
graceful_timeout = 10
keepalive = 5
accesslog = None
logconfig_dict = gateway_logging(os.environ.get("LOG_LEVEL", "INFO"))
