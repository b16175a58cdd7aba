"""`serve --workers 2` stops on SIGTERM even when a worker has just died.

The parent used to signal its workers from inside the SIGTERM handler, asking each whether it was
alive (a ``waitpid``). When the signal arrived just as the parent's own ``join`` had reaped a killed
worker, that question found no child, the handler's ``os.kill`` of that pid raised, and
multiprocessing's ``poll`` (which treats any ``OSError`` as "not yet created") swallowed it inside
the interrupted ``join``: the other worker was never told to stop and the parent waited for it for
ever. Now the handler only records the request; the supervising loop signals the workers not yet
reaped. Sending SIGTERM the moment the killed worker can be reaped meets that window: without the fix
this fails in its first round. It repeats the round to stay a test of the race, not of one timing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from serve_process import ServeProcess, has_exited

ROUNDS = 12


def test_sigterm_right_after_a_worker_died_stops_the_server(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        data = tmp_path / f"data{round_}"
        server = ServeProcess(data, "--workers", "2", "--no-s3")
        try:
            workers = json.loads((data / "server.json").read_text())["workers"]
            os.kill(workers[0], signal.SIGKILL)
            while not has_exited(workers[0]):
                pass  # spin: the parent's join reaps it now, and the signal should meet that moment
            server.proc.send_signal(signal.SIGTERM)
            try:
                code = server.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"round {round_}: serve --workers 2 ignored SIGTERM after a worker died") from None
            assert code == 0, server.proc.stderr.read() if server.proc.stderr else ""
            deadline = time.monotonic() + 5
            while not has_exited(workers[1]) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert has_exited(workers[1]), "the surviving worker outlived its parent"
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            server.proc.wait()
