"""Durable writes with one commit per event-loop turn, however many requests wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .interface import Backend


class GroupCommit:
    """A request hands over its writes and awaits them; everything submitted during the same loop
    iteration is committed in one transaction, then every waiter resumes. So a response is sent only
    after its session and audit record are committed, and under concurrency the commit cost is shared.
    """

    def __init__(self, store: Backend) -> None:
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
