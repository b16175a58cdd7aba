"""Replicas on PostgreSQL when things break: a replica killed under load, PostgreSQL restarted, a replica
cut off from PostgreSQL. Nothing acknowledged is lost, and no retired key or revoked credential is
accepted while a replica cannot see the store (it fails closed with 503 instead).
"""

from __future__ import annotations

import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fleet import PUBLIC_URL, Fleet, kid_of  # tests/app is on sys.path
from serve_process import ServeProcess
from tcp_proxy import TcpProxy  # tests/tooling is on sys.path (tests/conftest.py)


def _replica(data_dir: Path, url: str) -> ServeProcess:
    return ServeProcess(data_dir, "--store", url, "--public-url", PUBLIC_URL)


def _health(url: str, path: str = "/healthz") -> int:
    try:
        with urllib.request.urlopen(url + path, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while _health(url) != 200:
        assert time.monotonic() < deadline, "replica did not become ready again"
        time.sleep(0.1)


@pytest.fixture
def two(tmp_path: Path, pg_url: str) -> Iterator[Fleet]:
    with _replica(tmp_path / "a", pg_url) as a, _replica(tmp_path / "b", pg_url) as b:
        yield Fleet([a, b], [a.url, b.url])


def test_kill_9_of_one_replica_under_load_loses_nothing_acknowledged(two: Fleet) -> None:
    token = two.mint("load-user")
    acked: list[str] = []
    served_by_b: list[str] = []
    killed = threading.Event()
    lock = threading.Lock()

    def work(n: int) -> None:
        target = n % 2
        if target == 0 and killed.is_set():
            return
        try:
            status, _ = two.call(target, "POST", "/admin/revocations", {"by": "jti", "value": f"load-{n}"})
        except OSError:  # the killed replica's connections fail; those writes were never acknowledged
            return
        if status == 201:
            with lock:
                acked.append(f"load-{n}")
        if target == 1:
            result = two.assume(1, token)
            with lock:
                served_by_b.append(result)
        if n == 60:
            two.servers[0].proc.send_signal(signal.SIGKILL)
            killed.set()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(160)))
    two.servers[0].proc.wait(timeout=10)
    assert set(served_by_b) == {"ok"}  # the survivor kept serving through the kill
    kept = {r["value"] for r in two.ok(1, "GET", "/admin/revocations")["revocations"]}
    assert set(acked) <= kept and len(acked) > 80  # every acknowledged revocation survived
    audit = two.ok(1, "GET", "/admin/audit?event=revocation.added&limit=1000")["records"]
    assert {r["revocation"]["value"] for r in audit} >= set(acked)  # one audit stream, all of it


def test_postgresql_restart_fails_closed_then_catches_up(two: Fleet, pg_cluster) -> None:
    token = two.mint("restart-user")
    other = two.mint("restart-other")
    assert two.assume(0, token) == two.assume(1, token) == "ok"
    two.ok(0, "POST", "/admin/revocations", {"by": "sub", "value": "restart-user"})
    pg_cluster.stop()
    try:
        for i in (0, 1):
            # cannot know the state: refuse, never accept (not even the token revoked before the outage)
            assert two.assume(i, token) == "ServiceUnavailable"
            assert two.assume(i, other) == "ServiceUnavailable"
            assert _health(two.urls[i]) == 503 and _health(two.urls[i], "/livez") == 200
            status, body = two.call(i, "POST", "/admin/revocations", {"by": "sub", "value": "restart-other"})
            assert status == 503 and "state store unavailable" in body["error_description"]
    finally:
        pg_cluster.start()
    for i in (0, 1):
        _wait_ready(two.urls[i])
    assert two.assume(1, token) == "IDPRejectedClaim"  # the acknowledged revocation held
    assert two.assume(1, other) == "ok"  # the refused one was never made
    # after reconnecting, a change on one replica is in force on the other at once
    kid = kid_of(other)
    two.ok(0, "POST", f"/admin/keys/{kid}/retire", {"immediately": True})
    assert two.assume(1, other) == "InvalidIdentityToken"
    assert kid not in two.jwks_kids(1)


def test_a_replica_cut_off_from_postgresql_refuses_writes_and_fails_closed(
    tmp_path: Path, pg_cluster, pg_url: str
) -> None:
    database = pg_url.rsplit("/", 1)[1]
    proxy = TcpProxy(pg_cluster.port)
    try:
        with _replica(tmp_path / "a", pg_url) as a, _replica(tmp_path / "b", proxy.url_for(database)) as b:
            fleet = Fleet([a, b], [a.url, b.url])
            token = fleet.mint("cut-user")
            assert fleet.assume(1, token) == "ok"
            proxy.cut()
            status, body = fleet.call(1, "POST", "/admin/revocations", {"by": "jti", "value": "while-cut"})
            assert status == 503 and "state store unavailable" in body["error_description"]
            status, body = fleet.call(1, "POST", "/admin/keys/rotate", {})
            assert status == 503
            # reads that decide fail closed; the connected replica is unaffected and takes the write
            assert fleet.assume(1, token) == "ServiceUnavailable"
            assert _health(b.url) == 503 and _health(b.url, "/livez") == 200
            with pytest.raises(urllib.error.HTTPError) as jwks:
                urllib.request.urlopen(b.url + "/jwks", timeout=10)
            assert jwks.value.code == 503
            fleet.ok(0, "POST", "/admin/revocations", {"by": "sub", "value": "cut-user"})
            assert fleet.assume(0, token) == "IDPRejectedClaim"
            proxy.restore()
            _wait_ready(b.url)
            assert fleet.assume(1, token) == "IDPRejectedClaim"  # caught up before its first request
            values = {r["value"] for r in fleet.ok(1, "GET", "/admin/revocations")["revocations"]}
            assert "cut-user" in values and "while-cut" not in values
    finally:
        proxy.close()
