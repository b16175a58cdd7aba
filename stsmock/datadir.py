"""The data directory: where keys, the admin token and state live."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    """Per-user data directory (XDG on Linux, ~/Library on macOS)."""
    env = os.environ.get("STSMOCK_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "stsmock"
    home = Path.home()
    mac = home / "Library" / "Application Support"
    if mac.is_dir():
        return mac / "stsmock"
    return home / ".local" / "share" / "stsmock"


class DataDirError(Exception):
    """A problem with one file of the data dir, phrased as one line: the file, what is wrong, what to do."""

    def __init__(self, path: Path | str, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = Path(path), problem, fix
        super().__init__(f"{path}: {problem}; {fix}")


#: Files and directories that hold secrets: tightened at every start, even in a data dir that already existed.
PRIVATE_FILES = ("state.db", "state.db-wal", "state.db-shm", "admin-token", "session-token.key", "audit.jsonl")
PRIVATE_DIRS = ("keys", "tls")


def prepare(path: Path) -> Path:
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DataDirError(path, f"cannot create the data dir ({exc.strerror})", "pick another --data-dir") from None
    if not path.is_dir():
        raise DataDirError(path, "is not a directory", "pick another --data-dir")
    db = path / "state.db"
    if not db.exists():  # created here so SQLite (and its -wal/-shm files, which copy the mode) start at 0600
        try:
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise DataDirError(db, f"cannot be created ({exc.strerror})", "make the data dir writable") from None
    for name in PRIVATE_DIRS[:1]:  # keys/ (tls/ only with --tls): never created with the umask's 0755
        try:
            (path / name).mkdir(mode=0o700, exist_ok=True)
        except OSError:
            pass  # a read-only data dir is reported by the start-up checks
    tighten_permissions(path)
    return path


def tighten_permissions(path: Path) -> None:
    """state.db and friends 0600, keys/ and tls/ 0700 (best effort: a read-only file system is checked later)."""
    for name in PRIVATE_FILES:
        _chmod(path / name, 0o600)
    for name in PRIVATE_DIRS:
        directory = path / name
        _chmod(directory, 0o700)
        if directory.is_dir():
            for sub in directory.iterdir():
                if sub.is_dir():
                    _chmod(sub, 0o700)


def _chmod(path: Path, mode: int) -> None:
    try:
        if path.exists() and (path.stat().st_mode & 0o777) != mode:
            os.chmod(path, mode)
    except OSError:
        pass


def write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Atomic write with mode 0600: a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def admin_token(data_dir: Path, configured: str | None) -> tuple[str, Path | None]:
    """The admin token: the configured one, else ``<data-dir>/admin-token`` (created once)."""
    if configured:
        return configured, None
    path = data_dir / "admin-token"
    if path.exists():
        token = _read(path).decode("utf-8", errors="replace").strip()
        if not token:
            raise DataDirError(path, "is empty", "delete it to generate a new admin token, or write one into it")
        return token, path
    token = secrets.token_urlsafe(32)
    write_private(path, (token + "\n").encode())
    return token, path


def secret_key(data_dir: Path, name: str, size: int = 32) -> bytes:
    """A persisted random key (e.g. the session-token key), created on first use."""
    path = data_dir / name
    if path.exists():
        data = _read(path)
        if len(data) != size:
            raise DataDirError(
                path,
                f"is {len(data)} bytes, expected {size} (damaged or truncated)",
                "restore it from a backup; deleting it invalidates every issued credential",
            )
        return data
    data = secrets.token_bytes(size)
    write_private(path, data)
    return data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataDirError(path, f"cannot be read ({exc.strerror})", "fix its owner or permissions") from None


def write_server_info(data_dir: Path, info: dict[str, Any]) -> None:
    write_private(data_dir / "server.json", json.dumps(info, indent=2).encode())


def read_server_info(data_dir: Path) -> dict[str, Any] | None:
    try:
        value: dict[str, Any] = json.loads((data_dir / "server.json").read_text(encoding="utf-8"))
        return value
    except (OSError, ValueError):
        return None
