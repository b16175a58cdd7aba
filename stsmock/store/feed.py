"""The change feed, applied: every process brings its in-memory state up to the store's version.

Writers record changes in the store (:meth:`Backend.change`); this side reads them. ``sync`` compares
the process's applied version with the store's head (a pragma or a one-row read) and, when it moved,
hands each changed topic's keys to its handlers, in version order. The request middleware calls it
before every request, so a change acknowledged by any process — a revocation, an immediate key
retirement, a role removal — is in force for every request that starts after the acknowledgement,
on every process. Background work (token files, sweeps) is woken by the listener (NOTIFY) or polls
once a second, which bounds how late it sees a change. No cache TTL is part of correctness.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .interface import Backend, Change

log = logging.getLogger("stsmock.feed")

#: A handler gets the changed keys of its topic, or None: "reload everything" (feed records pruned).
Handler = Callable[[set[str] | None], None]
#: Feed records kept in the store for processes that were away (older ones force a full reload).
KEEP_CHANGES = 10_000


class ChangeFeed:
    def __init__(self, store: Backend) -> None:
        self.store = store
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.RLock()
        self.applied = store.head()
        #: Feed versions applied by this process (for the propagation measurements and /healthz).
        self.applied_changes = 0
        hooks: list[Callable[[int], None]] | None = getattr(store, "on_committed_change", None)
        if hooks is not None:
            hooks.append(self._committed_here)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    def _committed_here(self, version: int) -> None:
        """Our own change committed: apply it (and anything before it) before the call returns."""
        self.sync()

    def sync(self) -> int:
        """Apply every change up to the store's head; raises StoreUnavailable when it cannot look."""
        head = self.store.head()
        if head <= self.applied:
            return self.applied
        with self._lock:
            if head <= self.applied:
                return self.applied
            changes = self.store.changes_since(self.applied)
            if changes is None:
                log.info("feed records before %d were pruned: reloading all shared state", head)
                for topic in list(self._handlers):
                    self._dispatch(topic, None)
            else:
                self._apply(changes)
                head = max([head, *(c.version for c in changes)])
            self.applied = head
            self.applied_changes += 1
        return head

    def _apply(self, changes: list[Change]) -> None:
        grouped: dict[str, set[str]] = {}
        for change in changes:  # in version order; a topic's keys are applied together, at its first place
            grouped.setdefault(change.topic, set()).add(change.key)
        for topic, keys in grouped.items():
            self._dispatch(topic, keys)

    def _dispatch(self, topic: str, keys: set[str] | None) -> None:
        for handler in self._handlers.get(topic, ()):
            try:
                handler(keys)
            except Exception:  # one broken handler must not stop the others from applying
                log.exception("applying %s changes failed", topic)

    def sync_quietly(self) -> None:
        """For background wake-ups: a failed look is retried at the next wake-up or request."""
        try:
            self.sync()
        except Exception as exc:  # noqa: BLE001 - logged, retried
            log.debug("feed sync failed: %s", exc)

    def describe(self) -> dict[str, Any]:
        return {"applied_version": self.applied}
