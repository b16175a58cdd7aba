"""The STS front end driven by real clients: boto3, botocore's providers, the AWS CLI, minio-py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"


def test_boto3_assume_and_caller_identity(stsmock):
    sts = stsmock.sts_client()
    result = sts.assume_role_with_web_identity(
        RoleArn=ROLE, RoleSessionName="alice-session", WebIdentityToken=stsmock.token("alice")
    )
    creds = result["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert result["SubjectFromWebIdentityToken"] == "alice"
    assert result["Audience"] == "sts.amazonaws.com"
    assert result["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/stsmock-dev/alice-session"
    assert result["Provider"].startswith("arn:aws:iam::000000000000:oidc-provider/127.0.0.1:")
    assert creds["Expiration"].tzinfo is not None

    signed = stsmock.sts_client(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    identity = signed.get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/stsmock-dev/alice-session"
    assert identity["UserId"] == result["AssumedRoleUser"]["AssumedRoleId"]
    assert identity["Account"] == "000000000000"

    tampered = stsmock.sts_client(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"][:-1] + ("A" if creds["SecretAccessKey"][-1] != "A" else "B"),
        aws_session_token=creds["SessionToken"],
    )
    with pytest.raises(ClientError) as excinfo:
        tampered.get_caller_identity()
    assert excinfo.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_request_id_header_matches_body(stsmock):
    result = stsmock.sts_client().assume_role_with_web_identity(
        RoleArn=ROLE, RoleSessionName="s1", WebIdentityToken=stsmock.token()
    )
    meta = result["ResponseMetadata"]
    assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]


def test_botocore_web_identity_provider_and_refresh(aws_web_identity, stsmock, monkeypatch):
    session = boto3.Session()
    identity = session.client("sts").get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/stsmock-dev/pytest"

    # Credentials that live 15 minutes sit inside botocore's refresh window, so every use
    # refreshes them, re-reading the (rotated) token file each time.
    short = stsmock.add_role(
        "short-lived",
        stsmock.web_identity_trust(),
        {"s3": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}},
        default_session_duration=900,
    )
    monkeypatch.setenv("AWS_ROLE_ARN", short)
    session = boto3.Session()
    sts = session.client("sts")
    first = sts.get_caller_identity()["UserId"]
    aws_web_identity.rotate(stsmock.token("rotated-subject"))
    second = sts.get_caller_identity()["UserId"]
    assert first.endswith(":pytest") and second.endswith(":pytest")
    assumed = [r for r in stsmock.audit(event="sts", decision="allow") if r["action"] == "AssumeRoleWithWebIdentity"]
    assert [r["sub"] for r in assumed][-2:] == ["system:serviceaccount:default:app", "rotated-subject"]


def test_minio_py_web_identity_provider(stsmock):
    from minio.credentials.providers import WebIdentityProvider

    token = stsmock.token("minio-user")
    provider = WebIdentityProvider(
        jwt_provider_func=lambda: {"access_token": token, "expires_in": 3600},
        sts_endpoint=stsmock.url,
        role_arn=ROLE,
    )
    creds = provider.retrieve()
    assert creds.access_key.startswith("ASIA")
    assert creds.session_token
    assert creds.expiration is not None


def test_aws_cli_parses_response(stsmock, tmp_path):
    env = {
        **os.environ,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(key, None)

    def aws_assume(token: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "awscli", "sts", "assume-role-with-web-identity", "--endpoint-url", stsmock.url,
             "--region", "us-east-1", "--role-arn", ROLE, "--role-session-name", "cli", "--web-identity-token", token,
             *extra],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    out = aws_assume(stsmock.token("cli-user"), "--output", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["AssumedRoleUser"]["Arn"].endswith("assumed-role/stsmock-dev/cli")
    bad = aws_assume(stsmock.token(aud="wrong"))
    assert bad.returncode == 255
    assert "InvalidIdentityToken" in bad.stderr and "Incorrect token audience" in bad.stderr


def test_assume_role_chaining_capped_at_one_hour(stsmock):
    creds = stsmock.assume()
    chain_arn = stsmock.add_role(
        "chained",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}
            ],
        },
        {"all": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
        max_session_duration=43200,
    )
    # stsmock-dev only allows s3:*, so it may not call sts:AssumeRole.
    signed = stsmock.sts_client(**creds)
    with pytest.raises(ClientError) as excinfo:
        signed.assume_role(RoleArn=chain_arn, RoleSessionName="hop")
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    stsmock.add_role(
        "stsmock-dev",
        stsmock.web_identity_trust(),
        {
            "all": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sts:AssumeRole"], "Resource": "*"}],
            }
        },
        max_session_duration=43200,
    )
    hop = signed.assume_role(RoleArn=chain_arn, RoleSessionName="hop")
    assert hop["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/chained/hop"
    with pytest.raises(ClientError) as excinfo:
        signed.assume_role(RoleArn=chain_arn, RoleSessionName="hop", DurationSeconds=7200)
    assert excinfo.value.response["Error"]["Code"] == "ValidationError"
    assert "role chaining" in excinfo.value.response["Error"]["Message"]


def test_get_session_token_denied_for_session_credentials(stsmock):
    signed = stsmock.sts_client(**stsmock.assume())
    with pytest.raises(ClientError) as excinfo:
        signed.get_session_token()
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    assert excinfo.value.response["Error"]["Message"] == "Cannot call GetSessionToken with session credentials"


def test_unknown_action(stsmock):
    import urllib.parse
    import urllib.request

    body = urllib.parse.urlencode({"Action": "DoSomething", "Version": "2011-06-15"}).encode()
    try:
        urllib.request.urlopen(urllib.request.Request(stsmock.url + "/", data=body), timeout=10)
        raise AssertionError("expected an error")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        assert b"<Code>InvalidAction</Code>" in exc.read()
