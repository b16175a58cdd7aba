"""The SQLite store: expiry, one-time take, group commit, purge."""

from __future__ import annotations

import asyncio

import pytest

from stsmock.store import GroupCommit, Store


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path):
    clock = Clock()
    s = Store(tmp_path / "state.db", now=clock.now)
    s.clock = clock  # type: ignore[attr-defined]
    yield s
    s.close()


def test_expiry_take_and_purge(store):
    store.put("code", "a", {"v": 1}, expires_at=1010)
    store.put("code", "b", {"v": 2}, expires_at=None)
    assert store.take("code", "a") == {"v": 1}
    assert store.take("code", "a") is None  # one use only
    store.put("code", "c", {"v": 3}, expires_at=1010)
    store.clock.t = 1011
    assert store.get("code", "c") is None  # expired records are invisible at once
    assert store.purge_expired() == 1  # and the sweep removes them from disk
    assert [k for k, _ in store.items("code")] == ["b"]


def test_group_commit_is_one_transaction_and_fails_together(store):
    commit = GroupCommit(store)

    async def run() -> None:
        await asyncio.gather(*(commit.run([lambda i=i: store.put("s", str(i), {"i": i})]) for i in range(20)))
        with pytest.raises(ZeroDivisionError):
            await asyncio.gather(
                commit.run([lambda: store.put("s", "x", {})]),
                commit.run([lambda: 1 / 0]),
            )

    asyncio.run(run())
    keys = [k for k, _ in store.items("s")]
    assert len(keys) == 20 and "x" not in keys  # the failed batch was rolled back whole


def test_audit_batched_records_land_when_the_block_ends(store, tmp_path):
    from stsmock.audit import AuditLog

    audit = AuditLog(store, path=tmp_path / "audit.jsonl", now=store.clock.now)
    audit.use_group_commit(GroupCommit(store).run)

    async def run() -> None:
        async with audit.batched():
            audit.record("token.issued", sub="alice")
            assert store.query_audit(event="token") == []  # not yet: waits for the shared commit
        assert [r["sub"] for r in store.query_audit(event="token")] == ["alice"]
        with pytest.raises(RuntimeError):
            async with audit.batched():
                audit.record("token.denied", sub="bob")
                raise RuntimeError("the handler failed")
        assert [r["sub"] for r in store.query_audit(event="token")] == ["alice", "bob"]  # still recorded

    asyncio.run(run())
    audit.record("admin.clock", action="freeze")  # outside a block: written at once
    assert store.query_audit(event="admin")[0]["action"] == "freeze"
    assert (tmp_path / "audit.jsonl").read_text().count("\n") == 3
