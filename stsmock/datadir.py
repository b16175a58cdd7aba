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


def prepare(path: Path) -> Path:
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Atomic write with mode 0600: a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, path
    token = secrets.token_urlsafe(32)
    write_private(path, (token + "\n").encode())
    return token, path


def secret_key(data_dir: Path, name: str, size: int = 32) -> bytes:
    """A persisted random key (e.g. the session-token key), created on first use."""
    path = data_dir / name
    if path.exists():
        data = path.read_bytes()
        if len(data) == size:
            return data
    data = secrets.token_bytes(size)
    write_private(path, data)
    return data


def write_server_info(data_dir: Path, info: dict[str, Any]) -> None:
    write_private(data_dir / "server.json", json.dumps(info, indent=2).encode())


def read_server_info(data_dir: Path) -> dict[str, Any] | None:
    try:
        value: dict[str, Any] = json.loads((data_dir / "server.json").read_text(encoding="utf-8"))
        return value
    except (OSError, ValueError):
        return None
