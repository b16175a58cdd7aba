"""``stsmock serve``'s entry: logging, then one process (``server.serve``) or N (``workers``)."""

from __future__ import annotations

import asyncio

from .logging_setup import configure_logging
from .server import ServeOptions, serve
from .workers import run_workers


def run(options: ServeOptions, *, workers: int = 1) -> int:
    configure_logging(options.config.server.log_level, options.config.server.log_format)
    if workers <= 1:
        asyncio.run(serve(options))
        return 0
    return run_workers(options, workers)
