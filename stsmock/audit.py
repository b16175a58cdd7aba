"""One structured audit record per event, to the store and then a JSON Lines file.

Records are redacted on the way in: whole tokens and secrets never reach disk
(a token is recorded by its ``jti`` and hash). Subscribers (metrics, the
``--follow`` stream, webhooks) see the same record, so the explanation of a
decision is computed once.

Order: the file line is written only after the database commit that holds the same
record, so after ``kill -9`` or a full disk the file never claims an "allow" for
credentials that were never issued. At start a torn last line is cut off and every
committed record the file misses is appended again from the store. The file rotates
(``audit.jsonl.1`` ...) by size; the store and rotated files are pruned by age and count
(``audit.*`` in the config).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from .audit_file import AuditFile
from .store import Backend as Store

log = logging.getLogger("stsmock.audit")

_SECRET_FIELDS = frozenset(
    {
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "web_identity_token",
        "secret",
        "secret_access_key",
        "session_token",
        "client_secret",
        "password",
        "authorization_code",
        "code_verifier",
        "subject_token",
        "device_code",
    }
)
#: The records of the current ``batched()`` block (per task), or None outside one.
_BATCH: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "stsmock_audit_batch", default=None
)
HIGH_EVENTS = ("breakglass.", "admin.", "revocation.", "key.")
#: ``json.dumps(..., separators=(",", ":"), default=str)`` without building an encoder per record.
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode
_NESTED = (dict, list)
#: Keys already seen not to be secret (bounded: token claims may bring any key); a set lookup instead of
#: ``k.lower()`` per key — the audit record of every STS request passes through :func:`redact`.
_PLAIN: set[Any] = set()


def _secret(key: Any) -> bool:
    if key.lower() in _SECRET_FIELDS:
        return True
    if len(_PLAIN) < 4096:
        _PLAIN.add(key)
    return False


def redact(value: Any) -> Any:
    """Drop secret-looking fields anywhere in a record; keep everything else."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if k not in _PLAIN and _secret(k):
                out[k] = "[redacted]"
            else:
                out[k] = redact(v) if isinstance(v, _NESTED) else v
        return out
    if isinstance(value, list):
        return [redact(v) if isinstance(v, _NESTED) else v for v in value]
    return value


class AuditLog:
    def __init__(
        self,
        store: Store,
        *,
        path: Path | None,
        now: Callable[[], float],
        max_bytes: int = 64 * 1024 * 1024,
        backups: int = 3,
        max_age_seconds: int | None = None,
        max_records: int | None = None,
    ) -> None:
        self._store = store
        self._now = now
        self._path = path
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._commit: Callable[[list[Callable[[], None]]], Awaitable[None]] | None = None
        self.max_age_seconds = max_age_seconds
        self.max_records = max_records
        self._file: AuditFile | None = None
        if path is not None:
            self._file = AuditFile(path, max_bytes=max_bytes, backups=backups)
            self._file.repair(lambda after_id: store.query_audit(after_id=after_id, limit=10_000))

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> None:
        self._subscribers.append(callback)

    def use_group_commit(self, commit: Callable[[list[Callable[[], None]]], Awaitable[None]]) -> None:
        """Let :meth:`batched` blocks share one transaction per event-loop turn with other requests."""
        self._commit = commit

    @contextlib.asynccontextmanager
    async def batched(self) -> AsyncIterator[None]:
        """Records made inside the block are committed (with other requests' writes) before it ends.

        The caller's response therefore still leaves only after its audit record is on disk;
        the file lines and subscribers follow the commit.
        """
        records: list[dict[str, Any]] = []
        token = _BATCH.set(records)
        try:
            yield
        finally:
            _BATCH.reset(token)
            if records:
                write = functools.partial(self._write, records)
                if self._commit is not None:
                    await self._commit([write])
                else:
                    write()

    def record(self, event: str, **fields: Any) -> None:
        severity = fields.pop("severity", None) or ("high" if event.startswith(HIGH_EVENTS) else "info")
        record: dict[str, Any] = {"ts": round(self._now(), 3), "event": event, "severity": severity, **redact(fields)}
        batch = _BATCH.get()
        if batch is not None:
            batch.append(record)
            return
        self._write([record])

    def _write(self, records: list[dict[str, Any]]) -> None:
        """To the store; file and subscribers once committed (inside a transaction, e.g. the STS's group
        commit, after its COMMIT: one file write for all of the transaction's records)."""
        for record in records:
            body = _ENCODE(record)  # once, for the store and the file
            self._store.queue_audit(record, body, self._committed)

    def _committed(self, rows: list[tuple[int, dict[str, Any], str]]) -> None:
        if self._file is not None:
            lines = [f'{{"id":{record_id},{body[1:]}\n' for record_id, _, body in rows]
            with self._lock:
                try:
                    self._file.write_lines(lines)
                except OSError:  # the records are committed in the store; the file catches up at the next start
                    log.exception("audit file write failed (the records are in the store)")
        if self._subscribers:
            for record_id, record, _ in rows:
                item = {"id": record_id, **record}
                for callback in self._subscribers:
                    try:
                        callback(item)
                    except Exception:  # a broken subscriber must never break the request
                        log.exception("audit subscriber failed")

    def prune(self) -> int:
        """Drop records beyond ``max_age_seconds`` / ``max_records`` from the store and old rotated files."""
        before = self._now() - self.max_age_seconds if self.max_age_seconds else None
        removed = self._store.prune_audit(before=before, keep_last=self.max_records)
        if self._file is not None and self.max_age_seconds:
            self._file.prune_backups(older_than=time.time() - self.max_age_seconds)  # file times are real time
        return removed

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        return self._store.query_audit(**filters)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
