"""stsmock forwards AssumeRoleWithWebIdentity to a real SeaweedFS 4.48 STS (``kind: seaweedfs``).

stsmock is both the issuer SeaweedFS trusts and the STS in front of it (seaweedfs.md §8):
passthrough relays the caller's token, broker mints a token for SeaweedFS's audience, a role's
session policy narrows what SeaweedFS grants, SeaweedFS's refusals are relayed with its code,
and the relayed credentials work on SeaweedFS's S3 with SeaweedFS enforcing the role.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from stsmock.config import parse_config
from stsmock.pytest_plugin import start_server

from .seaweedfs_sts import SeaweedSTS, bucket_policy, oidc_provider, web_identity_role
from .test_seaweedfs_trusts_stsmock import _require_weed

pytestmark = pytest.mark.seaweedfs
SWFS_ROLE = "arn:aws:iam::000000000000:role/AliceRole"


def _role(name: str, aud: str, upstream: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "max_session_duration": 43200,
        "trust_policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/{provider:default}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"{provider:default}:aud": aud}},
                }
            ],
        },
        "upstream": {"name": "seaweedfs", **upstream},
    }


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, _stsmock_loop: Any):
    """(stsmock in front, SeaweedFS behind); SeaweedFS's ports are chosen first so both configs can be written."""
    _require_weed()
    sw = SeaweedSTS(
        tmp_path_factory.mktemp("swfs-upstream"),
        providers=[],
        policies=[bucket_policy("AliceBucketRW", "alice-bucket", ["s3:PutObject", "s3:GetObject"])],
        roles=[
            web_identity_role(
                "AliceRole",
                "stsmock",
                {"StringEquals": {"oidc:aud": "sts.amazonaws.com", "oidc:sub": "alice"}},
                ["AliceBucketRW"],
            )
        ],
        buckets=["alice-bucket"],
    )
    broker = {
        "issuer": "default",
        "audience": "sts.amazonaws.com",
        "ttl_seconds": 300,
        "claims": {"sub": "{claims.sub}"},
    }
    readonly = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::alice-bucket/*"}],
    }
    config = parse_config(
        {
            "issuers": [
                {
                    "name": "default",
                    "clients": [
                        {"client_id": "stsmock-dev", "audience": "sts.amazonaws.com"},
                        {"client_id": "app", "audience": "app"},
                    ],
                }
            ],
            "sts": {
                "upstreams": [{"name": "seaweedfs", "kind": "seaweedfs", "endpoint": sw.endpoint, "retries": 1}],
                "roles": [
                    _role("swfs-passthrough", "sts.amazonaws.com", {"mode": "passthrough", "role_arn": SWFS_ROLE}),
                    _role("swfs-broker", "app", {"mode": "broker", "role_arn": SWFS_ROLE, "broker": broker}),
                    _role(
                        "swfs-readonly",
                        "app",
                        {"mode": "broker", "role_arn": SWFS_ROLE, "broker": broker, "session_policy": readonly},
                    ),
                    _role(
                        "swfs-bare-arn",
                        "sts.amazonaws.com",
                        {"mode": "passthrough", "role_arn": "arn:aws:iam::role/AliceRole"},
                    ),
                ],
            },
        }
    )
    server = start_server(config, tmp_path_factory.mktemp("swfs-front"), _stsmock_loop)
    sw.providers = [oidc_provider("stsmock", server.url, ["sts.amazonaws.com"])]
    try:
        sw.start()
    except RuntimeError:
        server.stop()
        raise
    yield server, sw
    sw.stop()
    server.stop()


def _assume(server: Any, role: str, token: str, **extra: Any) -> dict[str, Any]:
    sts = boto3.client(
        "sts",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    return dict(
        sts.assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::000000000000:role/{role}", RoleSessionName="s1", WebIdentityToken=token, **extra
        )
    )


def _token(server: Any, sub: str, aud: str) -> str:
    return str(server.runtime.issuers["default"].mint({"sub": sub, "aud": aud}))


def _s3_checks(sw: SeaweedSTS, creds: dict[str, Any], *, put: bool) -> None:
    s3 = sw.s3(creds)
    if put:
        s3.put_object(Bucket="alice-bucket", Key="via-stsmock.txt", Body=b"relayed")
        assert s3.get_object(Bucket="alice-bucket", Key="via-stsmock.txt")["Body"].read() == b"relayed"
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(Bucket="alice-bucket", Key="via-stsmock.txt")
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize(("role", "aud"), [("swfs-passthrough", "sts.amazonaws.com"), ("swfs-broker", "app")])
def test_forwarded_credentials_work_on_seaweedfs(front: Any, role: str, aud: str) -> None:
    server, sw = front
    answer = _assume(server, role, _token(server, "alice", aud), DurationSeconds=900)
    creds = answer["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and answer["SubjectFromWebIdentityToken"] == "alice"
    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/AliceRole/s1"
    _s3_checks(sw, creds, put=True)
    audit = [r for r in server.runtime.audit.query(event="upstream.forward")][-1]
    assert (audit["kind"], audit["outcome"]) == ("seaweedfs", "allow")


@pytest.mark.parametrize(("role", "aud"), [("swfs-passthrough", "sts.amazonaws.com"), ("swfs-broker", "app")])
def test_seaweedfs_refusal_is_relayed(front: Any, role: str, aud: str) -> None:
    server, _ = front
    with pytest.raises(ClientError) as excinfo:
        _assume(server, role, _token(server, "bob", aud))
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"  # SeaweedFS's trust policy said no
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_session_policy_narrows_what_seaweedfs_grants(front: Any) -> None:
    server, sw = front
    admin = sw.s3({"AccessKeyId": "SWADMINAK", "SecretAccessKey": "SWADMINSECRETKEY", "SessionToken": None})
    admin.put_object(Bucket="alice-bucket", Key="ro.txt", Body=b"ro")
    creds = _assume(server, "swfs-readonly", _token(server, "alice", "app"))["Credentials"]
    s3 = sw.s3(creds)
    assert s3.get_object(Bucket="alice-bucket", Key="ro.txt")["Body"].read() == b"ro"
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket="alice-bucket", Key="ro.txt", Body=b"no")
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"


def test_seaweedfs_role_arn_form_gets_an_assumed_role_arn(front: Any) -> None:
    server, sw = front
    answer = _assume(server, "swfs-bare-arn", _token(server, "alice", "sts.amazonaws.com"))
    # SeaweedFS sends no AssumedRoleUser; kind seaweedfs derives its own account-less form
    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::assumed-role/AliceRole/s1"
    _s3_checks(sw, answer["Credentials"], put=False)
