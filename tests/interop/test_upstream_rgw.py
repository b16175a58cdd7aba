"""stsmock in front of a real Ceph RGW STS (the recipe of docs/ceph-rgw.md, part 2).

boto3 -> stsmock STS (its own validation, trust policy and audit) -> RGW STS -> credentials
that work for S3 on RGW, in both modes:

* ``rgw-passthrough``: the caller's token (aud=rgw) goes to RGW unchanged;
* ``rgw-broker``: the caller's token (aud=app, which RGW does not accept) is
  exchanged for a token stsmock mints for RGW (aud=rgw, the caller's sub);
* ``rgw-readonly``: broker + a narrowing session policy that RGW enforces.

stsmock runs with ``configs/ceph-rgw.yaml``; the only change is the upstream endpoint, because the
test RGW listens on a free port.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from stsproxy.upstream import UpstreamForwarder

from .ceph_helpers import (
    CephRGW,
    create_web_identity_role,
    delete_role,
    provider_host,
    put_and_get_object,
    register_oidc_provider,
    s3_client_from_credentials,
    unique_name,
)

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "ceph-rgw.yaml"
RGW_ROLE = "stsmockS3"  # the RGW role configs/ceph-rgw.yaml forwards to
ACCOUNT = "000000000000"

pytestmark = [pytest.mark.ceph, pytest.mark.stsmock_config(str(CONFIG))]


def test_recipe_config_passes_rgw_lint() -> None:
    """`stsmock check --profile ceph-rgw configs/ceph-rgw.yaml` is clean (one key; one audience per role)."""
    from stsmock.config import load_config
    from stsmock.lint import lint

    assert [f for f in lint(load_config(CONFIG), profile="ceph-rgw") if f.severity == "error"] == []


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


@pytest.fixture
def forwarder(stsmock) -> UpstreamForwarder:
    upstream = stsmock.runtime.sts.ext.upstream
    assert isinstance(upstream, UpstreamForwarder), "configs/ceph-rgw.yaml configures an upstream"
    return upstream


@pytest.fixture
def rgw_upstream(ceph_rgw: CephRGW, stsmock, forwarder: UpstreamForwarder) -> Iterator[CephRGW]:
    """Recipe steps 1-3: point the `rgw` upstream at RGW, register stsmock in RGW, create the RGW role."""
    forwarder.put(forwarder.upstreams["rgw"].model_copy(update={"endpoint": ceph_rgw.endpoint}))
    register_oidc_provider(ceph_rgw, stsmock.url, ["rgw"])
    delete_role(ceph_rgw, RGW_ROLE)  # left over from an earlier test: it trusted another stsmock URL
    create_web_identity_role(ceph_rgw, RGW_ROLE, provider_host(stsmock.url), {"app_id": "rgw"})
    yield ceph_rgw
    delete_role(ceph_rgw, RGW_ROLE)


def assume(stsmock, role: str, token: str, session: str = "upstream1", **kwargs) -> dict:
    return stsmock.sts_client().assume_role_with_web_identity(
        RoleArn=role_arn(role), RoleSessionName=session, WebIdentityToken=token, **kwargs
    )


def forward_records(stsmock) -> list[dict]:
    return [r for r in stsmock.audit() if r.get("event") == "upstream.forward"]


def decision(stsmock) -> dict:
    return [r for r in stsmock.audit() if r.get("event") == "sts.decision"][-1]


def test_passthrough_gives_rgw_credentials_that_work_for_s3(rgw_upstream: CephRGW, stsmock) -> None:
    response = assume(stsmock, "rgw-passthrough", stsmock.token("alice", aud="rgw"), session="pass1")
    creds = response["Credentials"]
    assert not creds["AccessKeyId"].startswith("ASIA"), "credentials come from RGW, not from stsmock"
    assert response["SubjectFromWebIdentityToken"] == "alice"
    assert response["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/{RGW_ROLE}/pass1")
    data = b"passthrough\n"
    assert put_and_get_object(rgw_upstream, creds, unique_name("b"), "k", data) == data

    [forward] = forward_records(stsmock)
    assert forward["upstream"] == "rgw" and forward["mode"] == "passthrough" and forward["kind"] == "ceph-rgw"
    assert forward["status"] == 200 and forward["outcome"] == "allow" and forward["latency_ms"] > 0
    record = decision(stsmock)
    assert record["decision"] == "allow"
    assert record["upstream"] == "rgw" and record["upstream_status"] == 200 and record["upstream_latency_ms"] > 0


def test_stsmock_trust_policy_runs_before_forwarding(rgw_upstream: CephRGW, stsmock) -> None:
    """rgw-passthrough trusts aud=rgw only: stsmock denies, RGW is never asked."""
    with pytest.raises(ClientError) as info:
        assume(stsmock, "rgw-passthrough", stsmock.token("alice", aud="app"))
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert forward_records(stsmock) == []
    assert decision(stsmock)["check"] != "upstream"


def test_broker_exchanges_the_token_and_rgw_credentials_work(rgw_upstream: CephRGW, stsmock) -> None:
    caller_token = stsmock.token("bob", aud="app")  # RGW would reject this audience
    response = assume(stsmock, "rgw-broker", caller_token, session="broker1")
    assert response["SubjectFromWebIdentityToken"] == "bob"
    assert response["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/{RGW_ROLE}/broker1")
    data = b"broker\n"
    assert put_and_get_object(rgw_upstream, response["Credentials"], unique_name("b"), "k", data) == data

    [forward] = forward_records(stsmock)
    assert forward["mode"] == "broker" and forward["outcome"] == "allow"
    minted = [r for r in stsmock.audit() if r.get("event") == "token.issued" and r.get("aud") == "rgw"]
    assert minted and minted[-1]["sub"] == "bob", "the broker token was minted for RGW with the caller's sub"


def test_role_session_policy_narrows_rgw_credentials(rgw_upstream: CephRGW, stsmock) -> None:
    bucket = unique_name("b")
    writer = assume(stsmock, "rgw-broker", stsmock.token("carol", aud="app"))["Credentials"]
    assert put_and_get_object(rgw_upstream, writer, bucket, "k", b"x") == b"x"

    reader = assume(stsmock, "rgw-readonly", stsmock.token("carol", aud="reader"))["Credentials"]
    s3 = s3_client_from_credentials(rgw_upstream, reader)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"y")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    # A caller Policy cannot be combined with the role's (an upstream takes one Policy only).
    with pytest.raises(ClientError) as info:
        assume(
            stsmock,
            "rgw-readonly",
            stsmock.token("carol", aud="reader"),
            Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert decision(stsmock)["check"] == "upstream-session-policy"


def test_rgw_rejection_reaches_the_client_and_is_an_upstream_denial(rgw_upstream: CephRGW, stsmock) -> None:
    """stsmock's trust allows mallory; RGW's role trusts only sub=alice and answers 403 AccessDenied."""
    strict = unique_name("r")
    create_web_identity_role(rgw_upstream, strict, provider_host(stsmock.url), {"app_id": "rgw", "sub": "alice"})
    try:
        stsmock.add_role(
            "rgw-alice-only",
            stsmock.web_identity_trust(aud="rgw"),
            upstream={"name": "rgw", "mode": "passthrough", "role_arn": f"arn:aws:iam:::role/{strict}"},
        )
        assert assume(stsmock, "rgw-alice-only", stsmock.token("alice", aud="rgw"))["Credentials"]["AccessKeyId"]
        with pytest.raises(ClientError) as info:
            assume(stsmock, "rgw-alice-only", stsmock.token("mallory", aud="rgw"))
    finally:
        delete_role(rgw_upstream, strict)
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403  # RGW's status ...
    assert error["Error"]["Code"] == "AccessDenied"  # ... and code, which boto3 now can parse
    assert "403 AccessDenied" in error["Error"]["Message"]  # RGW sends an empty Message; we say so

    record = decision(stsmock)
    assert record["decision"] == "deny" and record["check"] == "upstream" and record["code"] == "AccessDenied"
    assert record["upstream"] == "rgw" and record["upstream_status"] == 403
    assert forward_records(stsmock)[-1]["outcome"] == "deny"


def test_unreachable_upstream_is_idp_communication_error(stsmock, forwarder: UpstreamForwarder) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    forwarder.put(forwarder.upstreams["rgw"].model_copy(update={"endpoint": dead, "retries": 1}))
    with pytest.raises(ClientError) as info:
        assume(stsmock, "rgw-passthrough", stsmock.token("alice", aud="rgw"))
    assert info.value.response["Error"]["Code"] == "IDPCommunicationError"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    record = decision(stsmock)
    assert record["check"] == "upstream-unreachable" and record["upstream"] == "rgw"
    assert forward_records(stsmock)[-1]["outcome"] == "error"
