"""`stsmock serve --workers 2`: one port, two processes, consistent keys, revocations and clock."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from serve_process import ServeProcess  # tests/app is on sys.path (pytest rootdir import mode)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="--workers needs fork()")


@pytest.fixture
def two_workers(tmp_path: Path):
    with ServeProcess(tmp_path, "--workers", "2") as server:
        yield server.url, server.admin_token, server.proc


def _get(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "Connection": "close"} if token else {"Connection": "close"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _post(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_workers_share_port_and_state(two_workers):
    url, admin, proc = two_workers
    pids = {_get(url + "/admin/info", admin).get("pid") for _ in range(1)}
    assert pids  # the server answers

    # Keys: a rotation on one worker shows up in every worker's JWKS.
    new_kid = _post(url + "/admin/keys/rotate", admin, {"issuer": "default"})["kid"]
    time.sleep(0.1)
    firsts = {_get(url + "/jwks")["keys"][0]["kid"] for _ in range(20)}
    assert firsts == {new_kid}

    # Revocation: a subject revoked through one worker is rejected by all of them.
    sts = boto3.client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    token = _post(url + "/admin/tokens", admin, {"sub": "worker-user", "aud": "sts.amazonaws.com"})["token"]
    role = "arn:aws:iam::000000000000:role/stsmock-dev"
    for _ in range(4):
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="wk", WebIdentityToken=token)
    _post(url + "/admin/revocations", admin, {"by": "sub", "value": "worker-user"})
    for _ in range(6):
        with pytest.raises(ClientError) as excinfo:
            boto3.client(
                "sts",
                endpoint_url=url,
                region_name="us-east-1",
                config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
            ).assume_role_with_web_identity(RoleArn=role, RoleSessionName="wk", WebIdentityToken=token)
        assert excinfo.value.response["Error"]["Code"] == "IDPRejectedClaim"

    # Clock: advancing it on one worker moves every worker's time.
    base = _post(url + "/admin/clock", admin, {"action": "freeze"})["now"]
    _post(url + "/admin/clock", admin, {"action": "advance", "seconds": 7200})
    time.sleep(0.4)
    nows = {round(_get(url + "/admin/clock", admin)["now"]) for _ in range(10)}
    assert nows == {round(base + 7200)}
