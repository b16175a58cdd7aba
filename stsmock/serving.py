"""``stsmock serve``'s entry: logging, then one process (``server.serve``) or N (``workers``)."""

from __future__ import annotations

import asyncio
import sys

from .hygiene import Refused, claim_data_dir, refuse_busy_port
from .logging_setup import configure_logging
from .server import ServeOptions, serve
from .workers import run_workers


def run(options: ServeOptions, *, workers: int = 1) -> int:
    configure_logging(options.config.server.log_level, options.config.server.log_format)
    try:  # one stsmock per data dir and per port (the lock is held until this process exits)
        options.data_dir_lock = claim_data_dir(options.data_dir.expanduser().resolve())
        refuse_busy_port(options.host, options.port)
    except Refused as exc:
        print(f"stsmock: {exc}", file=sys.stderr)
        return 1
    if workers <= 1:
        asyncio.run(serve(options))
        return 0
    return run_workers(options, workers)
