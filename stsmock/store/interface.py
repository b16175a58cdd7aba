"""The narrow interface every state store implements (SQLite for one machine, PostgreSQL for replicas).

Two kinds of write exist. Plain writes (sessions, codes, audit) go through :meth:`Backend.transaction`
or one statement each. Changes of *shared* state (keys, revocations, roles, fault rules, the clock,
break-glass state, runtime config) go through :meth:`Backend.change`: it takes the feed's head row
first, so such transactions are serialised across every process, read the latest committed state and
are numbered in commit order. Each records one or more ``Change`` rows with the new head version; other
processes compare their applied version with :meth:`Backend.head` before a request and apply what
they missed (see :mod:`stsmock.store.feed`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


class StoreUnavailable(RuntimeError):
    """The store cannot be reached (PostgreSQL down or cut off). Requests fail closed with 503."""


class StoreBusy(RuntimeError):
    """``transaction(wait=False)`` found another process holding the write lock; nothing was begun."""


class DamagedRecord(ValueError):
    """A stored record whose value is not a JSON object: reported with its kind and key, never skipped."""

    def __init__(self, kind: str, key: str, reason: str) -> None:
        self.kind, self.key, self.reason = kind, key, reason
        super().__init__(f"stored record {kind}/{key} is damaged: {reason}")


@dataclass(frozen=True)
class Change:
    """One versioned record of the change feed: ``topic`` names what changed, ``key`` which item."""

    version: int
    topic: str
    key: str


class ChangeSet(Protocol):
    """Handed out by :meth:`Backend.change`; ``note`` adds a feed record to the same transaction."""

    version: int

    def note(self, topic: str, key: str = "") -> None: ...


class FeedListener(Protocol):
    """PostgreSQL's LISTEN thread: wakes the feed between requests; reconnects and catches up."""

    connected: threading.Event
    reconnects: int

    def stop(self) -> None: ...


class Backend(Protocol):
    """What the rest of stsmock may ask of a store. Keep it narrow: both backends must behave alike."""

    #: "sqlite" or "postgresql" (shown by /healthz and the admin info).
    kind: str

    def close(self) -> None: ...

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` unless a round trip to the store works (readiness)."""

    def transaction(self, *, wait: bool = True) -> AbstractContextManager[None]:
        """One commit for everything written inside; nested calls join the outer transaction.

        ``wait=False`` raises :class:`StoreBusy` instead of waiting when another process holds the
        write lock (SQLite): the group commit retries from the event loop rather than sleep on it."""

    def change(self) -> AbstractContextManager[ChangeSet]:
        """A serialised transaction of shared state; its notes become feed records at commit."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the open transaction commits (at once outside one; never on rollback)."""

    def try_job_lock(self, job: str) -> bool:
        """Inside a transaction: True if this process may run single-writer ``job`` now (else skip)."""

    # -- namespaced records --
    def put(self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None) -> None: ...
    def put_many(self, kind: str, items: Iterable[tuple[str, dict[str, Any], float | None]]) -> None: ...
    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...
    def take(self, kind: str, key: str) -> dict[str, Any] | None: ...
    def delete(self, kind: str, key: str) -> bool: ...
    def items(self, kind: str) -> list[tuple[str, dict[str, Any]]]: ...
    def purge_expired(self) -> int: ...

    # -- revocations --
    def add_revocation(self, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert (idempotent on by/value/issued_before): the stored record and whether it is new."""

    def revocations(self, since_id: int = 0) -> list[dict[str, Any]]: ...
    def delete_revocation(self, revocation_id: int) -> bool: ...

    # -- audit --
    def append_audit(self, record: dict[str, Any], body: str | None = None) -> int: ...
    def queue_audit(
        self, record: dict[str, Any], body: str, committed: Callable[[list[tuple[int, dict[str, Any], str]]], None]
    ) -> None:
        """Insert ``record`` (``body`` is its JSON); ``committed`` gets ``(id, record, body)`` rows once
        committed — inside a transaction after its COMMIT, all of one transaction's rows in one call."""

    def prune_audit(self, *, before: float | None, keep_last: int | None) -> int: ...
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
    ) -> list[dict[str, Any]]: ...

    # -- small metadata --
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...

    # -- change feed --
    def head(self) -> int:
        """The newest feed version; cheap (a pragma or one-row read), called before every request."""

    def changes_since(self, version: int) -> list[Change] | None:
        """Feed records after ``version`` in order; None when they were pruned (reload everything)."""

    def prune_changes(self, keep: int) -> int:
        """Drop all but the newest ``keep`` feed records."""
