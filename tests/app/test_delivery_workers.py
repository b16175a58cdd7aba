"""Admin-created bindings under ``serve --workers 2``: whichever worker answers, every worker knows the
binding, the listener process serves it, and a deletion through any worker stops every channel.

The kernel spreads connections over the two workers (SO_REUSEPORT); each admin call opens a fresh
connection, so a run of calls lands on both (checked through ``/admin/info``'s pid where it shows it,
otherwise by the number of calls: 2**-12 that twelve calls all land on one worker).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.app.serve_process import ServeProcess

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
CALLS = 12


def _http(method: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError:
        return 0, b""


def _imds_credentials(url: str) -> tuple[int, bytes]:
    base = url.rstrip("/")
    status, token = _http("PUT", base + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    if status != 200:
        return status, token
    return _http(
        "GET",
        base + "/latest/meta-data/iam/security-credentials/stsmock-dev",
        {"X-aws-ec2-metadata-token": token.decode()},
    )


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("delivery-workers")
    with ServeProcess(tmp / "data", "--workers", "2", "--no-s3") as proc:
        yield proc


def test_bindings_made_through_any_worker_are_served_and_removed_everywhere(workers):
    made = [
        workers.admin(
            "POST", "/admin/bindings", {"name": f"w{i}", "role_arn": ROLE, "identity": {"sub": f"app-{i}"}, "imds": {}}
        )
        for i in range(CALLS)
    ]
    for binding in made:
        # the answer names the listener process's endpoints, whichever worker gave it
        assert binding["container"]["url"] and binding["imds"]["url"], binding
        status, body = _http("GET", binding["container"]["url"], {"Authorization": binding["container_token"]})
        assert status == 200, body
        assert json.loads(body)["RoleArn"] == ROLE
        status, body = _imds_credentials(binding["imds"]["url"])
        assert status == 200 and json.loads(body)["Code"] == "Success", body
    # every worker lists every binding
    for _ in range(CALLS):
        names = {b["name"] for b in workers.admin("GET", "/admin/bindings")["bindings"]}
        assert {f"w{i}" for i in range(CALLS)} <= names
    for binding in made:
        name = binding["name"]
        workers.admin("DELETE", f"/admin/bindings/{name}")
        # in force for the very next handout, on the listener process
        status, _ = _http("GET", binding["container"]["url"], {"Authorization": binding["container_token"]})
        assert status in (401, 403), (name, status)
        with pytest.raises(urllib.error.HTTPError) as missing:
            workers.admin("GET", f"/admin/bindings/{name}")
        assert missing.value.code == 404
    for _ in range(CALLS):
        names = {b["name"] for b in workers.admin("GET", "/admin/bindings")["bindings"]}
        assert not names & {f"w{i}" for i in range(CALLS)}
