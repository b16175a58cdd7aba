"""Fixtures for interop tests against a real Ceph RGW.

``ceph_rgw`` (session scope) yields a :class:`CephRGW` (endpoint, access_key, secret_key, ceph_dir):

- ``STSMOCK_CEPH_ENDPOINT`` set -> use that running RGW (keys from ``STSMOCK_CEPH_ACCESS_KEY`` /
  ``STSMOCK_CEPH_SECRET_KEY``, default ADMINAK/ADMINSK); not started or stopped by us.
- ``radosgw`` not installed (or ``STSMOCK_CEPH_FORCE_MISSING=1``) -> skip locally, **fail on CI** (``CI=true``).
- otherwise ``scripts/ceph-rgw.sh start`` in a pytest temp dir on free ports; ``stop`` at session end.

Tests in this directory that use ``ceph_rgw`` are marked ``ceph`` (deselect with ``-m 'not ceph'``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .ceph_helpers import CephRGW

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPT = REPO / "scripts" / "ceph-rgw.sh"
START_TIMEOUT = 180  # the script's own deadline is CEPH_START_TIMEOUT (90 s); this is the backstop

MISSING_MSG = "Ceph RGW not installed: run 'sudo scripts/ceph-rgw.sh install' to enable the RGW interop tests"


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(msg: str) -> None:
    """CI must never silently skip the RGW tests."""
    if _on_ci():
        pytest.fail(f"[CI] {msg}", pytrace=False)
    pytest.skip(msg)


def _radosgw_installed() -> bool:
    if os.environ.get("STSMOCK_CEPH_FORCE_MISSING", "").strip() not in ("", "0"):
        return False  # simulate a machine without Ceph (to check the skip/fail path)
    return shutil.which("radosgw") is not None


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _parse_exports(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export ") :].split("=", 1)
            out[k.strip()] = v.strip()
    return out


@pytest.fixture(scope="session")
def ceph_rgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephRGW]:
    endpoint = os.environ.get("STSMOCK_CEPH_ENDPOINT")
    if endpoint:
        yield CephRGW(
            endpoint=endpoint.rstrip("/"),
            access_key=os.environ.get("STSMOCK_CEPH_ACCESS_KEY", "ADMINAK"),
            secret_key=os.environ.get("STSMOCK_CEPH_SECRET_KEY", "ADMINSK"),
            ceph_dir=None,
        )
        return

    if not _radosgw_installed():
        _unavailable(MISSING_MSG)

    ceph_dir = tmp_path_factory.mktemp("ceph")
    # a stsmock data dir with a local CA, created before RGW starts so radosgw can trust it (https issuer tests)
    from stsmock.tls import ca_path, ensure_ca

    trusted = tmp_path_factory.mktemp("stsmock-tls-for-rgw") / "data"
    trusted.mkdir(mode=0o700)
    ensure_ca(trusted)
    mon_port, rgw_port = _free_ports(2)
    env = {
        **os.environ,
        "CEPH_DIR": str(ceph_dir),
        "CEPH_MON_PORT": str(mon_port),
        "CEPH_RGW_PORT": str(rgw_port),
        "CEPH_RGW_ACCESS_KEY": os.environ.get("STSMOCK_CEPH_ACCESS_KEY", "ADMINAK"),
        "CEPH_RGW_SECRET_KEY": os.environ.get("STSMOCK_CEPH_SECRET_KEY", "ADMINSK"),
        "CEPH_RGW_CA_FILE": str(ca_path(trusted)) if os.geteuid() == 0 else "",  # unshare/mount need root
    }
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60, check=False)  # noqa: S603

    atexit.register(stop)  # belt and braces: also stop if the session dies before fixture teardown
    try:
        try:
            proc = subprocess.run(  # noqa: S603 - our own script
                [str(SCRIPT), "start"],
                env=env,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            stderr = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            _unavailable(f"scripts/ceph-rgw.sh start timed out after {START_TIMEOUT}s:\n{_tail(stderr)}")
        if proc.returncode != 0:
            _unavailable(
                f"scripts/ceph-rgw.sh start failed (rc={proc.returncode}, dir {ceph_dir}):\n{_tail(proc.stderr)}"
            )
        exports = _parse_exports(proc.stdout)
        for line in proc.stderr.splitlines():
            if line.startswith("rgw ready in"):
                print(f"\n[ceph_rgw] {line} ({ceph_dir})")
        yield CephRGW(
            endpoint=exports.get("CEPH_RGW_ENDPOINT", f"http://127.0.0.1:{rgw_port}"),
            access_key=exports.get("CEPH_RGW_ACCESS_KEY", env["CEPH_RGW_ACCESS_KEY"]),
            secret_key=exports.get("CEPH_RGW_SECRET_KEY", env["CEPH_RGW_SECRET_KEY"]),
            ceph_dir=exports.get("CEPH_DIR", str(ceph_dir)),
            trusted_data_dir=str(trusted) if os.geteuid() == 0 else None,
        )
    finally:
        stop()
        atexit.unregister(stop)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents and "ceph_rgw" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ceph)
