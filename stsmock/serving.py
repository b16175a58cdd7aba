"""``stsmock serve``'s entry: logging, then one process (``server.serve``) or N (``workers``)."""

from __future__ import annotations

import asyncio
import sys

from .heap import resume_collection
from .hygiene import Refused, claim_data_dir, refuse_busy_port
from .logging_setup import configure_logging
from .server import ServeOptions, prepare_tls, serve
from .startup import check_data_dir


def run(options: ServeOptions, *, workers: int = 1) -> int:
    configure_logging(options.config.server.log_level, options.config.server.log_format)
    check_data_dir(  # one line naming the file, before anything is created or regenerated
        options.data_dir,
        min_free_bytes=options.config.server.min_free_bytes,
        audit_file=options.config.audit.file,
    )
    try:  # one stsmock per data dir and per port (the lock is held until this process exits)
        options.data_dir_lock = claim_data_dir(options.data_dir.expanduser().resolve())
        refuse_busy_port(options.host, options.port)
    except Refused as exc:
        print(f"stsmock: {exc}", file=sys.stderr)
        return 1
    prepare_tls(options)  # once, before any worker forks
    if workers <= 1:
        asyncio.run(serve(options))
        return 0
    from .workers import run_workers  # multiprocessing only for --workers N

    resume_collection()  # the supervising parent never settles: its collector runs as usual
    return run_workers(options, workers)
