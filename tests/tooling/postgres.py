"""A throwaway PostgreSQL cluster from Debian's packages, for tests and the bench.

``initdb`` + ``pg_ctl`` on a private temporary directory (about 1 s), a free loopback port and a Unix
socket inside that directory, so parallel runs never collide. PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` user (created by the Debian package). The cluster can be
stopped, started and restarted (the failure tests), and is removed at ``close``.

    python tests/tooling/postgres.py      # start one, print its URL, stop on Ctrl-C
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bin_dir() -> Path:
    """Where initdb/pg_ctl live: ``pg_config --bindir``, else the newest /usr/lib/postgresql/*/bin."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    if which:
        return Path(which).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found; run scripts/system-deps.sh (apt-get install postgresql)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    def __init__(self, *, durable: bool = False) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="stsmock-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "log"
        self.port = free_port()
        self.durable = durable
        self._as: list[str] = []
        if os.getuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._pg(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, argv: list[str]) -> None:
        tool = str(self.bin / argv[0])
        result = subprocess.run([*self._as, tool, *argv[1:]], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {result.stderr.strip()} {log}")

    def start(self) -> None:
        settings = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.root}", "-c max_connections=60"]
        settings += ["-c shared_buffers=16MB", "-c log_min_messages=warning"]
        if not self.durable:  # tests: PostgreSQL §14.5 non-durable settings (the OS does not crash here)
            settings += ["-c fsync=off", "-c full_page_writes=off"]
        self._pg(
            ["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", " ".join(settings), "start"]
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def fresh_database(self, name: str) -> str:
        """A new empty database on this cluster; its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # test-chosen identifier
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


if __name__ == "__main__":
    cluster = PgCluster(durable="--durable" in sys.argv)
    print(cluster.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close()
