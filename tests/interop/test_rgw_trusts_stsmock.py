"""A real Ceph RGW trusts stsmock's built-in issuer (the recipe of docs/ceph-rgw.md, part 1).

stsmock runs with ``configs/ceph-rgw.yaml`` (the plugin's ``stsmock`` fixture, in a background
thread, reachable over HTTP at 127.0.0.1), RGW is the real radosgw started by the ``ceph_rgw`` fixture.
RGW fetches stsmock's discovery document and JWKS on every AssumeRoleWithWebIdentity.
boto3 cannot parse RGW's STS error bodies, so denials are asserted by HTTP status (403).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt as pyjwt
import pytest

from .ceph_helpers import (
    CephRGW,
    RGWRequestError,
    assume_at_rgw,
    create_web_identity_role,
    delete_role,
    provider_host,
    put_and_get_object,
    register_oidc_provider,
    unique_name,
)

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "ceph-rgw.yaml"
CLIENT_ID = "rgw"  # the client in configs/ceph-rgw.yaml that RGW lists in ClientIDList

pytestmark = [pytest.mark.ceph, pytest.mark.stsmock_config(str(CONFIG))]


@pytest.fixture
def rgw_provider(ceph_rgw: CephRGW, stsmock) -> str:
    """Step 1 of the recipe: register stsmock's issuer URL as an OIDC provider in RGW."""
    register_oidc_provider(ceph_rgw, stsmock.url, [CLIENT_ID])
    return provider_host(stsmock.url)


@pytest.fixture
def make_role(ceph_rgw: CephRGW, rgw_provider: str) -> Iterator[Callable[..., str]]:
    """Step 2: a role in RGW trusting stsmock with app_id (= aud) and, optionally, sub conditions."""
    created: list[str] = []

    def _make(sub: str | None = "alice") -> str:
        name = unique_name("r")
        conditions = {"app_id": CLIENT_ID, **({"sub": sub} if sub else {})}
        create_web_identity_role(ceph_rgw, name, rgw_provider, conditions)
        created.append(name)
        return name

    yield _make
    for name in created:
        delete_role(ceph_rgw, name)


def denied_status(ceph_rgw: CephRGW, role: str, token: str) -> int:
    with pytest.raises(RGWRequestError) as info:
        assume_at_rgw(ceph_rgw, role, token)
    return info.value.status


def jwks(stsmock) -> dict:
    with urllib.request.urlopen(f"{stsmock.url}/jwks", timeout=5) as response:  # noqa: S310 - local test server
        return json.loads(response.read())


def test_rgw_accepts_stsmock_token_and_credentials_work_for_s3(ceph_rgw: CephRGW, stsmock, make_role) -> None:
    role = make_role(sub="alice")
    creds = assume_at_rgw(ceph_rgw, role, stsmock.token("alice", aud=CLIENT_ID), session_name="recipe")
    assert creds["AccessKeyId"] and creds["SecretAccessKey"] and creds["SessionToken"]
    assert creds["SubjectFromWebIdentityToken"] == "alice"
    data = b"written with credentials RGW issued for a stsmock token\n"
    assert put_and_get_object(ceph_rgw, creds, unique_name("b"), "dir/obj.txt", data) == data


def test_wrong_audience_is_denied(ceph_rgw: CephRGW, stsmock, make_role) -> None:
    role = make_role(sub="alice")
    assert denied_status(ceph_rgw, role, stsmock.token("alice", aud="sts.amazonaws.com")) == 403


def test_expired_token_is_denied(ceph_rgw: CephRGW, stsmock, make_role) -> None:
    role = make_role(sub="alice")
    stsmock.runtime.clock.advance(-7200)  # mint two hours in the past: exp is long gone in real time
    try:
        token = stsmock.token("alice", aud=CLIENT_ID, ttl=60)
    finally:
        stsmock.reset_clock()
    assert denied_status(ceph_rgw, role, token) == 403


def test_failing_sub_condition_is_denied(ceph_rgw: CephRGW, stsmock, make_role) -> None:
    role = make_role(sub="alice")
    assert denied_status(ceph_rgw, role, stsmock.token("mallory", aud=CLIENT_ID)) == 403


def test_key_rotation_active_key_first_old_key_rejected(ceph_rgw: CephRGW, stsmock, make_role) -> None:
    """RGW 16.2 verifies with the FIRST JWKS key only (kid ignored).

    stsmock lists the active key first, so tokens signed after a rotation work at once; tokens
    signed before it are rejected by RGW although the old key is still published (grace period)
    and stsmock itself still accepts them.
    """
    role = make_role(sub="alice")
    keys = stsmock.runtime.issuers["default"].keys
    old_token = stsmock.token("alice", aud=CLIENT_ID)
    old_kid = pyjwt.get_unverified_header(old_token)["kid"]
    assert assume_at_rgw(ceph_rgw, role, old_token)["SubjectFromWebIdentityToken"] == "alice"

    keys.rotate()
    new_token = stsmock.token("alice", aud=CLIENT_ID)
    new_kid = pyjwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    published = [k["kid"] for k in jwks(stsmock)["keys"]]
    assert published[0] == new_kid, "the active key must be first for RGW"
    assert old_kid in published, "the old key stays published during its grace period"

    assert assume_at_rgw(ceph_rgw, role, new_token)["SubjectFromWebIdentityToken"] == "alice"
    assert denied_status(ceph_rgw, role, old_token) == 403
