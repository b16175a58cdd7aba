"""WAL checkpoints run in the store's checkpointer thread, never inside a request's COMMIT, and lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stsmock.store import Store
from stsmock.store.checkpoint import EVERY, RESET_FRAMES


def _wait_for(predicate, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit  # a generous bound on a thread's wake-up, not a timing assertion
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_commits_do_not_checkpoint_the_checkpointer_does(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db", now=time.time)
    try:
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # never inside our COMMIT
        for n in range(EVERY * 3):
            with store.transaction():
                store.put("s", str(n), {"n": n, "pad": "x" * 2000})
        _wait_for(lambda: store._checkpointer.checkpoints >= 1, "the checkpointer never ran")
        assert len(store.items("s")) == EVERY * 3
    finally:
        store.close()
    assert not store._checkpointer._thread.is_alive()  # close() stops the thread


_CHILD = """
import sys, time
from stsmock.store import Store
store = Store(sys.argv[1], now=time.time)
n = 0
while True:
    with store.transaction():
        store.put("s", str(n), {"n": n, "pad": "x" * 3000})
    print(n, flush=True)  # acknowledged: committed
    n += 1
"""


def test_kill_9_while_checkpointing_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    assert child.stdout is not None
    for line in child.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) >= EVERY * 6:  # several checkpoints have been started by now
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    store = Store(path, now=time.time)
    try:
        stored = {int(key) for key, _ in store.items("s")}
    finally:
        store.close()
    assert set(acknowledged) <= stored


def test_a_wal_that_passive_checkpoints_cannot_restart_is_reset(tmp_path: Path) -> None:
    """Under constant writes no PASSIVE checkpoint completes, so SQLite never restarts the WAL: past
    RESET_FRAMES the checkpointer restarts it (it grew to 334 MB in 30 s of ARWWI without this)."""
    path = tmp_path / "state.db"
    store = Store(path, now=time.time)
    checkpointer = store._checkpointer
    checkpointer._every = 10**9  # no wake-ups from commits: this test drives checkpoint() itself
    wal = Path(f"{path}-wal")
    try:
        store.head()  # the per-request feed check's kept cursor must not pin a read snapshot
        for n in range(RESET_FRAMES // 2 + 50):  # each commit writes two or more WAL frames
            with store.transaction():
                store.put("s", str(n), {"n": n, "pad": "x" * 3000})
        frames_before = wal.stat().st_size // 4096
        assert frames_before >= RESET_FRAMES
        resets = checkpointer.resets
        checkpointer.checkpoint()
        assert checkpointer.resets == resets + 1
        size = wal.stat().st_size
        with store.transaction():  # the next writer starts again from the WAL's first frame
            store.put("s", "after", {"n": -1})
        frames = checkpointer._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        assert 0 < frames < 10
        assert wal.stat().st_size == size  # reused, not grown
        assert len(store.items("s")) == RESET_FRAMES // 2 + 51
    finally:
        store.close()


def test_a_short_wal_is_only_checkpointed_passively(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store(path, now=time.time)
    checkpointer = store._checkpointer
    checkpointer._every = 10**9
    try:
        for n in range(20):
            with store.transaction():
                store.put("s", str(n), {"n": n})
        checkpointer.checkpoint()
        assert checkpointer.resets == 0
        assert Path(f"{path}-wal").stat().st_size > 0  # PASSIVE: the file stays for the next writer to reuse
    finally:
        store.close()
