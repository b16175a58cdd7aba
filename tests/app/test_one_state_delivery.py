"""The delivery listeners (container endpoint, IMDS) apply the change feed before each handout.

They are separate aiohttp apps, and with ``--workers 2`` they run in one worker only: a revocation
or a role removal acknowledged by the *other* process must still be in force for the very next
handout — no revoked credential is handed out from memory, no credential for a removed role. When
the store cannot be reached, both listeners fail closed in their own format.

With ``--workers 2`` the kernel picks the worker of each admin call, so every case runs ROUNDS
times (each round's write lands on the non-delivery worker with p = 1/2).
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fleet import PUBLIC_URL, Fleet  # tests/app is on sys.path
from serve_process import ServeProcess

from stsmock.config import default_config_text

RUNTIME_ROLE = "arn:aws:iam::000000000000:role/delivery-runtime"
ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
TOKEN = "container-token-one-state-0123456789"
ROUNDS = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(path: Path) -> tuple[Path, int, int]:
    """The default config plus two bindings (one on a config role, one on a role made at run time)."""
    container, imds = _free_port(), _free_port()
    config = yaml.safe_load(default_config_text())
    config["delivery"] = {
        "container": {"port": container},
        "bindings": [
            {"name": "web", "role_arn": ROLE, "identity": {"sub": "system:serviceaccount:shop:web"},
             "container_token": TOKEN, "imds": {"port": imds}},
            {"name": "late", "role_arn": RUNTIME_ROLE, "identity": {"sub": "system:serviceaccount:shop:late"},
             "container_token": TOKEN + "-late"},
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    return path, container, imds


@dataclass
class Delivery:
    """Where process 0 hands out credentials; writes go to ``fleet`` process 1 (the other worker/replica)."""

    fleet: Fleet
    container: int
    imds: int

    def container_handout(self, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.container}/v1/credentials", headers={"Authorization": token}
        )
        return _json(request)

    def imds_handout(self) -> tuple[int, dict[str, Any]]:
        base = f"http://127.0.0.1:{self.imds}"
        put = urllib.request.Request(
            base + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
        )
        with urllib.request.urlopen(put, timeout=10) as response:
            session = response.read().decode()
        request = urllib.request.Request(
            base + "/latest/meta-data/iam/security-credentials/stsmock-dev",
            headers={"X-aws-ec2-metadata-token": session},
        )
        return _json(request)


def _json(request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return int(exc.code), json.loads(raw) if raw.startswith(b"{") else {"text": raw.decode()}


@pytest.fixture(params=["workers", "replicas"])
def delivery(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Delivery]:
    config, container, imds = _config(tmp_path / "a.yaml")
    if request.param == "workers":
        with ServeProcess(tmp_path / "d", "--workers", "2", "--config", str(config)) as server:
            yield Delivery(Fleet([server], [server.url, server.url]), container, imds)
        return
    other, _, _ = _config(tmp_path / "b.yaml")  # replica b has listeners of its own, on other ports
    shared = ("--store", request.getfixturevalue("pg_url"), "--public-url", PUBLIC_URL)
    with (
        ServeProcess(tmp_path / "a", *shared, "--config", str(config)) as a,
        ServeProcess(tmp_path / "b", *shared, "--config", str(other)) as b,
    ):
        yield Delivery(Fleet([a, b], [a.url, b.url]), container, imds)


def test_a_revocation_on_the_other_process_is_in_force_for_the_next_handout(delivery: Delivery) -> None:
    status, first = delivery.container_handout()
    assert status == 200, first
    key = first["AccessKeyId"]
    for n in range(ROUNDS):
        delivery.fleet.ok(1, "POST", "/admin/revocations", {"by": "access_key", "value": key})
        status, doc = delivery.imds_handout() if n % 2 == 0 else delivery.container_handout()
        assert status == 200, doc
        assert doc["AccessKeyId"] != key, f"round {n}: a revoked access key was handed out"
        key = doc["AccessKeyId"]
    revoked = {r["value"] for r in delivery.fleet.ok(0, "GET", "/admin/revocations")["revocations"]}
    assert key not in revoked and len(revoked) == ROUNDS


def test_a_role_removed_on_the_other_process_is_refused_at_the_next_handout(delivery: Delivery) -> None:
    late = TOKEN + "-late"
    role = {  # the config role's trust and policies, under another name
        key: value
        for key, value in yaml.safe_load(default_config_text())["sts"]["roles"][0].items()
        if key in ("trust_policy", "policies")
    }
    for n in range(ROUNDS):
        delivery.fleet.ok(1, "PUT", "/admin/roles/delivery-runtime", role)
        status, doc = delivery.container_handout(late)
        assert status == 200, (n, doc)
        status, _ = delivery.fleet.call(1, "DELETE", "/admin/roles/delivery-runtime")
        assert status == 204
        status, doc = delivery.container_handout(late)
        assert status >= 400 and doc["Code"] and doc["Message"], f"round {n}: handed out for a removed role: {doc}"
    # a config role removed at run time: the IMDS handout is refused too (IMDS's JSON error document)
    status, _ = delivery.fleet.call(1, "DELETE", "/admin/roles/stsmock-dev")
    assert status == 204
    status, doc = delivery.imds_handout()
    assert status >= 400 and doc["Code"] == "AccessDenied", doc


def test_delivery_fails_closed_while_postgresql_is_away(tmp_path: Path, pg_cluster, pg_url: str) -> None:
    config, container, imds = _config(tmp_path / "a.yaml")
    with ServeProcess(tmp_path / "a", "--store", pg_url, "--config", str(config)) as server:
        delivery = Delivery(Fleet([server], [server.url, server.url]), container, imds)
        assert delivery.container_handout()[0] == 200
        pg_cluster.stop()
        try:
            status, doc = delivery.container_handout()
            assert status == 503 and doc["Code"] == "ServiceUnavailable" and "state store" in doc["Message"]
            request = urllib.request.Request(
                f"http://127.0.0.1:{imds}/latest/api/token",
                method="PUT",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
            )
            status, doc = _json(request)
            assert status == 503 and doc == {"text": "Service Unavailable"}
        finally:
            pg_cluster.start()
