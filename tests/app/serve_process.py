"""A real `stsmock serve` child process for tests that need the CLI, signals or several processes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

_READY = re.compile(
    r"stsmock ready at (https?://[\w.:-]+) \((?:listening on (https?://[\d.:]+), )?admin token: ([^;)]+)"
)


def has_exited(pid: int) -> bool:
    """Every thread of ``pid`` has exited, so the kernel has closed its files (sockets, the data-dir lock).

    The thread-group leader shows ``Z`` as soon as it exits, while its other threads (the WAL
    checkpointer, executor threads) still hold the file table: a connection the kernel routes to the
    listening socket meanwhile is reset when they go, and the lock is still held. So every task must be
    a zombie or gone, whether or not a parent reaped it.
    """
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return True
    for task in tasks:
        try:
            if not (task / "stat").read_text().rsplit(") ", 1)[1].startswith(("Z", "X")):
                return False
        except (OSError, IndexError):
            continue
    return True


class ServeProcess:
    """``python -m cli.main serve --port 0 --data-dir DIR [extra...]``, waited for until ready."""

    def __init__(self, data_dir: Path, *extra: str, port: int = 0, ca_file: Path | None = None) -> None:
        self.data_dir = data_dir
        self._ca_file = ca_file
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = _READY.search(self.line)
        if not match:
            self.proc.kill()
            raise AssertionError(
                f"stsmock serve did not start: {self.line!r} {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        self.public_url = match.group(1)
        #: Where it actually listens (differs from public_url behind --public-url).
        self.url = match.group(2) or match.group(1)
        s3 = re.search(r"s3 gateway at (https?://[\w.:\[\]-]+)", self.line)
        #: The S3 gateway listener ("" when serve runs without one).
        self.s3_url = s3.group(1) if s3 else ""

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin-token").read_text(encoding="utf-8").strip()

    @property
    def ca_file(self) -> Path:
        return self._ca_file or self.data_dir / "tls" / "ca.pem"

    def ssl_context(self) -> Any:
        """Trust the data dir's local CA when serving https (``--tls``)."""
        import ssl

        return ssl.create_default_context(cafile=str(self.ca_file)) if self.url.startswith("https") else None

    def admin(self, method: str, path: str, body: dict | None = None) -> Any:
        """Call the admin API with the data dir's admin token; a fresh connection each time."""
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Content-Type": "application/json",
                "Connection": "close",
            },
        )
        with urllib.request.urlopen(request, timeout=10, context=self.ssl_context()) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=15)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
