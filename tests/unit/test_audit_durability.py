"""Audit durability and retention: file after commit, torn-line repair, rotation, pruning, severities."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from stsmock.audit import AuditLog
from stsmock.store import GroupCommit, Store


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock):
    s = Store(tmp_path / "state.db", now=clock.now)
    yield s
    s.close()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_file_line_only_after_the_commit_holding_the_record(store: Store, tmp_path: Path, clock: Clock) -> None:
    """A batch whose shared commit fails leaves neither the record nor its file line ("allow" never issued)."""
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(store, path=path, now=clock.now)
    commit = GroupCommit(store)
    audit.use_group_commit(commit.run)
    seen_in_store_at_emit: list[bool] = []
    audit.subscribe(lambda r: seen_in_store_at_emit.append(bool(store.query_audit(after_id=r["id"] - 1, limit=1))))

    async def run() -> None:
        async def allowed() -> None:
            async with audit.batched():
                audit.record("sts.decision", decision="allow", sub="alice")

        async def failing() -> None:
            await commit.run([lambda: 1 / 0])  # another request's write in the same transaction

        results = await asyncio.gather(allowed(), failing(), return_exceptions=True)
        assert all(isinstance(r, ZeroDivisionError) for r in results)
        async with audit.batched():
            audit.record("sts.decision", decision="allow", sub="bob")

    asyncio.run(run())
    assert [r["sub"] for r in store.query_audit(event="sts")] == ["bob"]
    assert [r["sub"] for r in lines(path)] == ["bob"]  # no line for alice's rolled-back record
    assert seen_in_store_at_emit == [True]  # the line was written once the store had committed it


def test_torn_last_line_is_repaired_and_missing_committed_records_appended(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(store, path=path, now=clock.now)
    for i in range(3):
        audit.record("token.issued", sub=f"u{i}")
    audit.close()
    store.append_audit({"ts": clock.t, "event": "token.issued", "sub": "committed-not-in-file"})  # kill -9 here
    with path.open("a") as handle:
        handle.write('{"id":4,"ts":1,"event":"tok')  # torn write (full disk / crash)
    repaired = AuditLog(store, path=path, now=clock.now)
    repaired.record("token.issued", sub="after")
    repaired.close()
    records = lines(path)  # every line parses
    assert [r["sub"] for r in records] == ["u0", "u1", "u2", "committed-not-in-file", "after"]
    assert [r["id"] for r in records] == sorted({r["id"] for r in records})


def test_file_rotates_by_size_and_keeps_n_backups(store: Store, tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(store, path=path, now=clock.now, max_bytes=4096, backups=2)
    for i in range(200):
        audit.record("token.issued", sub=f"user-{i:04d}", padding="x" * 40)
    audit.close()
    files = sorted(p.name for p in tmp_path.glob("audit.jsonl*"))
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 4096
        lines(tmp_path / name)  # whole lines only
    assert lines(path)[-1]["sub"] == "user-0199"


def test_retention_by_age_and_count(store: Store, tmp_path: Path, clock: Clock) -> None:
    audit = AuditLog(store, path=None, now=clock.now, max_age_seconds=3600, max_records=100)
    for i in range(50):
        audit.record("old", i=i)
    clock.t += 7200
    for i in range(300):
        audit.record("new", i=i)
    assert audit.prune() == 250  # the 50 aged out, then all but the newest 100
    kept = store.query_audit(limit=1000)
    assert len(kept) == 100 and {r["event"] for r in kept} == {"new"} and kept[-1]["i"] == 299


@pytest.mark.parametrize(
    ("event", "severity"),
    [("key.created", "high"), ("key.load_failed", "high"), ("breakglass.used", "high"), ("token.issued", "info")],
)
def test_severity_by_event_family(store: Store, clock: Clock, event: str, severity: str) -> None:
    audit = AuditLog(store, path=None, now=clock.now)
    audit.record(event)
    assert store.query_audit()[0]["severity"] == severity


def test_record_written_inside_a_transaction_reaches_the_file_after_its_commit(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    """The STS writes its decision record inside the shared group commit, not in a batched() block."""
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(store, path=path, now=clock.now)
    commit = GroupCommit(store)

    async def run() -> None:
        results = await asyncio.gather(
            commit.run([lambda: audit.record("sts.decision", decision="allow", sub="alice")]),
            commit.run([lambda: 1 / 0]),  # another request in the same transaction fails: all roll back
            return_exceptions=True,
        )
        assert all(isinstance(r, ZeroDivisionError) for r in results)
        await commit.run([lambda: audit.record("sts.decision", decision="allow", sub="bob")])

    asyncio.run(run())
    assert [r["sub"] for r in store.query_audit(event="sts")] == ["bob"]
    assert [r["sub"] for r in lines(path)] == ["bob"]


def test_a_group_commits_records_are_one_insert_and_one_file_write(
    store: Store, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve requests in one group commit: their audit rows go in with one INSERT and their lines with one
    write, in commit order with increasing ids; subscribers see each record with its id."""
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(store, path=path, now=clock.now)
    commit = GroupCommit(store)
    seen: list[dict] = []
    audit.subscribe(seen.append)
    file_writes: list[int] = []
    inserts: list[str] = []
    real_append, real_run = audit._file._append, store._run  # type: ignore[union-attr]
    monkeypatch.setattr(
        audit._file, "_append", lambda run, size: file_writes.append(len(run)) or real_append(run, size)
    )
    monkeypatch.setattr(
        store,
        "_run",
        lambda sql, args=(): (inserts.append(sql) if "INTO audit" in sql else None) or real_run(sql, args),
    )

    async def run() -> None:
        await asyncio.gather(
            *(commit.run([lambda n=n: audit.record("sts.decision", decision="allow", sub=f"u{n}")]) for n in range(12))
        )

    asyncio.run(run())
    assert len(inserts) == 1 and file_writes == [12]
    records = lines(path)
    assert [r["sub"] for r in records] == [f"u{n}" for n in range(12)]
    assert [r["id"] for r in records] == sorted(r["id"] for r in records) == [r["id"] for r in seen]
    assert records == [{k: v for k, v in r.items()} for r in store.query_audit(event="sts", limit=100)]


def test_redact_drops_secret_fields_at_any_depth_whatever_their_case() -> None:
    from stsmock.audit import redact

    record = {
        "sub": "alice",
        "Token": "t",
        "nested": {"client_secret": "s", "ok": 1, "list": [{"PASSWORD": "p", "n": None}, "plain", [{"id_token": 2}]]},
        "count": 3,
    }
    for _ in range(2):  # the second pass uses the keys already known not to be secret
        assert redact(record) == {
            "sub": "alice",
            "Token": "[redacted]",
            "nested": {
                "client_secret": "[redacted]",
                "ok": 1,
                "list": [{"PASSWORD": "[redacted]", "n": None}, "plain", [{"id_token": "[redacted]"}]],
            },
            "count": 3,
        }
