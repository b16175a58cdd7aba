"""Two replicas on PostgreSQL, each with its S3 gateway: one set of gateway decisions.

A revocation acknowledged by one replica is in force on the other replica's gateway for its very
next request, and while PostgreSQL is away the gateways fail closed with S3's own 503.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from .helpers import need, new_bucket, start_gateway, stop_gateway

ROUNDS = 4


def test_a_revocation_on_one_replica_holds_on_the_other_replicas_gateway(tmp_path: Path, pg_cluster, pg_url) -> None:
    need("weed", "pip install 'stsmock[s3]'")
    a = start_gateway("embedded", tmp_path / "a", None, args=("--store", pg_url))
    try:
        b = start_gateway("embedded", tmp_path / "b", None, args=("--store", pg_url))
        try:
            bucket = new_bucket("replicas")
            a.s3(a.creds()).create_bucket(Bucket=bucket)
            for n in range(ROUNDS):
                creds = a.creds(session_name=f"replica-{n}")  # minted by replica a
                a.s3(creds).put_object(Bucket=bucket, Key=f"k{n}", Body=b"r")
                b.revoke("access_key", creds["aws_access_key_id"], reason="stolen")  # acknowledged by b
                for server in (a, b):
                    with pytest.raises(ClientError) as denied:
                        server.s3(creds).get_object(Bucket=bucket, Key=f"k{n}")
                    assert denied.value.response["Error"]["Code"] == "AccessDenied"
            creds = a.creds(session_name="outage")
            pg_cluster.stop()
            try:
                with pytest.raises(ClientError) as away:
                    a.s3(creds).get_object(Bucket=bucket, Key="k0")
                error = away.value.response["Error"]
                assert error["Code"] == "ServiceUnavailable" and "state store unavailable" in error["Message"]
            finally:
                pg_cluster.start()
        finally:
            stop_gateway(b)
    finally:
        stop_gateway(a)
