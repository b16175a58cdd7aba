"""The revocation registry shared by both planes.

A revocation names what it revokes (``by``: jti, sub, client_id, iss,
role_arn, session or access_key) and, for the broad kinds, a cut-off: every
token or credential *issued before* that instant is revoked, later ones are
not. Records live in the store, so they survive restarts and are seen by every
process. Each addition or removal is a change-feed record written in the same
transaction; every process applies it (:meth:`RevocationRegistry.apply`) before
its next request, so the in-memory index is never behind an acknowledged change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .store import Backend

#: Change-feed topic of revocations; keys are ``add:<id>`` or ``del:<id>``.
TOPIC = "revocations"

#: Kinds that revoke one exact thing, forever.
EXACT_KINDS = ("jti", "access_key", "session")
#: Kinds that revoke everything issued before a cut-off (default: now).
CUTOFF_KINDS = ("sub", "client_id", "iss", "role_arn")
KINDS = EXACT_KINDS + CUTOFF_KINDS


class RevocationRegistry:
    def __init__(
        self, store: Backend, *, now: Callable[[], float], on_revoke: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self._store = store
        self._now = now
        self._on_revoke = on_revoke
        self._last_id = 0
        self._index: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self._load_new()

    def _load_new(self) -> None:
        """Index revocations added since the last look. Ids are allocated inside serialised change
        transactions, so they grow in commit order and ``id > last`` misses nothing."""
        for record in self._store.revocations(self._last_id):
            self._index[(record["by"], record["value"])].append(record)
            self._last_id = max(self._last_id, record["id"])

    def apply(self, keys: set[str] | None) -> None:
        """Change-feed handler: additions are read incrementally; a removal rebuilds the index."""
        if keys is None or any(key.startswith("del:") for key in keys):
            index: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
            records = self._store.revocations(0)
            for record in records:
                index[(record["by"], record["value"])].append(record)
            self._index, self._last_id = index, max((r["id"] for r in records), default=0)
        else:
            self._load_new()

    def revoke(
        self, by: str, value: str, *, reason: str = "", source: str = "", issued_before: float | None = None
    ) -> dict[str, Any]:
        if by not in KINDS:
            raise ValueError(f"cannot revoke by {by!r}; choose one of {', '.join(KINDS)}")
        if not value:
            raise ValueError("a revocation needs a value")
        now = self._now()
        if by in CUTOFF_KINDS and issued_before is None:
            issued_before = now
        wanted = {
            "created_at": now,
            "by": by,
            "value": value,
            "issued_before": issued_before,
            "reason": reason,
            "source": source,
        }
        with self._store.change() as change:
            record, new = self._store.add_revocation(wanted)
            if new:
                change.note(TOPIC, f"add:{record['id']}")
        self._load_new()  # in force here before the caller answers (other processes: the feed)
        if new and self._on_revoke is not None:
            self._on_revoke(record)
        return record

    def check(self, facts: dict[str, Any]) -> dict[str, Any] | None:
        """The first revocation that covers these facts, or None."""
        if not self._index:
            return None
        issued_at = facts.get("iat")
        candidates: list[tuple[str, Any]] = [(kind, facts.get(kind)) for kind in KINDS]
        if facts.get("role_arn") and facts.get("session_name"):
            candidates.append(("session", f"{facts['role_arn']}/{facts['session_name']}"))
        for kind, value in candidates:
            if not value:
                continue
            for record in self._index.get((kind, str(value)), ()):
                cutoff = record.get("issued_before")
                if cutoff is None:
                    return record
                if issued_at is None or float(issued_at) < float(cutoff):
                    return record
        return None

    def list(self) -> list[dict[str, Any]]:
        return self._store.revocations(0)

    def remove(self, revocation_id: int) -> bool:
        with self._store.change() as change:
            removed = self._store.delete_revocation(revocation_id)
            if removed:
                change.note(TOPIC, f"del:{revocation_id}")
        if removed:
            self.apply({f"del:{revocation_id}"})
        return removed
