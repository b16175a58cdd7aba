"""`has_exited` waits for every thread, not just the thread-group leader that shows ``Z`` first.

A worker killed with ``kill -9`` still holds its listening socket while its other threads exit;
a helper that trusted the leader's state let a test connect to that socket and get a reset.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_process import has_exited

# The main thread leaves with the exit(2) system call (this thread only, not exit_group), so it is a
# zombie while the other thread keeps the process, and its files, alive for a while.
_LEADER_LEAVES_FIRST = """
import ctypes, sys, threading, time
threading.Thread(target=time.sleep, args=(float(sys.argv[1]),)).start()
print("ready", flush=True)
ctypes.CDLL(None).syscall(60, 0)  # SYS_exit on x86-64
"""


def _leader_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.machine() != "x86_64",
    reason="/proc and the x86-64 exit(2) number",
)
def test_a_zombie_leader_with_a_live_thread_has_not_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _LEADER_LEAVES_FIRST, "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        deadline = time.monotonic() + 2
        while _leader_state(proc.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _leader_state(proc.pid) == "Z"  # what the old check trusted
        assert not has_exited(proc.pid)  # the sleeping thread still holds the process's files
        proc.wait(timeout=10)
        assert has_exited(proc.pid)
    finally:
        proc.kill()
        proc.wait()
