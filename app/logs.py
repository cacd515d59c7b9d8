"""Request ids on every log line, and the gateway's log format.

The route sets the request id in a context variable; :class:`RequestIdFilter`
copies it onto each record, so every line logged while serving a request
(router attempts, dispatcher failures, refusals) carries it. Handlers and the
format are installed by gunicorn's config or the CLI, never at import.
"""

from __future__ import annotations

import contextvars
import logging

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id",
                                                                 default="-")
FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def logconfig_dict(level: str = "INFO") -> dict:
    """A ``logging.config.dictConfig`` for gunicorn and the CLI."""
    handler = {"class": "logging.StreamHandler", "formatter": "gateway",
               "filters": ["request_id"], "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"gateway": {"format": FORMAT}},
        "handlers": {"console": handler},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["console"],
                               "propagate": False},
            "gunicorn.access": {"level": level, "handlers": ["console"],
                                "propagate": False},
        },
    }
