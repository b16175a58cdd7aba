"""The ``audit.jsonl`` file: append-only lines, repaired at start, rotated by size, pruned by age.

Several processes (``--workers``) append to the same file with ``O_APPEND`` (one ``write`` per run
of whole lines: no torn lines). Before each run a writer checks the path: a new inode (another process
rotated) means reopen, so no line goes to a file that the backup chain may already have dropped;
the size it checks is the file's, not this process's share of it. Rotation happens under an
``flock``, re-checked inside the lock, so two processes never rotate the same file twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("stsmock.audit")
_TAIL = 64 * 1024


class AuditFile:
    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._ino = os.fstat(self._fd).st_ino
        self._size = os.fstat(self._fd).st_size

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- start ------------------------------------------------------------------------------
    def repair(self, committed_after: Callable[[int], list[dict[str, Any]]]) -> int:
        """Cut a torn last line, then append every committed record the file lacks. Returns lines added."""
        with self._locked():
            size = os.fstat(self._fd).st_size
            last_id = 0
            if size:
                with open(self.path, "rb") as handle:
                    handle.seek(max(0, size - _TAIL))
                    tail = handle.read()
                end = tail.rfind(b"\n") + 1
                if end < len(tail):  # no newline at the end: the last write was torn
                    keep = size - (len(tail) - end)
                    os.truncate(self.path, keep)
                    log.warning("audit file %s: removed a torn last line (%d bytes)", self.path, len(tail) - end)
                    tail = tail[:end]
                # workers write lines in commit order, not id order: look at every id in the tail
                present = set()
                for line in tail.splitlines():
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        present.add(int(json.loads(line)["id"]))
                last_id = min(present) if present else 0
            added = 0
            if last_id:  # an empty file starts fresh (no backfill of the whole history)
                while batch := committed_after(last_id):
                    missing = [r for r in batch if int(r["id"]) not in present]
                    data = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in missing)
                    if data:
                        os.write(self._fd, data.encode())
                    last_id = max(int(r["id"]) for r in batch)
                    added += len(missing)
            if added:
                log.warning("audit file %s: appended %d committed records it was missing", self.path, added)
            self._size = os.fstat(self._fd).st_size
            return added

    # -- running ----------------------------------------------------------------------------
    def write(self, line: str) -> None:
        self.write_lines([line])

    def write_lines(self, lines: Sequence[str]) -> None:
        """Append whole lines (e.g. one group commit's): one look at the path for all of them, and one
        ``write`` per run of lines that fits under the size limit, rotating between runs as needed."""
        size = self._current_size()
        run: list[bytes] = []
        pending = 0
        for line in lines:
            data = line.encode()
            if size + pending + len(data) > self.max_bytes and size + pending > 0:
                if run:
                    self._append(run, pending)
                    run, pending = [], 0
                self._rotate_or_reopen(len(data))
                size = self._size
            run.append(data)
            pending += len(data)
        if run:
            self._append(run, pending)

    def _append(self, run: list[bytes], size: int) -> None:
        os.write(self._fd, run[0] if len(run) == 1 else b"".join(run))  # O_APPEND: one write, no torn lines
        self._size += size

    def _current_size(self) -> int:
        """The size of the file at ``path``, reopening first if it is no longer the one we hold."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or current.st_ino != self._ino:  # another process rotated it (or it was removed)
            os.close(self._fd)
            self._open()
            return self._size
        self._size = current.st_size
        return current.st_size

    def _rotate_or_reopen(self, incoming: int) -> None:
        with self._locked():
            if self._current_size() + incoming <= self.max_bytes:
                return  # another process rotated while we waited for the lock
            if self.backups == 0:
                os.truncate(self.path, 0)
            else:
                for index in range(self.backups - 1, 0, -1):
                    older = self.path.with_name(f"{self.path.name}.{index}")
                    if older.exists():
                        os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
                os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
            os.close(self._fd)
            self._open()

    def prune_backups(self, *, older_than: float) -> None:
        for index in range(1, self.backups + 2):
            rotated = self.path.with_name(f"{self.path.name}.{index}")
            with contextlib.suppress(FileNotFoundError):
                if rotated.stat().st_mtime < older_than:
                    rotated.unlink()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
