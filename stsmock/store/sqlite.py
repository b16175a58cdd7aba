"""The embedded default: one SQLite file in WAL mode under the data directory.

Several ``--workers`` processes share the file. ``PRAGMA data_version`` changes only when *another*
connection committed, so the per-request "did the feed move?" check costs a pragma, not a query,
until some other process writes; only then is the one-row head read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .base import SqlStore
from .checkpoint import Checkpointer

#: How long a statement waits for another process's lock before failing ("database is locked").
BUSY_TIMEOUT_MS = 30_000

#: Schema migrations, applied in order; ``PRAGMA user_version`` is the number applied.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS records (
        kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL,
        PRIMARY KEY (kind, key)
    );
    CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE IF NOT EXISTS revocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, by TEXT NOT NULL,
        value TEXT NOT NULL, issued_before REAL, reason TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS revocations_lookup ON revocations (by, value);
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, event TEXT NOT NULL,
        severity TEXT NOT NULL, subject TEXT, role TEXT, decision TEXT, body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
    CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject);
    CREATE INDEX IF NOT EXISTS audit_role ON audit (role);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: the change feed, and revocations made idempotent (duplicates of older versions folded first).
    """
    CREATE TABLE IF NOT EXISTS feed_head (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
    INSERT OR IGNORE INTO feed_head (id, version) VALUES (1, 0);
    CREATE TABLE IF NOT EXISTS changes (
        version INTEGER NOT NULL, topic TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (version, topic, key)
    );
    DELETE FROM revocations WHERE id NOT IN (
        SELECT MIN(id) FROM revocations GROUP BY by, value, COALESCE(issued_before, -1)
    );
    CREATE UNIQUE INDEX IF NOT EXISTS revocations_once
        ON revocations (by, value, COALESCE(issued_before, -1));
    """,
)


class SqliteStore(SqlStore):
    """SQLite-backed store. ``now`` is the injected clock, used for record expiry."""

    kind = "sqlite"

    def __init__(self, path: Path | str, *, now: Callable[[], float]) -> None:
        super().__init__(now=now)
        self.path = str(path)
        self._db = sqlite3.connect(  # timeout= is the connection's busy timeout (PRAGMA busy_timeout)
            self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's thread does it, off the loop
        self._migrate()
        self._checkpointer = Checkpointer(self.path)
        self._version = self._db.cursor()  # kept: the per-request pragma needs no new cursor each time
        self._seen_data_version = -1
        self._cached_head = 0
        self.on_committed_change.append(self._commit_hook_head)

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            applied = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(_MIGRATIONS, start=1):
                if number > applied:
                    for statement in script.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _run(self, sql: str, args: Iterable[Any] = ()) -> Any:
        return self._db.execute(sql, tuple(args))

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _begin_if_free(self) -> bool:
        """BEGIN IMMEDIATE without SQLite's busy handler, which sleeps 1, 2, 5, 10 ms... on the event loop.

        Under ``--workers`` the workers' group commits take turns at the write lock; a worker that waited
        inside SQLite stopped serving meanwhile (measured at c=16: 15-20 % of each worker's time)."""
        self._db.execute("PRAGMA busy_timeout=0")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:  # and its extended codes
                return False
            raise
        finally:
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    def _commit(self) -> None:
        self._db.execute("COMMIT")
        self._checkpointer.committed()

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")

    def close(self) -> None:
        self._checkpointer.close()
        with self._lock:
            self._db.close()

    def data_version(self) -> int:
        """Changes whenever another connection (e.g. another worker) committed to the database."""
        with self._lock:
            return int(self._version.execute("PRAGMA data_version").fetchone()[0])

    def head(self) -> int:
        """Before every request: one pragma on a kept cursor; the head row only once another connection
        committed (our own commits move ``_cached_head`` through the commit hook)."""
        with self._lock:
            if self._depth:
                return super().head()
            version = self._version.execute("PRAGMA data_version").fetchone()[0]
            if version != self._seen_data_version:
                self._seen_data_version = version
                self._cached_head = super().head()
            return self._cached_head

    def _commit_hook_head(self, version: int) -> None:
        self._cached_head = max(self._cached_head, version)
