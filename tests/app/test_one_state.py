"""One state for every process (issue 13's "Why" cases), with `--workers 2` and with two replicas on PostgreSQL.

Each case: a change acknowledged by one process is in force on every process for the very next
request — zero requests accepted after an acknowledged revocation or immediate retirement, no
retired key republished, no acknowledged role, rule or revocation lost to parallel writers.
With ``--workers 2`` the kernel spreads fresh connections over both workers, so each check is
repeated on many connections; with replicas each check names the replica.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fleet import PUBLIC_URL, REPEAT, Fleet, kid_of  # tests/app is on sys.path
from serve_process import ServeProcess


@pytest.fixture(params=["workers", "replicas"])
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    if request.param == "workers":
        with ServeProcess(tmp_path / "d", "--workers", "2") as server:
            yield Fleet([server], [server.url, server.url])
        return
    url = request.getfixturevalue("pg_url")
    shared = ("--store", url, "--public-url", PUBLIC_URL)  # replicas sit behind one address: one issuer
    with ServeProcess(tmp_path / "a", *shared) as a, ServeProcess(tmp_path / "b", *shared) as b:
        assert a.admin_token == b.admin_token  # replicas share the generated admin token
        yield Fleet([a, b], [a.url, b.url])


def test_immediate_retirement_is_in_force_everywhere_before_the_call_returns(fleet: Fleet) -> None:
    token = fleet.mint("retire-me")
    old = kid_of(token)
    assert set(fleet.everywhere(lambda i: fleet.assume(i, token))) == {"ok"}  # warm every verifier cache
    fleet.ok(1, "POST", f"/admin/keys/{old}/retire", {"immediately": True})
    results = fleet.everywhere(lambda i: fleet.assume(i, token))
    assert "ok" not in results, results  # zero accepted after the acknowledgement
    assert fleet.assume_boto3(0, token) == fleet.assume_boto3(1, token) == "InvalidIdentityToken"
    assert all(old not in fleet.jwks_kids(i) for i in (0, 1) for _ in range(REPEAT))
    # A rotation served by the other process must not write back its stale copy of the retired key.
    fleet.ok(0, "POST", "/admin/keys/rotate", {})
    fleet.ok(1, "POST", "/admin/keys/rotate", {})
    assert all(old not in fleet.jwks_kids(i) for i in (0, 1) for _ in range(REPEAT))
    states = {k["kid"]: k for k in fleet.ok(1, "GET", "/admin/keys")["default"]}
    assert states[old]["published"] is False


def test_a_key_created_by_one_process_is_retired_through_the_other(fleet: Fleet) -> None:
    for _ in range(3):
        kid = fleet.ok(0, "POST", "/admin/keys/rotate", {})["kid"]
        assert fleet.ok(1, "POST", f"/admin/keys/{kid}/retire", {})["state"] == "retired"


def test_revocation_and_its_removal_take_effect_everywhere(fleet: Fleet) -> None:
    token = fleet.mint("revoke-me")
    assert set(fleet.everywhere(lambda i: fleet.assume(i, token))) == {"ok"}
    record = fleet.ok(0, "POST", "/admin/revocations", {"by": "sub", "value": "revoke-me"})
    assert "ok" not in fleet.everywhere(lambda i: fleet.assume(i, token))
    assert fleet.assume_boto3(1, token) == "IDPRejectedClaim"
    again = fleet.ok(1, "POST", "/admin/revocations", {"by": "jti", "value": "j-1"})
    assert fleet.ok(0, "POST", "/admin/revocations", {"by": "jti", "value": "j-1"})["id"] == again["id"]  # idempotent
    status, _ = fleet.call(1, "DELETE", f"/admin/revocations/{record['id']}")
    assert status == 204
    assert set(fleet.everywhere(lambda i: fleet.assume(i, token))) == {"ok"}


def _role(name: str) -> dict[str, Any]:
    return {
        "trust_policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/{provider:default}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"{provider:default}:aud": "sts.amazonaws.com"}},
                }
            ],
        },
        "policies": {
            "all": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        },
    }


def test_roles_put_and_removed_on_one_process_hold_on_all(fleet: Fleet) -> None:
    token = fleet.mint("role-user")
    arn = "arn:aws:iam::000000000000:role/runtime-role"
    fleet.ok(0, "PUT", "/admin/roles/runtime-role", _role("runtime-role"))
    assert set(fleet.everywhere(lambda i: fleet.assume(i, token, arn))) == {"ok"}
    status, _ = fleet.call(1, "DELETE", "/admin/roles/runtime-role")
    assert status == 204
    assert "ok" not in fleet.everywhere(lambda i: fleet.assume(i, token, arn))
    status, _ = fleet.call(0, "DELETE", "/admin/roles/stsmock-dev")  # a config role, removed at run time
    assert status == 204
    assert "ok" not in fleet.everywhere(lambda i: fleet.assume(i, token))


def test_parallel_role_and_revocation_writes_lose_nothing(fleet: Fleet) -> None:
    def write(n: int) -> None:
        fleet.ok(n % 2, "PUT", f"/admin/roles/parallel-{n}", _role(f"parallel-{n}"))
        fleet.ok(n % 2, "POST", "/admin/revocations", {"by": "jti", "value": f"parallel-{n}"})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(20)))
    for i in (0, 1):
        names = {role["name"] for role in fleet.ok(i, "GET", "/admin/roles")["roles"]}
        assert {f"parallel-{n}" for n in range(20)} <= names
        values = {r["value"] for r in fleet.ok(i, "GET", "/admin/revocations")["revocations"]}
        assert {f"parallel-{n}" for n in range(20)} <= values


def test_the_clock_is_one_clock(fleet: Fleet) -> None:
    base = fleet.ok(0, "POST", "/admin/clock", {"action": "freeze"})["now"]

    def advance(n: int) -> None:
        fleet.ok(n % 2, "POST", "/admin/clock", {"action": "advance", "seconds": 10})

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(advance, range(12)))
    nows = set(fleet.everywhere(lambda i: round(fleet.ok(i, "GET", "/admin/clock")["now"])))
    assert nows == {round(base + 120)}  # no advance lost; no process behind (no polling interval)


def test_parallel_fault_rules_are_all_kept_and_fire_everywhere(fleet: Fleet) -> None:
    def add(n: int) -> str:
        body = {
            "match": {"endpoint": "sts", "role_arn": f"arn:aws:iam::000000000000:role/nope-{n}"},
            "effect": {"error": "Throttling"},
        }
        return str(fleet.ok(n % 2, "POST", "/admin/faults", body)["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(add, range(20)))
    assert len(ids) == 20  # 20 acknowledged, 20 distinct
    for i in (0, 1):
        assert {rule["id"] for rule in fleet.ok(i, "GET", "/admin/faults")["faults"]} == ids
    # A one-shot rule added on one process fires exactly once across both.
    fleet.ok(0, "POST", "/admin/faults", {"match": {"endpoint": "sts"}, "effect": {"error": "Throttling"}, "count": 1})
    token = fleet.mint("fault-user")
    results = [fleet.assume(i % 2, token) for i in range(6)]
    assert results.count("Throttling") == 1 and results.count("ok") == 5


def test_a_replica_configured_by_environment_as_in_kubernetes(tmp_path: Path, pg_url: str, monkeypatch) -> None:
    """deploy/kubernetes passes the store URL and the admin token as env (from the Secret)."""
    monkeypatch.setenv("STSMOCK_STORE_URL", pg_url)
    monkeypatch.setenv("STSMOCK_ADMIN_TOKEN", "k8s-admin-token-from-a-secret")
    with ServeProcess(tmp_path / "k", "--public-url", PUBLIC_URL) as replica:
        with urllib.request.urlopen(replica.url + "/healthz", timeout=10) as response:
            assert json.loads(response.read())["store"] == "postgresql"
        request = urllib.request.Request(
            replica.url + "/admin/info", headers={"Authorization": "Bearer k8s-admin-token-from-a-secret"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["base_url"] == PUBLIC_URL


def test_a_clock_move_on_one_process_decides_on_the_other(fleet: Fleet) -> None:
    """Not only the clock's admin view: the other process's STS decides with the moved clock."""
    token = str(
        fleet.ok(0, "POST", "/admin/tokens", {"sub": "clock-user", "aud": "sts.amazonaws.com", "ttl": 600})["token"]
    )
    assert set(fleet.everywhere(lambda i: fleet.assume(i, token))) == {"ok"}
    fleet.ok(1, "POST", "/admin/clock", {"action": "advance", "seconds": 3600})
    assert set(fleet.everywhere(lambda i: fleet.assume(i, token))) == {"ExpiredTokenException"}
    fleet.ok(0, "POST", "/admin/clock", {"action": "reset"})
    assert set(fleet.everywhere(lambda i: fleet.assume(i, token))) == {"ok"}


def test_single_use_break_glass_is_used_once_across_processes(fleet: Fleet) -> None:
    role = {**_role("glass"), "break_glass": {"single_use": True, "require_reason": False}}
    fleet.ok(0, "PUT", "/admin/roles/glass", role)
    arn = "arn:aws:iam::000000000000:role/glass"
    token = fleet.mint("glass-user")
    for n in range(3):  # armed on one process, raced for on both
        fleet.ok(n % 2, "POST", "/admin/breakglass/glass/arm", {"reason": f"drill {n}", "ttl_seconds": 600})
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: fleet.assume(i % 2, token, arn), range(16)))
        assert results.count("ok") == 1, results
        assert set(results) == {"ok", "AccessDenied"}
    used = fleet.ok(1, "GET", "/admin/audit?event=breakglass.used&limit=100")["records"]
    assert len(used) == 3
