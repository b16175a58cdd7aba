"""The group commit under ``--workers``: another process's write lock is waited for off the event loop.

SQLite's busy handler sleeps 1, 2, 5, 10 ms... inside ``BEGIN IMMEDIATE``; on the event loop that stopped
the whole worker (15-20 % of each worker's time at c=16 with two workers). The group commit now begins
without it, retries from the loop, and lets the requests that arrive meanwhile join its batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stsmock.store import GroupCommit, Store, group_commit
from stsmock.store.interface import StoreBusy


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state.db", now=lambda: 1000.0)
    yield s
    s.close()


def _other_process_lock(path: str) -> sqlite3.Connection:
    """The write lock held as a sibling worker holds it during its commit."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_held_write_lock_raises_store_busy_without_waiting(store: Store) -> None:
    other = _other_process_lock(store.path)
    started = time.monotonic()
    with pytest.raises(StoreBusy), store.transaction(wait=False):
        pytest.fail("began although another connection holds the write lock")
    assert time.monotonic() - started < 0.5  # no busy handler
    other.execute("ROLLBACK")
    with store.transaction(wait=False):  # free again: begins, and the busy timeout is back
        store.put("s", "a", {})
    assert store.get("s", "a") == {}
    assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000


def test_the_loop_keeps_running_while_the_lock_is_held_and_the_batch_grows(store: Store) -> None:
    commit = GroupCommit(store)
    other = _other_process_lock(store.path)
    ticks = 0

    async def run() -> None:
        nonlocal ticks
        first = asyncio.ensure_future(commit.run([lambda: store.put("s", "first", {})]))
        for _ in range(20):  # the loop is free: it ticks, and a later request joins the waiting batch
            await asyncio.sleep(0.005)
            ticks += 1
        later = asyncio.ensure_future(commit.run([lambda: store.put("s", "later", {})]))
        await asyncio.sleep(0.01)
        assert not first.done() and not later.done()  # nothing acknowledged before its commit
        other.execute("ROLLBACK")
        await asyncio.gather(first, later)

    transactions = 0
    real = store.transaction

    @contextmanager
    def counting(*, wait: bool = True) -> Iterator[None]:
        nonlocal transactions
        with real(wait=wait):
            transactions += 1
            yield

    store.transaction = counting  # type: ignore[method-assign]
    asyncio.run(run())
    assert ticks == 20 and commit.retries > 10
    assert transactions == 1  # both requests in the one commit made once the lock was free
    assert {k for k, _ in store.items("s")} == {"first", "later"}


def test_after_the_retry_window_the_commit_waits_in_the_store(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(group_commit, "MAX_RETRY_SECONDS", 0.05)
    commit = GroupCommit(store)
    other = _other_process_lock(store.path)

    def release_soon() -> None:  # from a thread: once the commit waits in the store, the loop is blocked
        time.sleep(0.3)
        other.execute("ROLLBACK")

    threading.Thread(target=release_soon, daemon=True).start()
    started = time.monotonic()
    asyncio.run(commit.run([lambda: store.put("s", "a", {})]))
    assert store.get("s", "a") == {} and time.monotonic() - started >= 0.3
    assert 0 < commit.retries < 0.05 / group_commit.RETRY_SECONDS + 20  # retried, then stopped retrying


def test_a_store_that_cannot_begin_fails_the_waiting_requests() -> None:
    class Broken:
        @contextmanager
        def transaction(self, *, wait: bool = True) -> Iterator[None]:
            raise sqlite3.OperationalError("disk I/O error")
            yield

    commit = GroupCommit(Broken())  # type: ignore[arg-type]

    async def run() -> None:
        results = await asyncio.gather(commit.run([]), commit.run([]), return_exceptions=True)
        assert [type(r) for r in results] == [sqlite3.OperationalError] * 2
        await asyncio.wait_for(asyncio.gather(commit.run([]), return_exceptions=True), 1)  # not stuck

    asyncio.run(run())
