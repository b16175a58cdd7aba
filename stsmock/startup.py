"""Start-up checks of the data dir: one line naming the file and what to do, before anything is created.

Why before: a damaged or unreadable file found halfway through start-up used to surface
as a traceback (or, worse, as a key silently regenerated over the damaged one, killing
every issued token and credential). Each check raises :class:`~stsmock.datadir.DataDirError`;
``stsmock serve`` prints it as one line and exits 1.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import sqlite3
from pathlib import Path

from .datadir import DataDirError

#: Files stsmock writes again while running: they must open read-write.
_WRITTEN = ("state.db", "state.db-wal", "state.db-shm", "audit.jsonl", "server.json")
#: Files stsmock only reads after creating them once.
_READ = ("admin-token", "session-token.key")
SESSION_KEY_SIZE = 32


def check_data_dir(data_dir: Path, *, min_free_bytes: int, audit_file: str | None = "audit.jsonl") -> None:
    """Every check of the data dir, in the order a user would fix them."""
    path = data_dir.expanduser()
    if path.exists() and not path.is_dir():
        raise DataDirError(path, "is not a directory", "pick another --data-dir")
    if not path.exists():
        try:
            path.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            raise DataDirError(path, f"cannot be created ({exc.strerror})", "pick another --data-dir") from None
    try:
        names = set(os.listdir(path))
    except OSError as exc:
        raise DataDirError(path, f"cannot be read ({exc.strerror})", "fix its owner or permissions") from None
    _probe_write(path)
    _check_free_space(path, min_free_bytes)
    written = list(_WRITTEN) + ([audit_file] if audit_file and audit_file not in _WRITTEN else [])
    for name in written:
        if name in names or (path / name).exists():
            _check_open(path / name, os.O_RDWR)
    for name in _READ:
        if name in names:
            _check_open(path / name, os.O_RDONLY)
    _check_session_key(path / "session-token.key")
    _check_admin_token(path / "admin-token")
    _check_key_files(path / "keys")
    _check_database(path / "state.db")


def _probe_write(directory: Path) -> None:
    probe = directory / f".stsmock-probe-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DataDirError(directory, "the disk is full", "free some space on its file system") from None
        raise DataDirError(
            directory, f"is not writable ({exc.strerror})", "fix its owner or permissions, or pick another --data-dir"
        ) from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


def free_space_problem(directory: Path, min_free_bytes: int) -> str | None:
    free = shutil.disk_usage(directory).free
    if free >= min_free_bytes:
        return None
    return f"only {free // 1024} KiB free on its file system (server.min_free_bytes is {min_free_bytes // 1024} KiB)"


def _check_free_space(directory: Path, min_free_bytes: int) -> None:
    problem = free_space_problem(directory, min_free_bytes)
    if problem is not None:
        raise DataDirError(
            directory,
            problem,
            "free some space or lower server.min_free_bytes",
        )


def _check_open(path: Path, flags: int) -> None:
    try:
        os.close(os.open(path, flags))
    except IsADirectoryError:
        raise DataDirError(path, "is a directory", "move it away") from None
    except OSError as exc:
        what = "read and written" if flags & os.O_RDWR else "read"
        raise DataDirError(path, f"cannot be {what} ({exc.strerror})", "fix its owner or permissions") from None


def _check_session_key(path: Path) -> None:
    if path.exists() and path.stat().st_size != SESSION_KEY_SIZE:
        raise DataDirError(
            path,
            f"is {path.stat().st_size} bytes, expected {SESSION_KEY_SIZE} (damaged or truncated)",
            "restore it from a backup; deleting it invalidates every issued credential",
        )


def _check_admin_token(path: Path) -> None:
    if path.exists() and not path.read_bytes().strip():
        raise DataDirError(path, "is empty", "delete it to generate a new admin token, or write one into it")


def _check_key_files(keys_dir: Path) -> None:
    """Each signing-key file parses and names its key (the issuer re-checks the key material itself)."""
    if not keys_dir.is_dir():
        return
    for path in sorted(keys_dir.glob("*/*.json")):
        if path.name.startswith("."):
            continue
        try:
            record = json.loads(path.read_bytes())
            ok = isinstance(record, dict) and all(k in record for k in ("kid", "alg", "jwk", "cert_pem"))
        except OSError as exc:
            raise DataDirError(path, f"cannot be read ({exc.strerror})", "fix its owner or permissions") from None
        except ValueError:
            ok = False
        if not ok:
            raise DataDirError(
                path,
                "is not a valid signing-key file (damaged or truncated)",
                "restore it from a backup, or move it away to retire that key (tokens it signed stop verifying)",
            )


def _check_database(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("PRAGMA quick_check").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise DataDirError(
            path, f"is damaged ({exc})", "restore it from a backup, or move it away to start with empty state"
        ) from None
    problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
    if problems:
        raise DataDirError(
            path,
            f"failed its integrity check ({problems[0][:120]})",
            "restore it from a backup, or move it away to start with empty state",
        )
