"""audit.jsonl with several writers (``--workers``): two AuditFile instances on one path act as two processes
(flock is per open file description, so they exclude each other as processes do)."""

from __future__ import annotations

import json
from pathlib import Path

from stsmock.audit_file import AuditFile


def _line(n: int, pad: int = 80) -> str:
    return json.dumps({"id": n, "event": "test", "pad": "x" * pad}) + "\n"


def _ids(path: Path) -> list[int]:
    out = []
    for f in sorted(path.parent.glob(path.name + "*")):
        out += [json.loads(line)["id"] for line in f.read_text().splitlines()]
    return out


def test_a_writer_that_missed_rotations_writes_to_the_current_file(tmp_path: Path) -> None:
    """Was: B kept its old descriptor until its own byte count reached the limit, so after A rotated the
    file past the last backup, B's lines went to an unlinked inode: lost."""
    path = tmp_path / "audit.jsonl"
    a = AuditFile(path, max_bytes=4096, backups=2)
    b = AuditFile(path, max_bytes=4096, backups=2)
    b.write(_line(0))
    for n in range(1, 400):  # many rotations by A alone
        a.write(_line(n))
    b.write(_line(10_000))
    assert 10_000 in [json.loads(line)["id"] for line in path.read_text().splitlines()]
    a.close()
    b.close()


def test_the_size_limit_holds_for_the_file_not_each_writer(tmp_path: Path) -> None:
    """Was: each process counted only its own bytes, so with two writers files grew to ~2x file_max_bytes."""
    path = tmp_path / "audit.jsonl"
    writers = [AuditFile(path, max_bytes=4096, backups=50) for _ in range(2)]
    for n in range(300):
        writers[n % 2].write(_line(n))
    for w in writers:
        w.close()
    longest = max(len(_line(0)), 1)
    for f in path.parent.glob("audit.jsonl*"):
        assert f.stat().st_size <= 4096 + longest, (f.name, f.stat().st_size)
    ids = _ids(path)
    assert sorted(ids) == list(range(300))  # nothing lost, nothing twice


def test_repair_does_not_duplicate_records_written_out_of_id_order(tmp_path: Path) -> None:
    """Was: repair took the *last* line's id; workers append in commit order (…, 5, 7, 6), so a restart
    re-appended 7."""
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(_line(n) for n in (1, 2, 3, 5, 7, 6)))
    committed = [{"id": n, "event": "test"} for n in range(1, 9)]
    f = AuditFile(path, max_bytes=1 << 20, backups=1)
    added = f.repair(lambda after: [r for r in committed if r["id"] > after][:3])
    f.close()
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert sorted(ids) == list(range(1, 9)) and len(ids) == 8, ids  # 4 and 8 added, 7 not again
    assert added == 2


def test_a_run_of_lines_is_one_write_and_is_split_where_the_file_rotates(tmp_path: Path, monkeypatch) -> None:
    """write_lines (one group commit's lines): one look and one write for the lines that fit; a run that
    crosses the size limit is written in two parts around the rotation, so the limit and order hold."""
    import os

    path = tmp_path / "audit.jsonl"
    a = AuditFile(path, max_bytes=1000, backups=5)
    b = AuditFile(path, max_bytes=1000, backups=5)
    writes: list[int] = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(data.count(b"\n")) or real_write(fd, data))
    assert len(_line(0)) == 118
    a.write_lines([_line(n) for n in range(5)])  # 590 bytes: fits
    assert writes == [5]
    b.write_lines([_line(n) for n in range(5, 12)])  # another writer's run: 3 more fit, rotate, 4
    assert writes == [5, 3, 4]
    a.write_lines([_line(n) for n in range(12, 14)])  # A notices B's rotation and writes to the new file
    monkeypatch.undo()
    a.close()
    b.close()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [8, 9, 10, 11, 12, 13]
    assert sorted(_ids(path)) == list(range(14))
    assert all(f.stat().st_size <= 1000 for f in tmp_path.glob("audit.jsonl*"))
