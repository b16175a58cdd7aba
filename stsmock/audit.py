"""One structured audit record per event, to a JSON Lines file and the store.

Records are redacted on the way in: whole tokens and secrets never reach disk
(a token is recorded by its ``jti`` and hash). Subscribers (metrics, the
``--follow`` stream, webhooks) see the same record, so the explanation of a
decision is computed once.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

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
_BATCH: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
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
    def __init__(self, store: Store, *, path: Path | None, now: Callable[[], float]) -> None:
        self._store = store
        self._now = now
        self._path = path
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._file = None
        self._commit: Callable[[list[Callable[[], None]]], Awaitable[None]] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8", buffering=1)

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> None:
        self._subscribers.append(callback)

    def use_group_commit(self, commit: Callable[[list[Callable[[], None]]], Awaitable[None]]) -> None:
        """Let :meth:`batched` blocks share one transaction per event-loop turn with other requests."""
        self._commit = commit

    @contextlib.asynccontextmanager
    async def batched(self) -> AsyncIterator[None]:
        """Records made inside the block are committed (with other requests' writes) before it ends.

        The caller's response therefore still leaves only after its audit record is on disk.
        """
        ops: list[Callable[[], None]] = []
        token = _BATCH.set(ops)
        try:
            yield
        finally:
            _BATCH.reset(token)
            if ops:
                if self._commit is not None:
                    await self._commit(ops)
                else:
                    for op in ops:
                        op()

    def record(self, event: str, **fields: Any) -> None:
        severity = fields.pop("severity", None) or ("high" if event.startswith(HIGH_EVENTS[:1]) else "info")
        record: dict[str, Any] = {"ts": round(self._now(), 3), "event": event, "severity": severity, **redact(fields)}
        batch = _BATCH.get()
        if batch is not None:
            batch.append(functools.partial(self._write, record))
            return
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        body = json.dumps(record, separators=(",", ":"), default=str)  # serialised once, for the store and the file
        record_id = self._store.append_audit(record, body)
        record = {"id": record_id, **record}
        if self._file is not None:
            with self._lock:
                self._file.write(f'{{"id":{record_id},{body[1:]}\n')
        for callback in self._subscribers:
            try:
                callback(record)
            except Exception:  # a broken subscriber must never break the request
                log.exception("audit subscriber failed")

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        return self._store.query_audit(**filters)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
