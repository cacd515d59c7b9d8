"""The console entry point: ``byok-gateway --config FILE --port N``.

It runs gunicorn with the shipped settings (gevent workers), so local use and
production share one serving model. ``--check`` validates the config and exits.
"""

from __future__ import annotations

import argparse
import logging.config
import os
import sys
from pathlib import Path

from app import config as config_loader
from app.logs import logconfig_dict
from app.settings import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="byok-gateway", description=__doc__)
    parser.add_argument("--config", help="config file (default: $CONFIG_FILE_PATH "
                        "or config/config.yaml)")
    parser.add_argument("--port", type=int, help="port (default: $PORT or 4000)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="bind address (default: 127.0.0.1, this machine "
                        "only; use 0.0.0.0 to serve the network)")
    parser.add_argument("--workers", type=int, help="worker processes "
                        "(default: $WEB_CONCURRENCY or 2)")
    parser.add_argument("--check", action="store_true",
                        help="validate the config and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.config.dictConfig(logconfig_dict())
    path = config_loader.config_path(args.config)
    try:
        config_loader.load(path)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{path}: ok")
        return 0
    os.environ["CONFIG_FILE_PATH"] = str(Path(path).resolve())
    for name, value in (("PORT", args.port), ("GATEWAY_BIND_HOST", args.host),
                        ("WEB_CONCURRENCY", args.workers)):
        if value is not None:
            os.environ[name] = str(value)
    os.chdir(ROOT)
    gunicorn = [sys.executable, "-m", "gunicorn", "-c",
                str(ROOT / "config" / "gunicorn.conf.py"), "wsgi:app"]
    os.execv(sys.executable, gunicorn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
