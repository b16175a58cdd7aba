"""Durable state behind a narrow interface: records, revocations and audit.

An embedded SQLite database in WAL mode under the data directory. A committed
write survives a process crash, so no session, revocation or audit record is
lost on restart. Everything goes through the few methods below, so a shared
server database could back several replicas later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    by TEXT NOT NULL,
    value TEXT NOT NULL,
    issued_before REAL,
    reason TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS revocations_lookup ON revocations (by, value);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    event TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT,
    role TEXT,
    decision TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject);
CREATE INDEX IF NOT EXISTS audit_role ON audit (role);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class Store:
    """SQLite-backed store. ``now`` is the injected clock, used for record expiry."""

    def __init__(self, path: Path | str, *, now: Callable[[], float]) -> None:
        self.path = str(path)
        self._now = now
        self._lock = threading.RLock()
        #: Callbacks waiting for the open transaction's COMMIT (None outside a transaction).
        self._after_commit: list[Callable[[], None]] | None = None
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One commit for everything written inside (the writes of one or several requests)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._after_commit = []
            try:
                yield
            except BaseException:
                self._after_commit = None  # rolled back: what waited for the commit never happens
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            after, self._after_commit = self._after_commit, None
        for callback in after:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what was written so far is committed (now, outside a transaction).

        The audit file line of a record written inside a transaction waits for its COMMIT.
        """
        with self._lock:
            pending = self._after_commit
            if pending is not None:
                pending.append(callback)
                return
        callback()

    # -- namespaced records (codes, refresh tokens, sessions, break-glass state...) --

    def put(self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO records (kind, key, value, expires_at) VALUES (?, ?, ?, ?)",
                (kind, key, json.dumps(value, separators=(",", ":")), expires_at),
            )

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value, expires_at FROM records WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        if row is None or (row[1] is not None and row[1] <= self._now()):
            return None
        value: dict[str, Any] = json.loads(row[0])
        return value

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Read and delete in one transaction: a one-time code is usable exactly once."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT value, expires_at FROM records WHERE kind = ? AND key = ?", (kind, key)
                ).fetchone()
                if row is not None:
                    self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if row is None or (row[1] is not None and row[1] <= self._now()):
            return None
        value: dict[str, Any] = json.loads(row[0])
        return value

    def delete(self, kind: str, key: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
        return cur.rowcount > 0

    def items(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        now = self._now()
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM records WHERE kind = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
                (kind, now),
            ).fetchall()
        return [(key, json.loads(value)) for key, value in rows]

    def purge_expired(self) -> int:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM records WHERE expires_at IS NOT NULL AND expires_at <= ?", (self._now(),)
            )
        return cur.rowcount

    # -- revocations --

    def data_version(self) -> int:
        """Changes whenever another connection (e.g. another worker) committed to the database."""
        with self._lock:
            row = self._db.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def add_revocation(self, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO revocations (created_at, by, value, issued_before, reason, source) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record["created_at"],
                    record["by"],
                    record["value"],
                    record.get("issued_before"),
                    record.get("reason", ""),
                    record.get("source", ""),
                ),
            )
        return {**record, "id": cur.lastrowid}

    def revocations(self, since_id: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created_at, by, value, issued_before, reason, source FROM revocations WHERE id > ? ORDER BY id",
                (since_id,),
            ).fetchall()
        keys = ("id", "created_at", "by", "value", "issued_before", "reason", "source")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def delete_revocation(self, revocation_id: int) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM revocations WHERE id = ?", (revocation_id,))
        return cur.rowcount > 0

    # -- audit --

    def append_audit(self, record: dict[str, Any], body: str | None = None) -> int:
        """Insert one record; ``body`` is its JSON when the caller already has it."""
        if body is None:
            body = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO audit (ts, event, severity, subject, role, decision, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record["ts"],
                    record["event"],
                    record.get("severity", "info"),
                    record.get("sub"),
                    record.get("role_arn"),
                    record.get("decision"),
                    body,
                ),
            )
        return int(cur.lastrowid or 0)

    def prune_audit(self, *, before: float | None, keep_last: int | None) -> int:
        """Retention: drop audit records older than ``before`` and all but the newest ``keep_last``."""
        removed = 0
        with self._lock:
            if before is not None:
                removed += self._db.execute("DELETE FROM audit WHERE ts < ?", (before,)).rowcount
            if keep_last is not None:
                row = self._db.execute("SELECT MAX(id) FROM audit").fetchone()
                if row and row[0] is not None:
                    removed += self._db.execute("DELETE FROM audit WHERE id <= ?", (row[0] - keep_last,)).rowcount
        return removed

    def query_audit(
        self,
        *,
        subject: str | None = None,
        role: str | None = None,
        decision: str | None = None,
        event: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int = 0,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        clauses = ["id > ?"]
        args: list[Any] = [after_id]
        for column, value in (("subject", subject), ("decision", decision)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if role is not None:
            clauses.append("(role = ? OR role LIKE ?)")
            args.extend([role, f"%:role/%{role}"])
        if event is not None:
            clauses.append("(event = ? OR event LIKE ?)")
            args.extend([event, f"{event}.%"])
        if since is not None:
            clauses.append("ts >= ?")
            args.append(since)
        if until is not None:
            clauses.append("ts <= ?")
            args.append(until)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT id, body FROM audit WHERE {' AND '.join(clauses)} ORDER BY id {order} LIMIT ?"  # noqa: S608
        args.append(max(1, min(limit, 10_000)))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [{"id": row_id, **json.loads(body)} for row_id, body in rows]

    # -- small metadata (clock state shared between workers, schema version) --

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def put_many(self, kind: str, items: Iterable[tuple[str, dict[str, Any], float | None]]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO records (kind, key, value, expires_at) VALUES (?, ?, ?, ?)",
                [(kind, k, json.dumps(v, separators=(",", ":")), e) for k, v, e in items],
            )


class GroupCommit:
    """Durable writes with one commit per event-loop turn, however many requests wrote.

    A request hands over its writes and awaits them; everything submitted during the
    same loop iteration is committed in one transaction, then every waiter resumes.
    So a response is sent only after its session and audit record are on disk, and
    under concurrency the commit cost is shared.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[list[Callable[[], None]], asyncio.Future[None]]] = []
        self._scheduled = False

    async def run(self, ops: list[Callable[[], None]]) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((ops, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        await future

    def _flush(self) -> None:
        batch, self._pending, self._scheduled = self._pending, [], False
        try:
            with self._store.transaction():
                for ops, _ in batch:
                    for op in ops:
                        op()
        except Exception as exc:  # the requests fail; nothing half-written is acknowledged
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
