"""The ``audit.jsonl`` file: append-only lines, repaired at start, rotated by size, pruned by age.

Several processes (``--workers``) append to the same file with ``O_APPEND``; one rotates it
under an ``flock`` and the others notice the new inode and reopen.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
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
                for line in reversed(tail.splitlines()):
                    try:
                        last_id = int(json.loads(line)["id"])
                        break
                    except (ValueError, KeyError, TypeError):
                        continue
            added = 0
            if last_id:  # an empty file starts fresh (no backfill of the whole history)
                while batch := committed_after(last_id):
                    data = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in batch)
                    os.write(self._fd, data.encode())
                    last_id = max(int(r["id"]) for r in batch)
                    added += len(batch)
            if added:
                log.warning("audit file %s: appended %d committed records it was missing", self.path, added)
            self._size = os.fstat(self._fd).st_size
            return added

    # -- running ----------------------------------------------------------------------------
    def write(self, line: str) -> None:
        data = line.encode()
        if self._size + len(data) > self.max_bytes:
            self._rotate_or_reopen()
        os.write(self._fd, data)
        self._size += len(data)

    def _rotate_or_reopen(self) -> None:
        with self._locked():
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            if current is None or current.st_ino != self._ino:  # another process rotated it
                os.close(self._fd)
                self._open()
                if self._size < self.max_bytes:
                    return
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
