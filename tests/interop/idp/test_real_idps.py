"""Real Keycloak, Dex and panva's oidc-provider as external issuers of stsmock's STS.

Their tokens pass or fail trust policies as the policies say, stsmock follows their key rotation
(unknown kid -> one JWKS refetch), and the keycloak and dex presets are compared with the real
servers: discovery layout, JWKS key type and algorithm, and a real token's claims next to a
preset token's, claim by claim.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from issuer.presets.dex import dex_subject
from stsmock.config import parse_config
from stsmock.pytest_plugin import start_server

from .conftest import sts_trusting, web_identity_role
from .servers import DEX_USER_ID, KEYCLOAK_CLIENT, OIDC_RESOURCE, Dex, Keycloak

pytestmark = pytest.mark.idp
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(p: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))

    head, body, _ = token.split(".")
    return part(head), part(body)


def arn(role: str) -> str:
    return f"arn:aws:iam::000000000000:role/{role}"


def code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def shape(claims: dict[str, Any]) -> dict[str, str]:
    """Claim name -> JSON type, the unit of the claim-by-claim comparison."""
    kinds = {str: "string", bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}
    return {k: kinds[type(v)] for k, v in claims.items()}


def jwks_of(issuer: str) -> list[dict[str, Any]]:
    doc = requests.get(issuer + "/.well-known/openid-configuration", timeout=30).json()
    return list(requests.get(doc["jwks_uri"], timeout=30).json()["keys"])


@pytest.fixture(scope="module")
def preset_issuers(tmp_path_factory: pytest.TempPathFactory, _stsmock_loop: Any):
    """stsmock with the keycloak and dex presets, set up like the real realm / static password."""
    user_claims = {
        "email": "alice@example.com",
        "name": "Alice Liddell",
        "given_name": "Alice",
        "family_name": "Liddell",
        "policy": "readwrite",
    }
    config = parse_config(
        {
            "issuers": [
                {
                    "name": "demo",
                    "preset": "keycloak",
                    "clients": [{"client_id": KEYCLOAK_CLIENT[0], "client_secret": KEYCLOAK_CLIENT[1]}],
                    "users": [
                        {"username": "alice", "password": "pw", "claims": {**user_claims, "email_verified": True}}
                    ],
                },
                {
                    "name": "dex",
                    "preset": "dex",
                    "clients": [{"client_id": "sts-client", "client_secret": "s"}],
                    "users": [{"username": "alice", "password": "pw", "claims": {"email": "alice@example.com"}}],
                },
            ]
        }
    )
    server = start_server(config, tmp_path_factory.mktemp("presets-vs-real"), _stsmock_loop)
    yield server
    server.stop()


def preset_tokens(server: Any, issuer: str, client: tuple[str, str], scope: str) -> dict[str, Any]:
    service = server.runtime.issuers[issuer]
    resp = requests.post(
        service.url("/token"),
        data={"grant_type": "password", "username": "alice", "password": "pw", "scope": scope},
        auth=client,
        timeout=30,
    )
    resp.raise_for_status()
    return dict(resp.json())


# -- Keycloak ---------------------------------------------------------------------------------
def test_keycloak_preset_matches_real_keycloak(real_keycloak: Keycloak, preset_issuers: Any) -> None:
    real_doc = requests.get(real_keycloak.issuer + "/.well-known/openid-configuration", timeout=30).json()
    fake = preset_issuers.runtime.issuers["demo"]
    fake_doc = fake.discovery()
    for field in ("jwks_uri", "token_endpoint", "authorization_endpoint", "userinfo_endpoint",
                  "introspection_endpoint", "end_session_endpoint", "revocation_endpoint",
                  "device_authorization_endpoint"):  # fmt: skip
        assert real_doc[field].removeprefix(real_keycloak.issuer) == fake_doc[field].removeprefix(fake.issuer_url)
    assert real_keycloak.issuer.endswith("/realms/demo") and fake.issuer_url.endswith("/realms/demo")
    real_sig = [k for k in jwks_of(real_keycloak.issuer) if k["use"] == "sig"]
    fake_keys = jwks_of(fake.issuer_url)
    assert {(k["kty"], k["alg"]) for k in real_sig} == {(k["kty"], k["alg"]) for k in fake_keys} == {("RSA", "RS256")}
    assert all(len(k["kid"]) == 43 and "x5c" in k and "x5t" in k for k in real_sig + fake_keys)

    real = real_keycloak.tokens(scope="openid profile email")
    fake_tokens = preset_tokens(preset_issuers, "demo", KEYCLOAK_CLIENT, "openid profile email")
    for kind in ("access_token", "id_token"):
        real_head, real_claims = decode(real[kind])
        fake_head, fake_claims = decode(fake_tokens[kind])
        assert set(real_head) == set(fake_head) and real_head["typ"] == fake_head["typ"] == "JWT", kind
        assert shape(real_claims) == shape(fake_claims), kind  # same claim names, same JSON types
        for name in ("typ", "azp", "aud", "acr", "preferred_username", "email", "policy"):
            if name in real_claims:
                assert real_claims[name] == fake_claims[name], (kind, name)
        assert re.fullmatch(UUID, real_claims["sub"]) and re.fullmatch(UUID, fake_claims["sub"])
    real_access, fake_access = decode(real["access_token"])[1], decode(fake_tokens["access_token"])[1]
    assert real_access["jti"].split(":")[0] == fake_access["jti"].split(":")[0] == "onrtro"
    assert real_access["exp"] - real_access["iat"] == fake_access["exp"] - fake_access["iat"] == 300
    assert set(real_access["realm_access"]["roles"]) == set(fake_access["realm_access"]["roles"])
    assert real_access["resource_access"] == fake_access["resource_access"]


def test_keycloak_tokens_meet_trust_policies(real_keycloak: Keycloak, tmp_path: Path, _stsmock_loop: Any) -> None:
    iss = real_keycloak.issuer
    tokens = real_keycloak.tokens()
    sub = decode(tokens["access_token"])[1]["sub"]
    roles = [
        web_identity_role("kc-id", iss, {"StringEquals": {"aud": "sts-client", "sub": sub}}),
        web_identity_role("kc-access", iss, {"StringEquals": {"oaud": "account", "azp": "sts-client"}}),
        web_identity_role("kc-bob", iss, {"StringEquals": {"aud": "sts-client", "sub": "bob"}}),
    ]
    # IAM checks aud only: Keycloak's access token (aud "account", azp the client) is refused, as AWS does
    strict = sts_trusting([{"issuer": iss, "audiences": ["sts-client"]}], roles[:1], tmp_path / "strict", _stsmock_loop)
    try:
        with pytest.raises(ClientError) as excinfo:
            strict.assume(arn("kc-id"), tokens["access_token"])
        assert code(excinfo) == "InvalidIdentityToken"
        assert "Incorrect token audience" in str(excinfo.value)
    finally:
        strict.server.stop()
    sts = sts_trusting(
        [{"issuer": iss, "audiences": ["sts-client"], "azp_as_audience": True}], roles, tmp_path / "sts", _stsmock_loop
    )
    try:
        assert sts.whoami(sts.assume(arn("kc-id"), tokens["id_token"]))["Arn"].endswith(
            "assumed-role/kc-id/test-session"
        )
        # With azp_as_audience (MinIO and SeaweedFS behaviour) the access token's azp matches the
        # audience list and becomes :aud; :oaud keeps Keycloak's "account".
        assert sts.assume(arn("kc-id"), tokens["access_token"])
        assert sts.assume(arn("kc-access"), tokens["access_token"])
        with pytest.raises(ClientError) as excinfo:
            sts.assume(arn("kc-access"), tokens["id_token"])  # the ID token's aud is the client, not "account"
        assert code(excinfo) == "AccessDenied"
        with pytest.raises(ClientError) as excinfo:
            sts.assume(arn("kc-bob"), tokens["id_token"])
        assert code(excinfo) == "AccessDenied"
        # a token for another client is refused before any policy (audience allow-list)
        wrong = sts_trusting(
            [{"issuer": iss, "audiences": ["other-client"]}], roles[:1], tmp_path / "sts2", _stsmock_loop
        )
        try:
            with pytest.raises(ClientError) as excinfo:
                wrong.assume(arn("kc-id"), tokens["id_token"])
            assert code(excinfo) == "InvalidIdentityToken"
        finally:
            wrong.server.stop()
        # Keycloak's own rotation: a new higher-priority key signs; stsmock refetches the JWKS once
        old_kid = decode(tokens["id_token"])[0]["kid"]
        real_keycloak.rotate_key()
        fresh = real_keycloak.tokens()
        assert decode(fresh["id_token"])[0]["kid"] != old_kid
        assert sts.assume(arn("kc-id"), fresh["id_token"])
        assert sts.assume(arn("kc-id"), tokens["id_token"])  # the old key is still published
    finally:
        sts.server.stop()


# -- Dex ----------------------------------------------------------------------------------------
def test_dex_preset_matches_real_dex(real_dex: Dex, preset_issuers: Any) -> None:
    real_doc = requests.get(real_dex.issuer + "/.well-known/openid-configuration", timeout=30).json()
    fake = preset_issuers.runtime.issuers["dex"]
    fake_doc = fake.discovery()
    assert fake.issuer_url.endswith("/dex") and real_dex.issuer.endswith("/dex")
    for field in ("jwks_uri", "token_endpoint", "authorization_endpoint"):
        assert real_doc[field].removeprefix(real_dex.issuer) == fake_doc[field].removeprefix(fake.issuer_url)
    assert real_doc["id_token_signing_alg_values_supported"] == fake_doc["id_token_signing_alg_values_supported"]
    real_keys, fake_keys = jwks_of(real_dex.issuer), jwks_of(fake.issuer_url)
    for key in real_keys + fake_keys:
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
        assert re.fullmatch(r"[0-9a-f]{40}", key["kid"]) and "x5c" not in key

    real = real_dex.tokens()
    fake_tokens = preset_tokens(preset_issuers, "dex", ("sts-client", "s"), "openid email profile")
    real_head, real_id = decode(real["id_token"])
    fake_head, fake_id = decode(fake_tokens["id_token"])
    assert set(real_head) == set(fake_head) == {"alg", "kid"}  # go-jose writes no typ
    # Dex v2.13 predates preferred_username and auth_time, which the preset (modern Dex) emits
    newer = {"preferred_username", "auth_time"}
    assert shape(real_id) == {k: v for k, v in shape(fake_id).items() if k not in newer}
    assert real_id["sub"] == dex_subject(DEX_USER_ID, "local")  # the preset's encoding is Dex's
    assert real_id["aud"] == fake_id["aud"] == "sts-client" and "azp" not in real_id
    assert real_id["exp"] - real_id["iat"] == fake_id["exp"] - fake_id["iat"] == 86_400
    # v2.13's access tokens are opaque (JWT access tokens came with later Dex versions)
    assert real["access_token"].count(".") != 2


def test_dex_tokens_meet_trust_policies_and_rotation_is_followed(
    real_dex: Dex, tmp_path: Path, _stsmock_loop: Any
) -> None:
    iss = real_dex.issuer
    sub = dex_subject(DEX_USER_ID, "local")
    roles = [
        web_identity_role("dex-alice", iss, {"StringEquals": {"aud": "sts-client", "sub": sub}}),
        web_identity_role("dex-other", iss, {"StringEquals": {"aud": "sts-client", "sub": dex_subject("x", "local")}}),
    ]
    sts = sts_trusting([{"issuer": iss, "audiences": ["sts-client"]}], roles, tmp_path / "sts", _stsmock_loop)
    try:
        first = real_dex.tokens()["id_token"]
        assert sts.assume(arn("dex-alice"), first)
        with pytest.raises(ClientError) as excinfo:
            sts.assume(arn("dex-other"), first)
        assert code(excinfo) == "AccessDenied"
        # expiry.signingKeys is 20 s in this Dex: wait (bounded) for its rotation, then a new kid must verify
        kid = decode(first)[0]["kid"]
        deadline = time.monotonic() + 90
        fresh = first
        while decode(fresh)[0]["kid"] == kid and time.monotonic() < deadline:
            time.sleep(2)
            fresh = real_dex.tokens()["id_token"]
        assert decode(fresh)[0]["kid"] != kid, "Dex did not rotate its key within 90 s"
        assert sts.assume(arn("dex-alice"), fresh)
    finally:
        sts.server.stop()


# -- panva oidc-provider ---------------------------------------------------------------------------
def test_oidc_provider_jwt_access_tokens_and_rotation(
    real_oidc_provider: dict[str, Any], tmp_path: Path, _stsmock_loop: Any
) -> None:
    from .servers import start_oidc_provider

    op = real_oidc_provider["op"]
    iss = op.issuer
    roles = [
        web_identity_role("op-s3", iss, {"StringEquals": {"aud": OIDC_RESOURCE, "sub": "c1"}}),
        web_identity_role("op-login", iss, {"StringEquals": {"aud": "c1", "sub": "alice"}}),
    ]
    sts = sts_trusting([{"issuer": iss, "audiences": [OIDC_RESOURCE, "c1"]}], roles, tmp_path / "sts", _stsmock_loop)
    try:
        access = op.access_token()
        head, claims = decode(access)
        assert head["typ"] == "at+jwt" and claims["aud"] == OIDC_RESOURCE and claims["client_id"] == "c1"
        assert sts.assume(arn("op-s3"), access)
        id_token = op.id_token()
        assert decode(id_token)[1]["aud"] == "c1"
        assert sts.assume(arn("op-login"), id_token)
        with pytest.raises(ClientError) as excinfo:
            sts.assume(arn("op-s3"), id_token)  # an ID token is not the resource server's token
        assert code(excinfo) == "AccessDenied"
        other = op.access_token(resource="urn:other:api")
        with pytest.raises(ClientError) as excinfo:
            sts.assume(arn("op-s3"), other)
        assert code(excinfo) == "InvalidIdentityToken"  # audience not in the issuer's allow-list
        # rotation: restart with a new key in front of the old one (same port, same issuer)
        port = int(iss.rsplit(":", 1)[1])
        op.process.stop()
        rotated = start_oidc_provider(op.work, port=port, keys=2)
        real_oidc_provider["op"] = rotated
        fresh = rotated.access_token()
        assert decode(fresh)[0]["kid"] != head["kid"]
        assert sts.assume(arn("op-s3"), fresh)
        assert sts.assume(arn("op-s3"), access)  # the old key is still in the JWKS
    finally:
        sts.server.stop()


def test_stsmock_check_reads_a_real_issuer(real_dex: Dex) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    out = CliRunner().invoke(cli, ["check", "--issuer", real_dex.issuer, "--profile", "ceph-rgw", "--format", "json"])
    assert out.exit_code == 0, out.output
    verdict = json.loads(out.output)[0]
    assert verdict["status"] == "cannot" and "x5c" in verdict["reasons"][0]  # as the dex preset's row says
