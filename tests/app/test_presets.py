"""IdP presets over real HTTP: discovery layout, JWKS, token shapes and lifetimes per persona.

The expectations below are the fact sheet (identity-providers.md §0-§8) written as data; the
real Keycloak and Dex comparisons are in tests/interop/test_real_idps.py.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from issuer.presets import PRESET_NAMES
from issuer.presets.dex import decode_dex_subject
from stsmock.config import ConfigError, parse_config
from stsmock.pytest_plugin import StsmockHelper, start_server

B64URL43 = r"[A-Za-z0-9_-]{43}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: preset -> (issuer path under the base URL, JWKS path under the mount, kid regex, x5c, header typ, lifetime)
FACTS: dict[str, tuple[str, str, str, bool, str | None, int]] = {
    "keycloak": (r"/realms/kc", "/protocol/openid-connect/certs", B64URL43, True, "JWT", 300),
    "authelia": (r"/issuers/authelia", "/jwks.json", r"[0-9a-f]{7}-rs256", False, "JWT", 3600),
    "dex": (r"/issuers/dex/dex", "/keys", r"[0-9a-f]{40}", False, None, 86_400),
    "kubernetes": (r"/issuers/k8s", "/openid/v1/jwks", B64URL43, False, "JWT", 3600),
    "github-actions": (r"/issuers/gha", "/.well-known/jwks", UUID, True, "JWT", 300),
    "gitlab": (r"/issuers/gitlab", "/oauth/discovery/keys", B64URL43, False, "JWT", 3600),
    "entra": (rf"/issuers/entra/{UUID}/v2\.0", "/discovery/v2.0/keys", r"[A-Za-z0-9_-]{27}", True, "JWT", 4500),
    "google": (r"/issuers/google", "/oauth2/v3/certs", r"[0-9a-f]{40}", False, "JWT", 3600),
}
NAMES = {"keycloak": "kc", "kubernetes": "k8s", "github-actions": "gha"}


def issuer_name(preset: str) -> str:
    return NAMES.get(preset, preset)


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(p: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))

    head, body, _ = token.split(".")
    return part(head), part(body)


def preset_config() -> dict[str, Any]:
    issuers: list[dict[str, Any]] = [{"name": "default"}]
    for preset in PRESET_NAMES:
        issuers.append(
            {
                "name": issuer_name(preset),
                "preset": preset,
                "clients": [
                    {"client_id": "sts-client", "client_secret": "sts-secret", "grant_types": ["all"]},
                    {"client_id": "aws", "client_secret": "aws-secret", "audience": "sts.amazonaws.com"},
                ],
                "users": [{"username": "alice", "password": "alice-pw", "claims": {"email": "alice@example.com"}}],
            }
        )
    ghp = "arn:aws:iam::000000000000:oidc-provider/{provider:gha}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": ghp},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"{provider:gha}:aud": "sts.amazonaws.com"},
                    "StringLike": {"{provider:gha}:sub": "repo:octo-org/octo-repo:ref:refs/heads/*"},
                },
            }
        ],
    }
    return {"issuers": issuers, "sts": {"roles": [{"name": "gha-deploy", "trust_policy": trust}]}}


@pytest.fixture(scope="module")
def presets_server(tmp_path_factory: pytest.TempPathFactory, _stsmock_loop: Any):
    server = start_server(parse_config(preset_config()), tmp_path_factory.mktemp("presets"), _stsmock_loop)
    yield server
    server.stop()


def discovery(server: Any, preset: str) -> dict[str, Any]:
    iss = server.runtime.issuer_url(issuer_name(preset))
    resp = requests.get(iss + "/.well-known/openid-configuration", timeout=10)
    assert resp.status_code == 200, preset
    return resp.json()


def password_tokens(server: Any, preset: str, scope: str = "openid profile email") -> dict[str, Any]:
    doc = discovery(server, preset)
    token_url = doc.get("token_endpoint") or server.runtime.issuers[issuer_name(preset)].url("/token")
    resp = requests.post(
        token_url,
        data={"grant_type": "password", "username": "alice", "password": "alice-pw", "scope": scope},
        auth=("sts-client", "sts-secret"),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_discovery_layout_and_jwks_match_the_fact_sheet(presets_server: Any, preset: str) -> None:
    path, jwks_path, kid_re, x5c, _, _ = FACTS[preset]
    doc = discovery(presets_server, preset)
    base = presets_server.url
    assert re.fullmatch(re.escape(base) + path, doc["issuer"]), doc["issuer"]
    mount = doc["issuer"].removesuffix("/v2.0")
    assert doc["jwks_uri"] == mount + jwks_path
    keys = requests.get(doc["jwks_uri"], timeout=10).json()["keys"]
    assert keys, preset
    for key in keys:
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
        assert re.fullmatch(kid_re, key["kid"]), key["kid"]
        assert ("x5c" in key) is x5c


def test_keycloak_and_kubernetes_kids_are_sha256_of_the_spki(presets_server: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    from joserfc import jwk

    for preset in ("keycloak", "kubernetes"):
        key = requests.get(discovery(presets_server, preset)["jwks_uri"], timeout=10).json()["keys"][0]
        public = jwk.import_key({k: key[k] for k in ("kty", "n", "e")}).public_key
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        import hashlib

        assert key["kid"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def test_minimal_discovery_documents(presets_server: Any) -> None:
    k8s = discovery(presets_server, "kubernetes")
    assert set(k8s) == {
        "issuer",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    }
    gha = discovery(presets_server, "github-actions")
    assert "token_endpoint" not in gha and "repository_owner_id" in gha["claims_supported"]
    kc = discovery(presets_server, "keycloak")
    assert kc["token_endpoint"] == kc["issuer"] + "/protocol/openid-connect/token"
    assert kc["authorization_endpoint"] == kc["issuer"] + "/protocol/openid-connect/auth"
    authelia = discovery(presets_server, "authelia")
    assert authelia["token_endpoint"] == authelia["issuer"] + "/api/oidc/token"
    dex = discovery(presets_server, "dex")
    assert dex["id_token_signing_alg_values_supported"] == ["RS256"] and "end_session_endpoint" not in dex


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_minted_token_has_the_persona_shape(presets_server: Any, preset: str) -> None:
    _, _, kid_re, _, typ, ttl = FACTS[preset]
    service = presets_server.runtime.issuers[issuer_name(preset)]
    head, claims = decode(service.mint({"aud": "sts.amazonaws.com"}))
    assert head.get("typ") == typ and re.fullmatch(kid_re, head["kid"])
    assert claims["exp"] - claims["iat"] == ttl
    assert claims["iss"] == service.issuer_url
    sub = claims["sub"]
    expected_sub = {
        "keycloak": UUID,
        "authelia": UUID,
        "kubernetes": r"system:serviceaccount:default:[a-z]+",
        "github-actions": r"repo:octo-org/octo-repo:ref:refs/heads/main",
        "gitlab": r"project_path:mygroup/myproject:ref_type:branch:ref:main",
        "google": r"[0-9]{21}",
        "entra": r"[A-Za-z0-9_-]{43}",
        "dex": r"[A-Za-z0-9_-]+",
    }[preset]
    assert re.fullmatch(expected_sub, sub), sub
    assert "client_id" not in claims
    if preset == "keycloak":
        assert claims["typ"] == "Bearer" and "nbf" not in claims
        assert "account" in claims["aud"] and "default-roles-kc" in claims["realm_access"]["roles"]
    if preset == "kubernetes":
        assert claims["aud"] == ["sts.amazonaws.com"] and claims["nbf"] == claims["iat"]
        assert claims["kubernetes.io"]["serviceaccount"]["name"] == "default"
        assert "azp" not in claims
    if preset == "github-actions":
        assert head["x5t"] and claims["nbf"] == claims["iat"] - 600
        assert claims["repository_owner"] == "octo-org" and claims["repository_id"].isdigit()
    if preset == "dex":
        assert decode_dex_subject(sub)[1] == "local" and "nbf" not in claims
    if preset == "authelia":
        assert claims["aud"] == ["sts.amazonaws.com"] and claims["amr"] == ["pwd"]
    if preset == "entra":
        assert claims["ver"] == "2.0" and claims["tid"] in claims["iss"]


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_password_grant_tokens_per_persona(presets_server: Any, preset: str) -> None:
    tokens = password_tokens(presets_server, preset)
    opaque = preset in ("authelia", "google")
    assert (tokens["access_token"].count(".") != 2) is opaque
    head, idt = decode(tokens["id_token"])
    assert head.get("typ") == FACTS[preset][4]
    if preset == "keycloak":
        _, access = decode(tokens["access_token"])
        assert (access["typ"], access["aud"], access["azp"]) == ("Bearer", "account", "sts-client")
        assert access["jti"].startswith("onrtro:") and access["preferred_username"] == "alice"
        assert (idt["typ"], idt["aud"]) == ("ID", "sts-client") and "realm_access" not in idt
        assert idt["sub"] == access["sub"] and re.fullmatch(UUID, idt["sub"])
    if preset == "authelia":
        assert tokens["access_token"].startswith("authelia_at_")
        assert set(idt) <= {"iss", "jti", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp"}
        assert "email" not in idt  # only via UserInfo unless a claims policy adds it
    if preset == "dex":
        assert decode_dex_subject(idt["sub"])[1] == "local"
        assert idt["email"] == "alice@example.com" and idt["preferred_username"] == "alice"
    if preset == "google":
        assert tokens["access_token"].startswith("ya29.") and idt["email_verified"] is True


def test_opaque_access_tokens_work_at_userinfo_and_introspection(presets_server: Any) -> None:
    service = presets_server.runtime.issuers["authelia"]
    tokens = password_tokens(presets_server, "authelia")
    doc = discovery(presets_server, "authelia")
    info = requests.get(
        doc["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
    )
    assert info.status_code == 200 and info.json()["email"] == "alice@example.com"
    intro = requests.post(
        service.url("/introspect"),
        data={"token": tokens["access_token"]},
        auth=("sts-client", "sts-secret"),
        timeout=10,
    ).json()
    assert intro["active"] is True and intro["sub"] == decode(tokens["id_token"])[1]["sub"]
    unknown = requests.post(
        service.url("/introspect"), data={"token": "authelia_at_nope"}, auth=("sts-client", "sts-secret"), timeout=10
    ).json()
    assert unknown == {"active": False}


def test_preset_token_meets_a_trust_policy_written_for_that_idp(presets_server: Any) -> None:
    helper = StsmockHelper(presets_server)
    service = presets_server.runtime.issuers["gha"]
    role = "arn:aws:iam::000000000000:role/gha-deploy"
    creds = helper.assume(role, service.mint({"aud": "sts.amazonaws.com"}))
    assert helper.whoami(creds)["Arn"].endswith("assumed-role/gha-deploy/test-session")
    pr = service.mint({"aud": "sts.amazonaws.com", "sub": "repo:octo-org/octo-repo:pull_request"})
    with pytest.raises(ClientError) as excinfo:
        helper.assume(role, pr)
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"


def test_every_preset_value_can_be_overridden(tmp_path: Path, _stsmock_loop: Any) -> None:
    config = parse_config(
        {
            "issuers": [
                {
                    "name": "corp",
                    "preset": "keycloak",
                    "preset_params": {"realm": "acme", "acr": "0"},
                    "access_token_ttl": 900,
                    "endpoints": {"jwks": "/certs"},
                    "kid_format": "thumbprint",
                    "jwks_x5c": False,
                }
            ]
        }
    )
    settings = config.issuers[0]
    assert settings.endpoints["token"] == "/protocol/openid-connect/token"  # merged, not replaced
    server = start_server(config, tmp_path / "d", _stsmock_loop)
    try:
        iss = server.url + "/realms/acme"
        doc = requests.get(iss + "/.well-known/openid-configuration", timeout=10).json()
        assert doc["issuer"] == iss and doc["jwks_uri"] == iss + "/certs"
        key = requests.get(doc["jwks_uri"], timeout=10).json()["keys"][0]
        assert "x5c" not in key
        head, claims = decode(server.runtime.issuers["corp"].mint({"sub": "bob"}))
        assert claims["exp"] - claims["iat"] == 900 and claims["acr"] == "0"
        assert "default-roles-acme" in claims["realm_access"]["roles"] and claims["sub"] == "bob"
    finally:
        server.stop()


def test_unknown_preset_and_clashing_paths_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"issuers\[0\]: unknown preset 'okta'"):
        parse_config({"issuers": [{"name": "x", "preset": "okta"}]})
    with pytest.raises(ConfigError, match="used by another issuer"):
        parse_config({"issuers": [{"name": "a", "issuer_path": "/same"}, {"name": "b", "issuer_path": "/same"}]})
    with pytest.raises(ConfigError, match="unknown endpoint"):
        parse_config({"issuers": [{"name": "a", "endpoints": {"keys": "/k"}}]})


def test_stsmock_token_cli_mints_in_the_preset_shape(tmp_path: Path) -> None:
    """``stsmock token --issuer NAME`` against a real ``stsmock serve`` with preset issuers."""
    import subprocess
    import sys

    import yaml
    from serve_process import ServeProcess  # tests/app is on sys.path (pytest rootdir import mode)

    config = tmp_path / "presets.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "issuers": [
                    {"name": "default"},
                    {"name": "eks", "preset": "kubernetes", "preset_params": {"namespace": "payments"}},
                    {"name": "ci", "preset": "github-actions"},
                ]
            }
        )
    )
    server = ServeProcess(tmp_path / "data", "--config", str(config))
    try:

        def mint(*args: str) -> tuple[dict[str, Any], dict[str, Any]]:
            out = subprocess.run(
                [sys.executable, "-m", "cli.main", "token", "--data-dir", str(tmp_path / "data"), *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            return decode(out.stdout.strip())

        head, claims = mint(
            "--issuer", "eks", "--aud", "sts.amazonaws.com", "--sub", "system:serviceaccount:payments:up"
        )
        assert claims["iss"] == server.url + "/issuers/eks" and claims["aud"] == ["sts.amazonaws.com"]
        assert claims["kubernetes.io"]["namespace"] == "payments"
        assert claims["kubernetes.io"]["serviceaccount"]["name"] == "up"
        assert re.fullmatch(B64URL43, head["kid"])
        head, claims = mint("--issuer", "ci", "--aud", "sts.amazonaws.com", "--claim", "environment=prod")
        assert claims["sub"] == "repo:octo-org/octo-repo:ref:refs/heads/main" and claims["environment"] == "prod"
        assert claims["exp"] - claims["iat"] == 300 and "x5t" in head
    finally:
        server.stop()
