"""The SQL both backends share, so SQLite and PostgreSQL cannot drift apart in behaviour.

A backend supplies a connection (``_run`` one statement, ``_begin``/``_commit``/``_rollback``) and
its schema; everything else — records with expiry, idempotent revocations, the audit table, the change
feed's head row and records — is written once here in the SQL subset both understand
(``ON CONFLICT``, ``RETURNING``). Placeholders are written ``?`` and rewritten for PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .audit_rows import AuditCommitted, QueuedRow, audit_columns, insert_audit_rows
from .interface import Change, DamagedRecord, StoreBusy

_REV_COLUMNS = ("id", "created_at", "by", "value", "issued_before", "reason", "source")
#: ``json.dumps(..., separators=(",", ":"))`` without building an encoder per call (same output).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_ENCODE_AUDIT = json.JSONEncoder(separators=(",", ":"), default=str).encode


class _Notes:
    """The ChangeSet of one change transaction."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.notes: dict[tuple[str, str], None] = {}

    def note(self, topic: str, key: str = "") -> None:
        self.notes[(topic, key)] = None


class SqlStore:
    kind = "sql"

    def __init__(self, *, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.RLock()
        self._depth = 0
        self._changeset: _Notes | None = None
        #: Callbacks waiting for the open transaction's COMMIT (None outside a transaction).
        self._after_commit: list[Callable[[], None]] | None = None
        #: Audit rows of the open transaction, inserted together just before its COMMIT.
        self._audit_rows: list[QueuedRow] | None = None
        #: Called (outside the lock) after a change transaction of this process committed.
        self.on_committed_change: list[Callable[[int], None]] = []

    # -- backend hooks ---------------------------------------------------------------
    def _run(self, sql: str, args: Iterable[Any] = ()) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin_if_free(self) -> bool:
        """Begin unless that means waiting for another process's write lock (then False, nothing begun)."""
        self._begin()
        return True

    def _commit(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _rollback(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _notify(self, version: int) -> None:
        """Inside the change transaction: wake the other processes at commit (PostgreSQL NOTIFY)."""

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self) -> None:
        with self._lock:
            self._run("SELECT 1").fetchone()

    def try_job_lock(self, job: str) -> bool:
        return True  # SQLite: BEGIN IMMEDIATE already makes the writer the only one

    # -- transactions ----------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, *, wait: bool = True) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            if wait:
                self._begin()
            elif not self._begin_if_free():
                raise StoreBusy("another process holds the write lock")
            self._depth = 1
            self._after_commit = []
            self._audit_rows = []
            committed_change: int | None = None
            audited: dict[AuditCommitted, list[tuple[int, dict[str, Any], str]]] = {}
            try:
                yield
                if self._audit_rows:
                    audited = insert_audit_rows(self._run, self._audit_rows)
                changeset = self._changeset
                if changeset is not None:
                    for topic, key in changeset.notes:
                        self._run(
                            "INSERT INTO changes (version, topic, key, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            (changeset.version, topic, key, self._now()),
                        )
                    self._notify(changeset.version)
                    committed_change = changeset.version
                self._commit()
            except BaseException:
                committed_change = None
                with contextlib.suppress(Exception):
                    self._rollback()
                raise
            finally:
                self._depth = 0
                self._changeset = None
                self._audit_rows = None
                after, self._after_commit = self._after_commit or [], None
        for committed, rows in audited.items():  # reached only after COMMIT: a rollback raised above
            committed(rows)
        for waiting in after:
            waiting()
        if committed_change is not None:
            for callback in list(self.on_committed_change):
                callback(committed_change)

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

    @contextlib.contextmanager
    def change(self) -> Iterator[_Notes]:
        """Take the feed head first: change transactions of all processes run one at a time."""
        with self.transaction():
            if self._changeset is None:
                row = self._run("UPDATE feed_head SET version = version + 1 WHERE id = 1 RETURNING version").fetchone()
                self._changeset = _Notes(int(row[0]))
            yield self._changeset

    # -- change feed -----------------------------------------------------------------
    def head(self) -> int:
        with self._lock:
            return int(self._run("SELECT version FROM feed_head WHERE id = 1").fetchone()[0])

    def changes_since(self, version: int) -> list[Change] | None:
        with self._lock:
            pruned = self._run("SELECT value FROM meta WHERE key = 'feed_pruned_through'").fetchone()
            if pruned is not None and version < int(pruned[0]):
                return None
            rows = self._run(
                "SELECT version, topic, key FROM changes WHERE version > ? ORDER BY version, topic, key", (version,)
            ).fetchall()
        return [Change(int(v), str(t), str(k)) for v, t, k in rows]

    def prune_changes(self, keep: int) -> int:
        with self.transaction():
            through = self.head() - max(keep, 1)
            if through <= 0:
                return 0
            cur = self._run("DELETE FROM changes WHERE version <= ?", (through,))
            self._run(
                "INSERT INTO meta (key, value) VALUES ('feed_pruned_through', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(through),),
            )
            return int(cur.rowcount or 0)

    # -- namespaced records ----------------------------------------------------------
    _PUT = (
        "INSERT INTO records (kind, key, value, expires_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
    )

    def put(self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None) -> None:
        with self._lock:
            self._run(self._PUT, (kind, key, _ENCODE(value), expires_at))

    def put_many(self, kind: str, items: Iterable[tuple[str, dict[str, Any], float | None]]) -> None:
        with self.transaction():
            for key, value, expires_at in items:
                self._run(self._PUT, (kind, key, _ENCODE(value), expires_at))

    def _live(self, row: Any, kind: str, key: str) -> dict[str, Any] | None:
        if row is None or (row[1] is not None and row[1] <= self._now()):
            return None
        return _decode(row[0], kind, key)

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._run("SELECT value, expires_at FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return self._live(row, kind, key)

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Delete and return in one statement: a one-time code is usable exactly once, on any replica."""
        with self._lock:
            row = self._run(
                "DELETE FROM records WHERE kind = ? AND key = ? RETURNING value, expires_at", (kind, key)
            ).fetchone()
        return self._live(row, kind, key)

    def delete(self, kind: str, key: str) -> bool:
        with self._lock:
            cur = self._run("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
            return int(cur.rowcount or 0) > 0

    def items(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._run(
                "SELECT key, value FROM records WHERE kind = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
                (kind, self._now()),
            ).fetchall()
        return [(str(key), _decode(value, kind, str(key))) for key, value in rows]

    def purge_expired(self) -> int:
        with self._lock:
            cur = self._run("DELETE FROM records WHERE expires_at IS NOT NULL AND expires_at <= ?", (self._now(),))
            return int(cur.rowcount or 0)

    # -- revocations -----------------------------------------------------------------
    def add_revocation(self, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Idempotent: the same (by, value, issued_before) twice is one revocation (a unique index)."""
        args = (record["by"], record["value"], record.get("issued_before"))
        with self.transaction():
            row = self._run(
                "INSERT INTO revocations (created_at, by, value, issued_before, reason, source) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (record["created_at"], *args, record.get("reason", ""), record.get("source", "")),
            ).fetchone()
            if row is not None:
                return {**record, "id": int(row[0])}, True
            existing = self._run(
                f"SELECT {', '.join(_REV_COLUMNS)} FROM revocations "  # noqa: S608 - constant column list
                "WHERE by = ? AND value = ? AND COALESCE(issued_before, -1) = COALESCE(?, -1)",
                args,
            ).fetchone()
        return dict(zip(_REV_COLUMNS, existing, strict=True)), False

    def revocations(self, since_id: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._run(
                f"SELECT {', '.join(_REV_COLUMNS)} FROM revocations WHERE id > ? ORDER BY id",  # noqa: S608
                (since_id,),
            ).fetchall()
        return [dict(zip(_REV_COLUMNS, row, strict=True)) for row in rows]

    def delete_revocation(self, revocation_id: int) -> bool:
        with self._lock:
            cur = self._run("DELETE FROM revocations WHERE id = ?", (revocation_id,))
            return int(cur.rowcount or 0) > 0

    # -- audit -----------------------------------------------------------------------
    def append_audit(self, record: dict[str, Any], body: str | None = None) -> int:
        if body is None:
            body = _ENCODE_AUDIT(record)
        with self._lock:
            row = self._run(
                "INSERT INTO audit (ts, event, severity, subject, role, decision, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                audit_columns(record, body),
            ).fetchone()
        return int(row[0])

    def queue_audit(self, record: dict[str, Any], body: str, committed: AuditCommitted) -> None:
        """Insert an audit row; ``committed`` gets it (with its id) once it is committed.

        Inside a transaction the rows are held and inserted together just before COMMIT (one statement
        per 32 rows, not one each), and each ``committed`` callback is called once after the COMMIT with
        all its rows, so the audit file gets one write per transaction; never on rollback. Outside a
        transaction the row is inserted and handed over at once.
        """
        with self._lock:
            rows = self._audit_rows
            if rows is not None:
                rows.append((record, body, committed))
                return
            record_id = self.append_audit(record, body)
        committed([(record_id, record, body)])

    def prune_audit(self, *, before: float | None, keep_last: int | None) -> int:
        """Retention: drop audit records older than ``before`` and all but the newest ``keep_last``."""
        removed = 0
        with self._lock:
            if before is not None:
                removed += int(self._run("DELETE FROM audit WHERE ts < ?", (before,)).rowcount or 0)
            if keep_last is not None:
                row = self._run("SELECT MAX(id) FROM audit").fetchone()
                if row and row[0] is not None:
                    cur = self._run("DELETE FROM audit WHERE id <= ?", (int(row[0]) - keep_last,))
                    removed += int(cur.rowcount or 0)
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
            rows = self._run(sql, args).fetchall()
        return [{"id": int(row_id), **json.loads(body)} for row_id, body in rows]

    # -- small metadata --------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._run("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._run(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _decode(raw: str, kind: str, key: str) -> dict[str, Any]:
    """A record's value; a damaged one is named (:class:`DamagedRecord`), never skipped."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DamagedRecord(kind, key, f"not JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(value, dict):
        raise DamagedRecord(kind, key, f"not a JSON object ({type(value).__name__})")
    return value
