"""Start-up checks of the data dir and the CLI's one-line errors, against real `stsmock serve` processes.

Each failure is one line on stderr naming the file and what to do, exit status 1, and nothing is
regenerated over existing material. Read-only, full and unreadable file systems are real: a tmpfs
mounted read-only or tiny (root), and a child process running as ``nobody`` for permissions.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_process import ServeProcess

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT and os.environ.get("CI") != "true", reason="needs root (mount, setpriv)")


def serve_fails(data_dir: Path, *extra: str, user: bool = False) -> str:
    """Run `stsmock serve` expecting a start-up failure; return its one stderr line."""
    args = [sys.executable, "-m", "cli.main", "serve", "--port", "0", "--data-dir", str(data_dir), *extra]
    if user:
        args = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    """A data dir a server has already used (keys, session key, admin token, state.db)."""
    data = tmp_path / "data"
    with ServeProcess(data) as server:
        server.admin("POST", "/admin/tokens", {"sub": "a"})
    return data


def test_truncated_session_token_key_is_refused_not_regenerated(existing: Path) -> None:
    key = existing / "session-token.key"
    key.write_bytes(key.read_bytes()[:7])
    line = serve_fails(existing)
    assert line.startswith(f"stsmock: {key}: is 7 bytes, expected 32") and "restore it from a backup" in line
    assert key.read_bytes().__len__() == 7  # left as it was


def test_truncated_signing_key_is_refused_not_regenerated(existing: Path) -> None:
    (path,) = (existing / "keys" / "default").glob("*.json")
    path.write_bytes(path.read_bytes()[:64])
    before = sorted(p.name for p in path.parent.iterdir())
    line = serve_fails(existing)
    assert str(path) in line and "not a valid signing-key file" in line
    assert sorted(p.name for p in path.parent.iterdir()) == before


def test_damaged_database_is_named(existing: Path) -> None:
    db = existing / "state.db"
    for extra in ("state.db-wal", "state.db-shm"):
        (existing / extra).unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    data[0:16] = b"garbage garbage!"
    db.write_bytes(bytes(data))
    line = serve_fails(existing)
    assert str(db) in line and "damaged" in line and "move it away" in line


def test_damaged_database_traceback_only_with_debug(existing: Path) -> None:
    (existing / "state.db").write_bytes(b"x" * 4096)
    args = [sys.executable, "-m", "cli.main", "--debug", "serve", "--port", "0", "--data-dir", str(existing)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"stsmock: {existing / 'state.db'}")


def test_empty_admin_token_is_refused(existing: Path) -> None:
    (existing / "admin-token").write_text("")
    assert "admin-token: is empty" in serve_fails(existing)


def test_permissions_tightened_in_a_data_dir_that_already_existed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "keys").mkdir(mode=0o755)
    sqlite3.connect(data / "state.db").close()
    os.chmod(data / "state.db", 0o644)
    with ServeProcess(data):
        pass
    assert stat.S_IMODE((data / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "keys" / "default").stat().st_mode) == 0o700
    fresh = tmp_path / "fresh"
    with ServeProcess(fresh):
        pass
    assert stat.S_IMODE((fresh / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((fresh / "keys").stat().st_mode) == 0o700


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@needs_root
def test_read_only_data_dir_is_named(existing: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "16m") as mnt:
        data = mnt / "data"
        subprocess.run(["cp", "-a", str(existing), str(data)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        line = serve_fails(data)
        assert line.startswith(f"stsmock: {data}: is not writable (Read-only file system)")


@needs_root
def test_full_disk_is_named(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "1m") as mnt:
        line = serve_fails(mnt / "data")
        assert str(mnt / "data") in line and "free on its file system" in line and "min_free_bytes" in line
        config = tmp_path / "nolimit.yaml"
        config.write_text("server:\n  min_free_bytes: 0\n")
        (mnt / "data").mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            (mnt / "filler").write_bytes(b"\0" * (2 * 1024 * 1024))  # fills the tmpfs: ENOSPC from here on
        line = serve_fails(mnt / "data", "--config", str(config))
        assert line == f"stsmock: {mnt / 'data'}: the disk is full; free some space on its file system"


@needs_root
def test_unreadable_data_dir_and_file_are_named(existing: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="stsmock-perm-"))  # under /tmp: reachable by nobody
    try:
        os.chmod(base, 0o755)  # noqa: S103 - the unprivileged child must reach it
        locked = base / "locked"
        locked.mkdir(mode=0o700)  # root's, 0700: nobody cannot list it
        assert serve_fails(locked, user=True) == (
            f"stsmock: {locked}: cannot be read (Permission denied); fix its owner or permissions"
        )
        mine = base / "mine"
        subprocess.run(["cp", "-a", str(existing), str(mine)], check=True)
        os.chown(mine, 65534, 65534)
        for path in mine.rglob("*"):
            os.chown(path, 65534, 65534, follow_symlinks=False)
        os.chown(mine / "state.db", 0, 0)  # one file the server's user cannot open
        line = serve_fails(mine, user=True)
        assert line.startswith(f"stsmock: {mine / 'state.db'}: cannot be read and written (Permission denied)")
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


@needs_root
def test_healthz_is_unhealthy_when_the_store_cannot_be_written(tmp_path: Path) -> None:
    """A full disk: the store's file system has no room; /healthz says so (503) before writes fail."""
    with tmpfs(tmp_path / "state", "24m") as mnt:
        config = tmp_path / "c.yaml"
        config.write_text("server:\n  min_free_bytes: 4194304\n")
        with ServeProcess(mnt / "data", "--config", str(config)) as server:
            with urllib.request.urlopen(server.url + "/healthz", timeout=10) as ok:
                assert ok.status == 200
            filler = mnt / "filler"
            with contextlib.suppress(OSError):
                filler.write_bytes(b"\0" * (24 * 1024 * 1024))
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(server.url + "/healthz", timeout=10)
            assert info.value.code == 503
            body = info.value.read().decode()
            assert "unhealthy" in body
            assert "state.db cannot be written: database or disk is full" in body or "free on its file" in body
            filler.unlink()
            with urllib.request.urlopen(server.url + "/healthz", timeout=10) as again:
                assert again.status == 200


@needs_root
def test_read_only_state_db_is_refused_at_start(existing: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="stsmock-ro-"))
    try:
        os.chmod(base, 0o755)  # noqa: S103 - the unprivileged child must reach it
        data = base / "data"
        subprocess.run(["cp", "-a", str(existing), str(data)], check=True)
        subprocess.run(["chown", "-R", "65534:65534", str(data)], check=True)
        os.chmod(data / "state.db", 0o444)
        line = serve_fails(data, user=True)
        assert line.startswith(f"stsmock: {data / 'state.db'}: cannot be read and written (Permission denied)")
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


# -- CLI: one line and a non-zero exit for every error ------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("cli-errors") / "data") as server:
        yield server


def test_usage_errors_are_one_line(running: ServeProcess) -> None:
    d = ["--data-dir", str(running.data_dir)]
    deep = "[" * 3000 + "]" * 3000
    line = one_error_line(cli("token", "--claim", f"x={deep}", *d), 2)
    assert "--claim" in line and "nests deeper than 32 levels" in line
    line = one_error_line(cli("assume", "--role-arn", "foo", *d), 2)
    assert "--role-arn" in line and "is not a role ARN" in line
    assert "65535" in one_error_line(cli("serve", "--port", "99999"), 2)
    assert "at most 12 digits" in one_error_line(cli("token", "--ttl", "9" * 5000, *d), 2)
    assert "--limit" in one_error_line(cli("audit", "--limit", "0", *d), 2)
    for bad in ("nan", "inf", "1e400", "tomorrow"):
        assert "Invalid value for VALUE" in one_error_line(cli("clock", "set", bad, *d), 2)
    line = one_error_line(cli("clock", "set", "99999-01-01T00:00:00Z", *d), 2)
    assert "Invalid value for VALUE" in line


def test_clock_set_accepts_iso_8601(running: ServeProcess) -> None:
    result = cli("clock", "set", "2026-12-01T00:00:00Z", "--data-dir", str(running.data_dir))
    assert result.returncode == 0, result.stderr
    assert '"now": 1796083200' in result.stdout
    assert cli("clock", "reset", "--data-dir", str(running.data_dir)).returncode == 0


def test_admin_clock_rejects_nan_and_infinity(running: ServeProcess) -> None:
    for body in ({"action": "set", "at": float("nan")}, {"action": "advance", "seconds": float("inf")}):
        with pytest.raises(urllib.error.HTTPError) as info:
            running.admin("POST", "/admin/clock", body)  # json.dumps writes NaN/Infinity literals
        assert info.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as info:
        running.admin("POST", "/admin/clock", {"action": "set", "at": 1e300})
    assert info.value.code == 400 and b"9999-12-31" in info.value.read()
    with urllib.request.urlopen(running.url + "/.well-known/openid-configuration", timeout=10) as ok:
        assert ok.status == 200  # the clock is still usable


def _dropping_server() -> tuple[str, threading.Thread]:
    """Accepts, reads the request, closes without an answer: a connection dropped mid-call."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def run() -> None:
        for _ in range(4):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread


def test_dropped_connection_during_assume_is_one_line(tmp_path: Path) -> None:
    url, _ = _dropping_server()
    line = one_error_line(
        cli("assume", "--role-arn", "arn:aws:iam::000000000000:role/stsmock-dev", "--token", "e.y.j", "--url", url), 1
    )
    assert line.startswith("Error: AssumeRoleWithWebIdentity at " + url)
    url, _ = _dropping_server()
    line = one_error_line(cli("keys", "list", "--url", url, "--admin-token", "t" * 20), 1)
    assert url in line
