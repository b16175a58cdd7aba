"""``stsmock serve``'s entry: logging, then one process (``server.serve``) or N (``workers``)."""

from __future__ import annotations

import asyncio

from .logging_setup import configure_logging
from .server import ServeOptions, prepare_tls, serve
from .startup import check_data_dir
from .workers import run_workers


def run(options: ServeOptions, *, workers: int = 1) -> int:
    configure_logging(options.config.server.log_level, options.config.server.log_format)
    check_data_dir(  # one line naming the file, before anything is created or regenerated
        options.data_dir,
        min_free_bytes=options.config.server.min_free_bytes,
        audit_file=options.config.audit.file,
    )
    prepare_tls(options)  # once, before any worker forks
    if workers <= 1:
        asyncio.run(serve(options))
        return 0
    return run_workers(options, workers)
