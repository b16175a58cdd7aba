"""Durable shared state behind a narrow interface, and its change feed.

``Store`` is the embedded SQLite store (the default; ``Store(path, now=...)`` as before);
:func:`open_store` picks PostgreSQL for a ``postgresql://`` URL (replicas). Both implement
:class:`Backend`; :class:`ChangeFeed` applies every process's changes in every other process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .feed import ChangeFeed
from .group_commit import GroupCommit
from .interface import Backend, Change, ChangeSet, DamagedRecord, FeedListener, StoreUnavailable
from .sqlite import SqliteStore

Store = SqliteStore

__all__ = [
    "Backend",
    "Change",
    "ChangeFeed",
    "ChangeSet",
    "DamagedRecord",
    "FeedListener",
    "GroupCommit",
    "SqliteStore",
    "Store",
    "StoreUnavailable",
    "open_store",
]


def open_store(url: str | None, *, data_dir: Path, now: Callable[[], float]) -> Backend:
    """``None``/``sqlite`` → ``<data_dir>/state.db``; ``sqlite:///path``; ``postgresql://...`` → PostgreSQL."""
    if not url or url == "sqlite":
        return SqliteStore(data_dir / "state.db", now=now)
    if url.startswith("sqlite:"):  # sqlite:///absolute/path or sqlite:relative/path
        path = url[len("sqlite:") :]
        return SqliteStore(path[2:] if path.startswith("///") else path, now=now)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:  # the optional dependency
            raise StoreUnavailable(
                f"store.url is PostgreSQL but psycopg is not installed ({exc}); pip install 'stsmock[postgres]'"
            ) from None
        return PostgresStore(url, now=now)
    raise ValueError(f"store.url: unsupported store {url.split(':', 1)[0]!r}; use sqlite or postgresql://...")
