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
from .store import Store

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
_BATCH: contextvars.ContextVar[list[Callable[..., None]] | None] = contextvars.ContextVar(
    "stsmock_audit_batch", default=None
)
HIGH_EVENTS = ("breakglass.", "admin.", "revocation.", "key.")


def redact(value: Any) -> Any:
    """Drop secret-looking fields anywhere in a record; keep everything else."""
    if isinstance(value, dict):
        return {
            k: "[redacted]" if k.lower() in _SECRET_FIELDS else (redact(v) if isinstance(v, dict | list) else v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) if isinstance(v, dict | list) else v for v in value]
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
        ops: list[Callable[..., None]] = []
        token = _BATCH.set(ops)
        try:
            yield
        finally:
            _BATCH.reset(token)
            if ops:
                inserted: list[tuple[dict[str, Any], str]] = []
                writes: list[Callable[[], None]] = [functools.partial(op, inserted) for op in ops]
                if self._commit is not None:
                    await self._commit(writes)
                else:
                    for write in writes:
                        write()
                for record, line in inserted:  # committed: now the file and the subscribers
                    self._emit(record, line)

    def record(self, event: str, **fields: Any) -> None:
        severity = fields.pop("severity", None) or ("high" if event.startswith(HIGH_EVENTS) else "info")
        record: dict[str, Any] = {"ts": round(self._now(), 3), "event": event, "severity": severity, **redact(fields)}
        batch = _BATCH.get()
        if batch is not None:
            batch.append(functools.partial(self._insert, record))
            return
        inserted: list[tuple[dict[str, Any], str]] = []
        self._insert(record, inserted)
        after_commit = getattr(self._store, "after_commit", None)
        for item, line in inserted:
            if after_commit is not None:  # inside a transaction (e.g. the STS's group commit): after its COMMIT
                after_commit(functools.partial(self._emit, item, line))
            else:
                self._emit(item, line)

    def _insert(self, record: dict[str, Any], out: list[tuple[dict[str, Any], str]]) -> None:
        body = json.dumps(record, separators=(",", ":"), default=str)  # serialised once, for the store and the file
        record_id = self._store.append_audit(record, body)
        out.append(({"id": record_id, **record}, f'{{"id":{record_id},{body[1:]}\n'))

    def _emit(self, record: dict[str, Any], line: str) -> None:
        if self._file is not None:
            with self._lock:
                try:
                    self._file.write(line)
                except OSError:  # the record is committed in the store; the file catches up at the next start
                    log.exception("audit file write failed (the record is in the store)")
        for callback in self._subscribers:
            try:
                callback(record)
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
