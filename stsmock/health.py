"""What ``/healthz`` checks: the store takes a write and its file system has room.

A read-only or full ``state.db`` used to report healthy, then answer 500 to every write.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any


def store_problem(store: Any, data_dir: Path | None = None, min_free_bytes: int = 0) -> str | None:
    """None when healthy; else a one-line reason naming the file."""
    from .startup import free_space_problem

    try:
        store.set_meta("healthz", f"{time.time():.3f}")
    except (sqlite3.Error, OSError) as exc:
        return f"{getattr(store, 'path', 'the store')} cannot be written: {exc}"
    if data_dir is not None and min_free_bytes:
        try:
            problem = free_space_problem(data_dir, min_free_bytes)
        except OSError as exc:
            return f"{data_dir}: {exc.strerror}"
        if problem is not None:
            return f"{data_dir}: {problem}"
    return None
