"""Process hygiene for ``serve``: one stsmock per data dir and per port; workers die with their parent.

- The data dir is claimed with ``flock`` on ``<data-dir>/serve.lock`` for the life of the server (the
  workers inherit the open file). The kernel drops the lock when the last holder exits, even after
  ``kill -9``, so a stale lock cannot block a restart. A second ``serve`` on the same dir refuses with
  one line instead of overwriting ``server.json``.
- A busy port is refused even with ``--workers`` (whose sockets use SO_REUSEPORT, which would let a
  second server join the first one's port group): a plain bind probe fails on any listener.
- Each worker asks the kernel for SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``); where
  that does not exist, a watchdog thread notices the parent's pid change.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
LOCK_NAME = "serve.lock"


class Refused(RuntimeError):
    """``serve`` cannot start here; the message is the one line the CLI prints."""


def claim_data_dir(data_dir: Path) -> IO[str]:
    """Hold the data dir's lock (returned file; keep it open). Raises :class:`Refused` if taken."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = open(data_dir / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise Refused(f"data dir {data_dir} is in use by a running stsmock{_owner(data_dir)}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _owner(data_dir: Path) -> str:
    try:
        info = json.loads((data_dir / "server.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return f" (pid {info.get('pid')}, {info.get('url')})" if isinstance(info, dict) else ""


def refuse_busy_port(host: str, port: int) -> None:
    """Raise :class:`Refused` if anything listens on ``host:port`` (port 0 always passes)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Refused(f"{host}:{port} is already in use (another stsmock or program serves it)") from None
            raise


def die_with_parent(parent_pid: int) -> None:
    """In a worker: get SIGTERM when the parent dies (Linux), else watch the parent's pid."""
    import ctypes  # only --workers' children need libc (start-up time of one process)
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    armed = False
    if sys.platform.startswith("linux") and libc_name:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(libc_name, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    if os.getppid() != parent_pid:  # the parent died before we asked
        os.kill(os.getpid(), signal.SIGTERM)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="stsmock-parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
