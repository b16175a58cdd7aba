"""stsmock against a LIVE MinIO (optional: MinIO is AGPL and is not run in this repo's CI).

Runs only when these are set, e.g. for the MinIO of configs/compose-minio.yaml:

    STSMOCK_MINIO_ENDPOINT=http://127.0.0.1:9000
    STSMOCK_MINIO_ACCESS_KEY=minioadmin STSMOCK_MINIO_SECRET_KEY=minioadmin

What it proves without any MinIO-side OpenID setup:
* a forward to the real MinIO STS, which does not trust this test's stsmock, comes back as MinIO's
  own error (code, message and status relayed; recorded as an upstream denial);
* the revoke-tokens admin call is signed well enough for MinIO to act on it (no signature error).
The full token -> MinIO credentials flow needs MinIO to trust stsmock's issuer URL: see docs/minio.md.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from stsproxy.upstream import UpstreamForwarder

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "minio.yaml"
ENV = ("STSMOCK_MINIO_ENDPOINT", "STSMOCK_MINIO_ACCESS_KEY", "STSMOCK_MINIO_SECRET_KEY")
SKIP = "set STSMOCK_MINIO_ENDPOINT, STSMOCK_MINIO_ACCESS_KEY and STSMOCK_MINIO_SECRET_KEY to run against a live MinIO"

pytestmark = pytest.mark.stsmock_config(str(CONFIG))


@pytest.fixture
def live_minio(stsmock) -> UpstreamForwarder:
    if not all(os.environ.get(name) for name in ENV):
        pytest.skip(SKIP)
    forwarder = stsmock.runtime.sts.ext.upstream
    assert isinstance(forwarder, UpstreamForwarder)
    forwarder.put(
        forwarder.upstreams["minio"].model_copy(
            update={
                "endpoint": os.environ["STSMOCK_MINIO_ENDPOINT"],
                "admin_access_key": os.environ["STSMOCK_MINIO_ACCESS_KEY"],
                "admin_secret_key": os.environ["STSMOCK_MINIO_SECRET_KEY"],
            }
        )
    )
    return forwarder


def test_live_minio_error_is_relayed(stsmock, live_minio: UpstreamForwarder) -> None:
    with pytest.raises(ClientError) as info:
        stsmock.sts_client().assume_role_with_web_identity(
            RoleArn="arn:aws:iam::000000000000:role/minio-broker",
            RoleSessionName="live",
            WebIdentityToken=stsmock.token("dev", aud="app"),
        )
    error = info.value.response
    record = [r for r in stsmock.audit() if r.get("event") == "sts.decision"][-1]
    if record["check"] == "upstream-unreachable":
        pytest.fail(f"MinIO at {os.environ['STSMOCK_MINIO_ENDPOINT']} is unreachable: {error['Error']['Message']}")
    assert record["check"] == "upstream" and record["upstream"] == "minio"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == record["upstream_status"]
    assert error["Error"]["Code"] == record["code"]  # MinIO: InvalidParameterValue for token problems


def test_live_minio_accepts_the_revoke_tokens_signature(stsmock, live_minio: UpstreamForwarder) -> None:
    upstream = live_minio.upstreams["minio"]

    async def call() -> dict:
        try:
            return await live_minio.revoke_minio(upstream, {"id": 0, "by": "sub", "value": "stsmock-live-no-such-user"})
        finally:
            await live_minio.close()

    outcome = asyncio.run(call())
    assert outcome["status"] is not None, outcome
    assert outcome.get("code") not in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied"), outcome
