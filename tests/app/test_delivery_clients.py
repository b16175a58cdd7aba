"""boto3, the AWS CLI, the JS SDK v3, minio-py and minio-go take credentials from the container endpoint and from
IMDS with no code for it, and keep working across at least three (drill-compressed) expiries.

This is `stsmock drill refresh` itself on two patterns: each client runs in its own process
with a fresh HOME and only the environment `stsmock env --delivery` would print. The container
drill calls S3 through the gateway (``--target s3``: a bucket listing that only the gateway's
bucket answers), the IMDS drill calls the STS (``--target sts``), so both targets stay measured.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from stsmock.delivery.drill import runner

LIFETIME = 8
SECONDS = 3.5 * LIFETIME  # > 3 expiries


def _js_ready() -> bool:
    return bool(shutil.which("node")) and (runner.JS_DIR / "node_modules" / "@aws-sdk" / "client-sts").exists()


@pytest.fixture(scope="module", params=[("container", "s3"), ("imds", "sts")], ids=["container-s3", "imds-sts"])
def drill(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One drill per pattern (four client processes at a time: the test machine is shared)."""
    if not _js_ready():
        if os.environ.get("CI") == "true":
            pytest.fail("the JS SDK is not installed (scripts/js-deps.sh)")
        pytest.skip("the JS SDK is not installed (scripts/js-deps.sh)")
    if not runner.MINIO_GO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("the minio-go client is not built (scripts/go-deps.sh)")
        pytest.skip("the minio-go client is not built (scripts/go-deps.sh)")
    pattern, target = request.param
    out = tmp_path_factory.mktemp("drill")
    options = runner.DrillOptions(
        lifetime=LIFETIME,
        seconds=SECONDS,
        interval=1.0,
        cli_interval=1.5,
        min_calls=6,  # a loaded machine runs `aws` slowly: count calls, not seconds
        patterns=(pattern,),
        target=target,
        clients=runner.CLIENTS,
        out_dir=out,
        stsmock=str(Path(sys.executable).with_name("stsmock")),
    )
    result = runner.run(options, say=lambda line: None)
    assert result["meta"]["target"] == target
    return pattern, {c.client: c for c in result["cells"]}, out


@pytest.mark.slow
@pytest.mark.parametrize("client", runner.CLIENTS)
def test_client_keeps_working_across_three_expiries(drill, client):
    pattern, cells, _ = drill
    cell = cells[client]
    assert cell.calls >= 6, cell
    assert cell.failed == 0, (pattern, cell.errors)
    # a new key at least every expiry: the client really refreshed (not one key stretched)
    assert cell.refreshes >= 3, cell


def test_drill_writes_json_and_chart(drill):
    import json

    pattern, _, out = drill
    doc = json.loads((out / "drill-refresh.json").read_text())
    assert doc["meta"]["lifetime_s"] == LIFETIME
    assert "not AWS behaviour" in doc["meta"]["compression"]
    assert {r["pattern"] for r in doc["results"]} == {pattern}
    assert "<svg" in (out / "drill-refresh.html").read_text()


def test_drill_command_through_the_s3_gateway_counts_expired_calls(tmp_path):
    """`stsmock drill refresh --target s3`, quick form: a credentials file read once by boto3.

    The first calls list bucket ``drill`` through the gateway; after the first expiry the gateway
    answers ``ExpiredToken`` (no SDK refreshes on it), and the drill counts each one.
    """
    import json
    import subprocess

    stsmock = str(Path(sys.executable).with_name("stsmock"))
    argv = [stsmock, "drill", "refresh", "--target", "s3", "--pattern", "credentials-file", "--client", "boto3"]
    argv += ["--lifetime", "10", "--duration", "24", "--interval", "0.5", "--out", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "target: s3" in done.stdout
    doc = json.loads((tmp_path / "drill-refresh.json").read_text())
    assert doc["meta"]["target"] == "s3"
    (cell,) = doc["results"]
    assert cell["calls"] > cell["failed"] > 0, cell  # worked through the gateway, then expired
    assert set(cell["errors"]) == {"ExpiredToken"}, cell
    assert "target s3" in (tmp_path / "drill-refresh.md").read_text()
