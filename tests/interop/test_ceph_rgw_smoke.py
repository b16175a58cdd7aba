"""Smoke test: a real Ceph RGW as OIDC relying party, fed by a minimal in-test issuer (MiniIssuer).

Swap MiniIssuer for the real stsmock issuer once it exists: the tests only use ``idp.url``,
``idp.provider_host`` and ``idp.token(sub=..., aud=..., expires_in=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .ceph_helpers import (
    CephRGW,
    MiniIssuer,
    RGWRequestError,
    assume_at_rgw,
    create_web_identity_role,
    delete_role,
    put_and_get_object,
    register_oidc_provider,
    unique_name,
)

pytestmark = pytest.mark.ceph

CLIENT_ID = "sts-client"


@pytest.fixture
def idp(ceph_rgw: CephRGW) -> Iterator[MiniIssuer]:
    with MiniIssuer() as issuer:
        register_oidc_provider(ceph_rgw, issuer.url, [CLIENT_ID], thumbprint=issuer.thumbprint)
        yield issuer


@pytest.fixture
def make_role(ceph_rgw: CephRGW, idp: MiniIssuer) -> Iterator[Callable[..., str]]:
    """make_role(sub="alice") -> role name trusting idp with app_id=CLIENT_ID (and sub, if given)."""
    created: list[str] = []

    def _make(sub: str | None = "alice") -> str:
        name = unique_name("r")
        conditions = {"app_id": CLIENT_ID}
        if sub is not None:
            conditions["sub"] = sub
        create_web_identity_role(ceph_rgw, name, idp.provider_host, conditions)
        created.append(name)
        return name

    yield _make
    for name in created:
        delete_role(ceph_rgw, name)


def assert_denied(ceph_rgw: CephRGW, role: str, token: str, status: int = 403) -> RGWRequestError:
    with pytest.raises(RGWRequestError) as ei:
        assume_at_rgw(ceph_rgw, role, token)
    assert ei.value.status == status, str(ei.value)
    return ei.value


def test_valid_token_gives_working_s3_credentials(ceph_rgw: CephRGW, idp: MiniIssuer, make_role) -> None:
    role = make_role(sub="alice")
    creds = assume_at_rgw(ceph_rgw, role, idp.token(sub="alice", aud=CLIENT_ID), session_name="smoke")
    assert creds["AccessKeyId"] and creds["SecretAccessKey"] and creds["SessionToken"]
    assert creds["SubjectFromWebIdentityToken"] == "alice"

    data = b"hello from a web identity\n"
    assert put_and_get_object(ceph_rgw, creds, unique_name("b"), "dir/obj.txt", data) == data

    # RGW fetched discovery and the JWKS from our issuer (it does so on every call, no caching)
    assert idp.fetched("/.well-known/openid-configuration") >= 1
    assert idp.fetched("/jwks") >= 1


def test_wrong_audience_is_denied(ceph_rgw: CephRGW, idp: MiniIssuer, make_role) -> None:
    role = make_role(sub="alice")
    assert_denied(ceph_rgw, role, idp.token(sub="alice", aud="not-the-client"))


def test_expired_token_is_denied(ceph_rgw: CephRGW, idp: MiniIssuer, make_role) -> None:
    role = make_role(sub="alice")
    assert_denied(ceph_rgw, role, idp.token(sub="alice", aud=CLIENT_ID, expires_in=-120))


def test_sub_condition_mismatch_is_denied(ceph_rgw: CephRGW, idp: MiniIssuer, make_role) -> None:
    role = make_role(sub="alice")
    assert_denied(ceph_rgw, role, idp.token(sub="mallory", aud=CLIENT_ID))


def test_signing_key_second_in_jwks_is_denied(ceph_rgw: CephRGW, idp: MiniIssuer, make_role) -> None:
    """RGW 16.2 quirk: only the FIRST JWKS key is tried, the token's kid is ignored."""
    role = make_role(sub="alice")
    token = idp.token(sub="alice", aud=CLIENT_ID)

    idp.signing_key_first = False  # JWKS = [decoy, signing key]; kid in the token header is correct
    assert [k["kid"] for k in idp.jwks()["keys"]][1] == idp.signing_key.kid
    assert_denied(ceph_rgw, role, token)

    idp.signing_key_first = True  # same token, signing key back in first place -> accepted
    assert assume_at_rgw(ceph_rgw, role, token)["SubjectFromWebIdentityToken"] == "alice"


def test_jwks_without_x5c_is_denied(ceph_rgw: CephRGW, idp: MiniIssuer, make_role) -> None:
    """RGW 16.2 quirk: verification goes through the x5c certificate; n/e alone are not enough."""
    role = make_role(sub="alice")
    idp.include_x5c = False
    assert_denied(ceph_rgw, role, idp.token(sub="alice", aud=CLIENT_ID))
