"""boto3, the AWS CLI, the JS SDK v3 and minio-py take credentials from the container endpoint and from
IMDS with no code for it, and keep working across at least three (drill-compressed) expiries.

This is `stsmock drill refresh` itself on two patterns: each client runs in its own process
with a fresh HOME and only the environment `stsmock env --delivery` would print.
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


@pytest.fixture(scope="module", params=["container", "imds"])
def drill(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One drill per pattern (four client processes at a time: the test machine is shared)."""
    if not _js_ready():
        if os.environ.get("CI") == "true":
            pytest.fail("the JS SDK is not installed (scripts/js-deps.sh)")
        pytest.skip("the JS SDK is not installed (scripts/js-deps.sh)")
    out = tmp_path_factory.mktemp("drill")
    options = runner.DrillOptions(
        lifetime=LIFETIME,
        seconds=SECONDS,
        interval=1.0,
        cli_interval=1.5,
        min_calls=6,  # a loaded machine runs `aws` slowly: count calls, not seconds
        patterns=(request.param,),
        clients=runner.CLIENTS,
        out_dir=out,
        stsmock=str(Path(sys.executable).with_name("stsmock")),
    )
    result = runner.run(options, say=lambda line: None)
    return request.param, {c.client: c for c in result["cells"]}, out


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
