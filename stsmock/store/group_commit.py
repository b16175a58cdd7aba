"""Durable writes with one commit per event-loop turn, however many requests wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .interface import Backend, StoreBusy

#: While another process holds the write lock, try again this often from the event loop.
RETRY_SECONDS = 0.0005
#: After this long without the lock, wait for it inside the store (its busy timeout) like any writer.
MAX_RETRY_SECONDS = 1.0


class GroupCommit:
    """A request hands over its writes and awaits them; everything submitted during the same loop
    iteration is committed in one transaction, then every waiter resumes. So a response is sent only
    after its session and audit record are committed, and under concurrency the commit cost is shared.

    When another process (a ``--workers`` sibling) holds the write lock, the commit does not wait for it
    on the event loop: it tries again shortly, and the requests that arrive meanwhile join the batch.
    """

    def __init__(self, store: Backend) -> None:
        self._store = store
        self._pending: list[tuple[list[Callable[[], None]], asyncio.Future[None]]] = []
        self._scheduled = False
        self._busy_since: float | None = None
        #: Commits that found the write lock taken and were retried (a gauge of contention between workers).
        self.retries = 0

    async def run(self, ops: list[Callable[[], None]]) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((ops, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        await future

    def _take_pending(self) -> list[tuple[list[Callable[[], None]], asyncio.Future[None]]]:
        """The batch this flush commits or fails; the next request schedules a new flush."""
        batch, self._pending, self._scheduled, self._busy_since = self._pending, [], False, None
        return batch

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        wait = self._busy_since is not None and loop.time() - self._busy_since >= MAX_RETRY_SECONDS
        batch: list[tuple[list[Callable[[], None]], asyncio.Future[None]]] | None = None
        try:
            with self._store.transaction(wait=wait):
                batch = self._take_pending()
                for ops, _ in batch:
                    for op in ops:
                        op()
        except StoreBusy:
            self.retries += 1
            if self._busy_since is None:
                self._busy_since = loop.time()
            loop.call_later(RETRY_SECONDS, self._flush, loop)
            return
        except Exception as exc:  # the requests fail; nothing half-written is acknowledged
            if batch is None:  # the transaction could not begin
                batch = self._take_pending()
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
