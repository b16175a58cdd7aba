"""WAL checkpoints run in the store's checkpointer thread, never inside a request's COMMIT, and lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stsmock.store import Store
from stsmock.store.checkpoint import EVERY


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
