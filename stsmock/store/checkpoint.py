"""SQLite WAL checkpoints in a thread of their own, off the event loop.

With SQLite's automatic checkpoint, the COMMIT that pushes the WAL past 1,000 pages copies the pages
into the database file and waits for two ``fdatasync`` calls — on the event loop, so every request in
flight waits with it (at ARWWI c=16: about 15 such COMMITs per 1,000, 2–21 ms each, against 0.06 ms for
the others). Here the store's connection never checkpoints; a second connection does it in a thread
(sqlite3 releases the GIL while it works), woken every ``every`` commits of this process and once a
second (writes outside a transaction are not counted). Each
``--workers`` process runs its own; SQLite lets one checkpoint run at a time and a PASSIVE checkpoint
never blocks a writer. Durability is unchanged: a committed transaction is in the WAL either way.

A PASSIVE checkpoint copies the frames that were in the WAL when it started, and SQLite goes back to
the start of the WAL only after a checkpoint that left nothing behind. Under constant writes the writer
always adds frames while the copy runs, so the WAL would grow without bound (measured: 334 MB after
30 s of ARWWI at c=16). Past :data:`RESET_FRAMES` the thread therefore runs one RESTART checkpoint:
only the few frames the PASSIVE one left are copied while writers wait (a busy wait of a few
milliseconds, once per ~16 MB of WAL), and the next writer starts the WAL again from its first frame,
so the file stays at about that size (measured: at most 20 MB over 30 s of the same load).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("stsmock.store")

#: Commits between checkpoints: a group commit of a few requests writes 10–25 WAL pages, so this
#: checkpoints about as often as SQLite's default of 1,000 pages.
EVERY = 64
#: WAL frames (4 KiB pages) left after a PASSIVE checkpoint beyond which the WAL is restarted (RESTART).
RESET_FRAMES = 4096


class Checkpointer:
    def __init__(self, path: str, *, every: int = EVERY) -> None:
        self._every = every
        self._commits = 0
        self._wake = threading.Event()
        self._closing = False
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self.checkpoints = 0
        self.resets = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="stsmock-wal-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """After each COMMIT of the store's connection (on its thread: a counter, no system call)."""
        self._commits += 1
        if self._commits >= self._every:
            self._commits = 0
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=1.0)
            if self._closing:
                return
            self._wake.clear()
            try:
                self.checkpoint()
            except sqlite3.Error as exc:  # retried at the next wake-up; the WAL only grows meanwhile
                log.log(logging.WARNING if not self.failures else logging.DEBUG, "WAL checkpoint failed: %s", exc)
                self.failures += 1

    def checkpoint(self) -> None:
        """One PASSIVE checkpoint; if the WAL is still longer than :data:`RESET_FRAMES`, restart it."""
        _busy, frames, _copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        if frames >= RESET_FRAMES:
            self._db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
            self.resets += 1

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._db.close()
