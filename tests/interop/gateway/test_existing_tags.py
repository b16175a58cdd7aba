"""s3:ExistingObjectTag/*: the gateway reads the stored object's tags (GetObjectTagging toward the
backend) when, and only when, a statement that applies uses them; embedded SeaweedFS and Ceph RGW."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from .helpers import GatewayServer, new_bucket

SESSION_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadPublic",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringEquals": {"s3:ExistingObjectTag/public": "yes"}},
            },
            {
                "Sid": "Manage",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:PutObjectTagging", "s3:GetObjectTagging", "s3:ListBucket"],
                "Resource": "*",
            },
            {
                "Sid": "KeepLocked",
                "Effect": "Deny",
                "Action": ["s3:DeleteObject", "s3:PutObjectTagging"],
                "Resource": "*",
                "Condition": {"StringEquals": {"s3:ExistingObjectTag/locked": "true"}},
            },
        ],
    }
)


def _denied(call: object, *args: object, **kwargs: object) -> None:
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)  # type: ignore[operator]
    assert exc.value.response["Error"]["Code"] == "AccessDenied", exc.value.response


def test_existing_object_tags_decide(gateway: GatewayServer) -> None:
    owner = gateway.s3(gateway.creds())
    bucket = new_bucket("tags")
    owner.create_bucket(Bucket=bucket)
    for key, tagging in (("public.txt", "public=yes"), ("private.txt", "public=no"), ("locked.txt", "locked=true")):
        owner.put_object(Bucket=bucket, Key=key, Body=key.encode(), Tagging=tagging)
    for key in ("free.txt", "free2.txt"):
        owner.put_object(Bucket=bucket, Key=key, Body=b"free")
    assert "existing_tags_fetched" not in gateway.last_audit(operation="PutObject", key="free2.txt")

    limited_creds = gateway.creds(policy=SESSION_POLICY)
    limited = gateway.s3(limited_creds)
    assert limited.get_object(Bucket=bucket, Key="public.txt")["Body"].read() == b"public.txt"
    record = gateway.last_audit(operation="GetObject", key="public.txt", decision="allow")
    assert record["existing_tags_fetched"] == 1
    _denied(limited.get_object, Bucket=bucket, Key="private.txt")
    _denied(limited.get_object, Bucket=bucket, Key="no-such-object")  # no object: no tag keys
    owner.put_object_tagging(Bucket=bucket, Key="private.txt", Tagging={"TagSet": [{"Key": "public", "Value": "yes"}]})
    assert limited.get_object(Bucket=bucket, Key="private.txt")["Body"].read() == b"private.txt"  # the next request

    _denied(limited.delete_object, Bucket=bucket, Key="locked.txt")
    record = gateway.last_audit(operation="DeleteObject", key="locked.txt", decision="deny")
    assert "KeepLocked" in record["statement"] and record["existing_tags_fetched"] == 1
    _denied(limited.put_object_tagging, Bucket=bucket, Key="locked.txt", Tagging={"TagSet": []})
    limited.put_object_tagging(Bucket=bucket, Key="free.txt", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    limited.delete_object(Bucket=bucket, Key="free.txt")

    result = limited.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "locked.txt"}, {"Key": "free2.txt"}]})
    assert [d["Key"] for d in result["Deleted"]] == ["free2.txt"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("locked.txt", "AccessDenied")]
    record = gateway.last_audit(operation="DeleteObjects", decision="allow")
    assert record["existing_tags_fetched"] == 2 and record["keys_denied"] == 1
    assert owner.get_object(Bucket=bucket, Key="locked.txt")["Body"].read() == b"locked.txt"
