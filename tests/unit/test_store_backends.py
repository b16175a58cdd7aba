"""Both store backends behave alike: the change feed, serialised changes, idempotent revocations.

Every test runs on SQLite and on a real PostgreSQL (started by tests/tooling/postgres.py). Two store
objects on the same database stand for two processes: they have separate connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stsmock.store import Backend, ChangeFeed, StoreUnavailable, open_store


class Clock:
    t = 1000.0

    def now(self) -> float:
        return self.t


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Backend]]:
    """Opens another connection ("process") on one shared database of the parametrised kind."""
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened: list[Backend] = []

    def open_one() -> Backend:
        store = open_store(url, data_dir=tmp_path, now=Clock().now)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def test_changes_are_numbered_in_commit_order_and_seen_by_others(opener):
    a, b = opener(), opener()
    feed_b = ChangeFeed(b)
    seen: list[set[str] | None] = []
    feed_b.subscribe("revocations", seen.append)
    with a.change() as cs:
        cs.note("revocations", "add:1")
        cs.note("revocations", "add:2")
    with a.change() as cs:
        cs.note("roles", "dev")
    assert b.head() == 2
    assert [c.version for c in b.changes_since(0)] == [1, 1, 2]
    feed_b.sync()
    assert seen == [{"add:1", "add:2"}]
    assert feed_b.applied == 2
    feed_b.sync()  # nothing new: no handler runs again
    assert len(seen) == 1


def test_own_changes_apply_before_the_write_returns(opener):
    a = opener()
    feed = ChangeFeed(a)
    seen: list[set[str] | None] = []
    feed.subscribe("clock", seen.append)
    with a.change() as cs:
        cs.note("clock")
    assert seen == [{""}] and feed.applied == 1


def test_a_rolled_back_change_leaves_no_record(opener):
    a = opener()
    with pytest.raises(ZeroDivisionError), a.change() as cs:
        cs.note("faults", "f1")
        a.put("fault", "f1", {"id": "f1"})
        1 / 0  # noqa: B018
    assert a.head() == 0 and a.changes_since(0) == [] and a.get("fault", "f1") is None


def test_concurrent_read_modify_write_changes_lose_nothing(opener):
    """Each writer reads the counter inside change() and writes it back: serialised, no lost update."""
    stores = [opener() for _ in range(4)]
    stores[0].set_meta("n", "0")

    def bump(store: Backend) -> None:
        for _ in range(25):
            with store.change() as cs:
                value = int(store.get_meta("n") or "0")
                store.set_meta("n", str(value + 1))
                cs.note("counter")

    threads = [threading.Thread(target=bump, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].get_meta("n") == "100"
    assert stores[1].head() == 100


def test_revocations_are_idempotent(opener):
    a, b = opener(), opener()
    first, new = a.add_revocation({"created_at": 1.0, "by": "jti", "value": "j1"})
    again, new_again = b.add_revocation({"created_at": 2.0, "by": "jti", "value": "j1"})
    assert new and not new_again and again["id"] == first["id"]
    cut, _ = a.add_revocation({"created_at": 1.0, "by": "sub", "value": "s", "issued_before": 5.0})
    later, new_later = a.add_revocation({"created_at": 1.0, "by": "sub", "value": "s", "issued_before": 6.0})
    assert new_later and later["id"] != cut["id"]
    assert [r["value"] for r in b.revocations()] == ["j1", "s", "s"]
    assert b.delete_revocation(first["id"]) and not a.delete_revocation(first["id"])


def test_take_is_once_across_connections(opener):
    a, b = opener(), opener()
    a.put("code", "c", {"v": 1})
    assert b.take("code", "c") == {"v": 1}
    assert a.take("code", "c") is None


def test_pruned_feed_forces_a_full_reload(opener):
    a, b = opener(), opener()
    feed_b = ChangeFeed(b)
    seen: list[set[str] | None] = []
    feed_b.subscribe("keys:default", seen.append)
    for _ in range(5):
        with a.change() as cs:
            cs.note("keys:default", "k")
    a.prune_changes(keep=2)
    assert b.changes_since(0) is None
    feed_b.sync()
    assert seen == [None] and feed_b.applied == 5


def test_postgres_job_lock_admits_one_writer(pg_url, tmp_path):
    a = open_store(pg_url, data_dir=tmp_path, now=time.time)
    b = open_store(pg_url, data_dir=tmp_path, now=time.time)
    try:
        with a.transaction():
            assert a.try_job_lock("rotate:default")
            with b.transaction():
                assert not b.try_job_lock("rotate:default")  # a holds it until its commit
        with b.transaction():
            assert b.try_job_lock("rotate:default")
    finally:
        a.close()
        b.close()


def test_postgres_restart_reconnects_and_listener_catches_up(pg_cluster, tmp_path):
    url = pg_cluster.fresh_database("restart_case")
    store = open_store(url, data_dir=tmp_path, now=time.time)
    other = open_store(url, data_dir=tmp_path, now=time.time)
    woken = threading.Event()
    listener = store.listen(woken.set)  # type: ignore[attr-defined]
    try:
        assert listener.connected.wait(10)
        pg_cluster.stop()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            store.head()  # fail closed: no stale answer while the store is away
        with pytest.raises(StoreUnavailable):
            with store.change() as cs:
                cs.note("revocations", "add:9")
        pg_cluster.start()
        with other.change() as cs:  # the first call after the restart reconnects
            cs.note("revocations", "add:1")
        woken.clear()
        assert woken.wait(10)  # the listener reconnected and woke the feed (catch-up)
        assert store.head() == 1
        assert listener.reconnects >= 1
    finally:
        listener.stop()
        store.close()
        other.close()


def test_a_damaged_record_is_named_never_skipped(opener):
    from stsmock.store import DamagedRecord

    store = opener()
    store.put("key:default", "good", {"kid": "good"})
    store.put("key:default", "bad", {"kid": "bad"})
    store._run("UPDATE records SET value = ? WHERE kind = ? AND key = ?", ('{"kid": "ba', "key:default", "bad"))  # type: ignore[attr-defined]
    with pytest.raises(DamagedRecord) as info:
        store.items("key:default")
    assert (info.value.kind, info.value.key) == ("key:default", "bad") and "not JSON" in info.value.reason
    with pytest.raises(DamagedRecord, match="key:default/bad"):
        store.get("key:default", "bad")
    store._run("UPDATE records SET value = ? WHERE kind = ? AND key = ?", ("[1]", "key:default", "bad"))  # type: ignore[attr-defined]
    with pytest.raises(DamagedRecord, match="not a JSON object"):
        store.get("key:default", "bad")
    assert store.get("key:default", "good") == {"kid": "good"}


def test_a_transactions_audit_rows_are_inserted_together_and_handed_over_after_commit(opener):
    """queue_audit inside a transaction: 40 rows (two INSERTs: 32 + 8), interleaved with another process's
    rows, get increasing ids in the order queued; each callback gets its rows once, after the COMMIT."""
    import json

    a, b = opener(), opener()
    got: dict[str, list[tuple[int, dict, str]]] = {"x": [], "y": []}
    visible_at_callback: list[int] = []

    def committed(name: str) -> Callable[[list[tuple[int, dict, str]]], None]:
        def take(rows: list[tuple[int, dict, str]]) -> None:
            visible_at_callback.append(len(b.query_audit(limit=1000)))  # committed: another connection sees it
            got[name].extend(rows)

        return take

    to_x, to_y = committed("x"), committed("y")
    b.append_audit({"ts": 1.0, "event": "other"})
    with a.transaction():
        for n in range(40):
            record = {"ts": 2.0, "event": "test", "n": n, "sub": f"u{n}"}
            a.queue_audit(record, json.dumps(record), to_x if n % 4 else to_y)
        assert got == {"x": [], "y": []}  # nothing handed over before the COMMIT
    assert [len(got["x"]), len(got["y"])] == [30, 10] and visible_at_callback == [41, 41]
    rows = sorted(got["x"] + got["y"])
    assert [r[1]["n"] for r in rows] == list(range(40))  # ids follow the queue order
    stored = {r["id"]: r for r in b.query_audit(event="test", limit=1000)}
    assert all(stored[i]["n"] == rec["n"] and stored[i]["sub"] == rec["sub"] for i, rec, _ in rows)
    with pytest.raises(ZeroDivisionError), a.transaction():
        a.queue_audit({"ts": 3.0, "event": "rolled-back"}, "{}", to_x)
        raise ZeroDivisionError
    assert len(got["x"]) == 30 and b.query_audit(event="rolled-back") == []  # no row, no callback
    outside: list[int] = []
    a.queue_audit({"ts": 4.0, "event": "now"}, '{"event":"now"}', lambda rows: outside.extend(r[0] for r in rows))
    assert outside and b.query_audit(event="now")[0]["id"] == outside[0]  # outside a transaction: at once
