"""The /s3 stand-in enforces minted credentials: SigV4, expiry, revocation, role ∩ session policy."""

from __future__ import annotations

import json

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError


def _s3(stsmock, creds):
    return boto3.client(
        "s3",
        endpoint_url=stsmock.url + "/s3",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
        **creds,
    )


def _code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_session_policy_narrows_the_role(stsmock):
    admin = _s3(stsmock, stsmock.assume())
    admin.create_bucket(Bucket="b")
    admin.put_object(Bucket="b", Key="public/a.txt", Body=b"a")
    admin.put_object(Bucket="b", Key="secret/s.txt", Body=b"s")
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/public/*"}],
        }
    )
    narrow = _s3(stsmock, stsmock.assume(policy=policy, session_name="narrow"))
    assert narrow.get_object(Bucket="b", Key="public/a.txt")["Body"].read() == b"a"
    with pytest.raises(ClientError) as excinfo:
        narrow.get_object(Bucket="b", Key="secret/s.txt")
    assert _code(excinfo) == "AccessDenied"
    with pytest.raises(ClientError) as excinfo:
        narrow.put_object(Bucket="b", Key="public/new.txt", Body=b"x")
    assert _code(excinfo) == "AccessDenied"
    denied = stsmock.audit(event="s3.denied")[-1]
    assert denied["action"] == "s3:PutObject" and "session" in denied["reason"].lower()


def test_role_without_s3_permissions_is_denied(stsmock):
    arn = stsmock.add_role(
        "no-s3",
        stsmock.web_identity_trust(),
        {
            "sts": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
            }
        },
    )
    s3 = _s3(stsmock, stsmock.assume(arn))
    with pytest.raises(ClientError) as excinfo:
        s3.list_buckets()
    assert _code(excinfo) == "AccessDenied"


def test_bad_credentials_get_s3_auth_errors(stsmock):
    creds = stsmock.assume()
    bad_secret = {**creds, "aws_secret_access_key": "x" * 40}
    with pytest.raises(ClientError) as excinfo:
        _s3(stsmock, bad_secret).list_buckets()
    assert _code(excinfo) == "SignatureDoesNotMatch"
    stsmock.revoke("access_key", creds["aws_access_key_id"])
    with pytest.raises(ClientError) as excinfo:
        _s3(stsmock, creds).list_buckets()
    assert _code(excinfo) == "InvalidAccessKeyId"
    assert requests.get(stsmock.url + "/s3/", timeout=5).status_code == 403


def test_expired_credentials(stsmock):
    creds = stsmock.assume(duration=900)
    stsmock.advance(901)
    with pytest.raises(ClientError) as excinfo:
        _s3(stsmock, creds).list_buckets()
    assert _code(excinfo) in ("ExpiredToken", "RequestTimeTooSkewed")


def test_presigned_url(stsmock):
    """SigV4 query-string auth (stsmock verifies SigV4 only; SigV2 presigning is long deprecated)."""
    s3 = boto3.client(
        "s3",
        endpoint_url=stsmock.url + "/s3",
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        **stsmock.assume(),
    )
    s3.create_bucket(Bucket="p")
    s3.put_object(Bucket="p", Key="k", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "p", "Key": "k"}, ExpiresIn=60)
    assert requests.get(url, timeout=5).content == b"presigned"
