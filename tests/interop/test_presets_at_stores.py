"""Every preset's tokens at the real SeaweedFS and Ceph RGW STS, against the ``stsmock check`` verdicts.

For each preset the column of docs/identity-providers.md is replayed on the real store:
"works" -> the ordinary trust policy (aud = the client id) accepts the token a workload presents;
"works with a setting" -> the ordinary one refuses it and the stated setting makes it pass;
"cannot" -> refused even by the most permissive role.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from issuer.presets import PRESET_NAMES
from stsmock.config import parse_config
from stsmock.idpcheck import check, from_preset
from stsmock.pytest_plugin import start_server

from .ceph_helpers import (
    CephRGW,
    RGWRequestError,
    assume_at_rgw,
    create_web_identity_role,
    delete_role,
    provider_host,
    register_oidc_provider,
    unique_name,
)
from .seaweedfs_sts import SeaweedSTS, bucket_policy, oidc_provider, web_identity_role
from .test_seaweedfs_trusts_stsmock import _require_weed

CLIENT = ("sts-client", "sts-secret")
#: CI personas: the job asks for a token with an audience (``stsmock token --aud``); the others log in.
MINTED = ("kubernetes", "github-actions", "gitlab")


def _name(preset: str) -> str:
    return preset.replace("-", "")


def _claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


@pytest.fixture(scope="module")
def preset_server(tmp_path_factory: pytest.TempPathFactory, _stsmock_loop: Any):
    issuers: list[dict[str, Any]] = [{"name": "default"}]
    for preset in PRESET_NAMES:
        issuers.append(
            {
                "name": _name(preset),
                "preset": preset,
                "clients": [{"client_id": CLIENT[0], "client_secret": CLIENT[1]}],
                "users": [{"username": "alice", "password": "pw"}],
            }
        )
    # the Ceph RGW setting for Authelia: publish x5c (Authelia's certificate_chain)
    issuers.append({**issuers[2], "name": "autheliax5c", "jwks_x5c": True})
    server = start_server(parse_config({"issuers": issuers}), tmp_path_factory.mktemp("presets-stores"), _stsmock_loop)
    yield server
    server.stop()


def tokens(server: Any, issuer: str, preset: str) -> dict[str, str]:
    """{"presented": the token a workload sends, "id": the ID token (when there is one)}."""
    service = server.runtime.issuers[issuer]
    if preset in MINTED:
        token = service.mint({"aud": CLIENT[0]})
        return {"presented": token, "id": token}
    resp = requests.post(
        service.url("/token"),
        data={"grant_type": "password", "username": "alice", "password": "pw", "scope": "openid"},
        auth=CLIENT,
        timeout=30,
    )
    resp.raise_for_status()
    body = resp.json()
    return {"presented": body["access_token"], "id": body["id_token"]}


# -- SeaweedFS -----------------------------------------------------------------------------------
#: The stated setting per preset, as (which token, SeaweedFS trust conditions); None: no setting needed.
SEAWEED_SETTING: dict[str, tuple[str, dict[str, Any]] | None] = {
    "keycloak": ("presented", {"StringEquals": {"oidc:azp": CLIENT[0]}}),
    "authelia": ("id", {"StringEquals": {"oidc:azp": CLIENT[0]}}),
    "kubernetes": ("presented", {"StringLike": {"oidc:sub": "system:serviceaccount:*"}}),
    "google": ("id", {"StringEquals": {"oidc:aud": CLIENT[0]}}),
}


@pytest.fixture(scope="module")
def seaweed(preset_server: Any, tmp_path_factory: pytest.TempPathFactory):
    _require_weed()
    providers, roles = [], []
    for preset in PRESET_NAMES:
        url = preset_server.runtime.issuer_url(_name(preset))
        providers.append(oidc_provider(preset, url, [CLIENT[0]]))
        roles.append(
            web_identity_role(f"{_name(preset)}Plain", preset, {"StringEquals": {"oidc:aud": CLIENT[0]}}, ["RW"])
        )
        setting = SEAWEED_SETTING.get(preset)
        if setting:
            roles.append(web_identity_role(f"{_name(preset)}Setting", preset, setting[1], ["RW"]))
    sw = SeaweedSTS(
        tmp_path_factory.mktemp("swfs-presets"),
        providers=providers,
        policies=[bucket_policy("RW", "presets", ["s3:PutObject", "s3:GetObject"])],
        roles=roles,
        buckets=["presets"],
    )
    sw.start()
    yield sw
    sw.stop()


def _seaweed_ok(sw: SeaweedSTS, role: str, token: str) -> bool:
    try:
        creds = sw.assume(role, token)
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403), exc.response
        return False
    sw.s3(creds).put_object(Bucket="presets", Key=f"{role}.txt", Body=b"ok")
    return True


@pytest.mark.seaweedfs
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_preset_at_real_seaweedfs_matches_the_verdict(preset_server: Any, seaweed: SeaweedSTS, preset: str) -> None:
    verdict = check(from_preset(preset), "seaweedfs")
    toks = tokens(preset_server, _name(preset), preset)
    plain = _seaweed_ok(seaweed, f"{_name(preset)}Plain", toks["presented"])
    if verdict.status == "works":
        assert plain, f"{preset}: the ordinary SeaweedFS trust policy should accept the token"
        assert SEAWEED_SETTING.get(preset) is None
        return
    assert verdict.status == "works-with-setting"
    assert not plain, f"{preset}: without the setting ({verdict.settings[0]}) SeaweedFS should refuse"
    which, _ = SEAWEED_SETTING[preset]  # type: ignore[misc]
    assert _seaweed_ok(seaweed, f"{_name(preset)}Setting", toks[which]), verdict.settings


# -- Ceph RGW 16.2 -----------------------------------------------------------------------------------
#: Cells whose verdict rests on the real IdP's multi-key JWKS (GitHub and Entra publish several keys in
#: no fixed order), which a preset, publishing its signing key first, cannot show. RGW's "first key only"
#: behaviour itself is replayed in test_ceph_rgw_smoke.py (signing key second -> 403).
RGW_MULTI_KEY = ("github-actions", "entra")


def test_multi_key_idps_cannot_use_ceph_rgw() -> None:
    for preset in RGW_MULTI_KEY:
        verdict = check(from_preset(preset), "ceph-rgw")
        assert verdict.status == "cannot" and "several keys" in verdict.reasons[0]


@pytest.mark.ceph
@pytest.mark.parametrize("preset", [p for p in PRESET_NAMES if p not in RGW_MULTI_KEY])
def test_preset_at_real_ceph_rgw_matches_the_verdict(preset_server: Any, ceph_rgw: CephRGW, preset: str) -> None:
    verdict = check(from_preset(preset), "ceph-rgw")
    issuer_name = _name(preset)
    url = preset_server.runtime.issuer_url(issuer_name)
    register_oidc_provider(ceph_rgw, url, [CLIENT[0]])
    role = unique_name("p")
    create_web_identity_role(ceph_rgw, role, provider_host(url), {"app_id": CLIENT[0]})
    try:
        toks = tokens(preset_server, issuer_name, preset)
        best = toks["id"]  # the most favourable token: aud = the client id

        def rgw_ok(token: str, role_name: str = role) -> bool:
            try:
                assume_at_rgw(ceph_rgw, role_name, token)
            except RGWRequestError as exc:
                assert exc.status in (400, 403), exc
                return False
            return True

        if verdict.status == "cannot":
            assert not rgw_ok(best), f"{preset}: RGW should refuse ({verdict.reasons[0]})"
            if preset == "dex":  # the evidence behind the reason: the JWKS has no x5c
                jwks = requests.get(preset_server.runtime.issuers[issuer_name].url("/jwks"), timeout=30).json()
                assert all("x5c" not in k for k in jwks["keys"])
            return
        assert verdict.status == "works-with-setting"
        if preset == "keycloak":  # setting: present the ID token (the access token's aud is "account")
            assert not rgw_ok(toks["presented"]) and rgw_ok(best)
        elif preset == "authelia":  # setting: x5c in the JWKS (certificate_chain)
            assert not rgw_ok(best)
            x5c_url = preset_server.runtime.issuer_url("autheliax5c")
            register_oidc_provider(ceph_rgw, x5c_url, [CLIENT[0]])
            role2 = unique_name("p")
            create_web_identity_role(ceph_rgw, role2, provider_host(x5c_url), {"app_id": CLIENT[0]})
            try:
                assert rgw_ok(tokens(preset_server, "autheliax5c", preset)["id"], role2)
            finally:
                delete_role(ceph_rgw, role2)
        else:
            pytest.fail(f"{preset} x ceph-rgw: no replay written for {verdict.settings}")
    finally:
        delete_role(ceph_rgw, role)
