"""`serve` process hygiene: workers die with their parent; a busy port or an owned data dir is refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_process import ServeProcess, has_exited  # tests/app is on sys.path


def _serve(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "serve", "--data-dir", str(data_dir), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux; others use the watchdog")
def test_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path, "--workers", "2")
    workers = json.loads((tmp_path / "server.json").read_text())["workers"]
    assert len(workers) == 2 and not any(has_exited(pid) for pid in workers)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while not all(has_exited(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(has_exited(pid) for pid in workers), "workers outlived their parent"  # zombies count as gone
    # and the data dir is free again at once (the kernel dropped the lock with its last holder)
    with ServeProcess(tmp_path) as again:
        assert again.admin("GET", "/admin/info")["base_url"]


def test_a_busy_port_is_refused_in_one_line(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "a", "--workers", "2") as first:
        port = first.url.rsplit(":", 1)[1]
        for extra in ((), ("--workers", "2")):  # SO_REUSEPORT must not let a second server join the port
            result = _serve(tmp_path / "b", "--port", port, *extra)
            assert result.returncode == 1
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and "already in use" in lines[0], result.stderr
        assert first.admin("GET", "/admin/info")["issuers"]["default"] == first.public_url


def test_a_data_dir_owned_by_a_running_stsmock_is_refused(tmp_path: Path) -> None:
    with ServeProcess(tmp_path) as first:
        before = (tmp_path / "server.json").read_text()
        result = _serve(tmp_path, "--port", "0")
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "in use by a running stsmock" in lines[0] and str(first.proc.pid) in lines[0]
        assert (tmp_path / "server.json").read_text() == before  # the CLI still finds the first server
