"""A transaction's audit rows, inserted together just before its COMMIT (both backends).

Under load one group commit holds the audit records of several requests; one multi-row
``INSERT … RETURNING id`` per 32 rows costs less than one statement (and one round trip on
PostgreSQL) per row. The ids come back to the callers grouped by callback, so the audit log writes
the file lines of a whole transaction at once, after the COMMIT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: Gets ``(id, record, body)`` of each of its rows once they are committed.
AuditCommitted = Callable[[list[tuple[int, dict[str, Any], str]]], None]
#: A queued row: the record, its JSON body, and who is told once it is committed.
QueuedRow = tuple[dict[str, Any], str, AuditCommitted]

#: Audit rows per INSERT statement (7 parameters each: far below either backend's limit).
CHUNK = 32
_INSERT = "INSERT INTO audit (ts, event, severity, subject, role, decision, body) VALUES "
_INSERTS = [_INSERT + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * n) + " RETURNING id" for n in range(CHUNK + 1)]


def audit_columns(record: dict[str, Any], body: str) -> tuple[Any, ...]:
    """An audit row's columns, in the order of ``INSERT INTO audit (...)``: the indexed fields, then the body."""
    return (
        record["ts"],
        record["event"],
        record.get("severity", "info"),
        record.get("sub"),
        record.get("role_arn"),
        record.get("decision"),
        body,
    )


def insert_audit_rows(
    run: Callable[[str, list[Any]], Any], rows: Sequence[QueuedRow]
) -> dict[AuditCommitted, list[tuple[int, dict[str, Any], str]]]:
    """Insert ``rows`` with ``run`` (one statement); each callback's committed rows, with their ids."""
    out: dict[AuditCommitted, list[tuple[int, dict[str, Any], str]]] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        args: list[Any] = []
        for record, body, _ in chunk:
            args += audit_columns(record, body)
        # Rows are inserted in VALUES order and ids only grow (a sequence / AUTOINCREMENT), so the
        # sorted ids are the rows' ids in order, whatever order RETURNING reports them in.
        ids = sorted(int(row[0]) for row in run(_INSERTS[len(chunk)], args).fetchall())
        for record_id, (record, body, committed) in zip(ids, chunk, strict=True):
            out.setdefault(committed, []).append((record_id, record, body))
    return out
