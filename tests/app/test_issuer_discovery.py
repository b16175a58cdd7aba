"""Discovery, JWKS and multi-issuer routing."""

from __future__ import annotations

import base64
import json

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwk

from issuer.service import IssuerService


def _https(doc: dict) -> dict:
    """Authlib insists on https; the mock serves plain http on 127.0.0.1, so swap the scheme only."""
    return json.loads(json.dumps(doc).replace("http://", "https://"))


async def test_discovery_validates_with_authlib(issuer_env, tmp_path):
    resp = await issuer_env.client.get("/.well-known/openid-configuration")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["issuer"] == issuer_env.base_url
    OpenIDProviderMetadata(_https(doc)).validate()
    AuthorizationServerMetadata(_https(doc)).validate()
    # the same code with a real https issuer URL validates untouched
    svc = IssuerService(
        issuer_env.svc.settings,
        issuer_url="https://idp.example",
        data_dir=tmp_path / "x",
        clock=issuer_env.clock,
        store=issuer_env.store,
        audit=issuer_env.audit,
        revocations=issuer_env.revocations,
    )
    OpenIDProviderMetadata(svc.discovery()).validate()
    AuthorizationServerMetadata(svc.discovery()).validate()


async def test_rfc8414_paths_and_second_issuer(issuer_env):
    base = issuer_env.base_url
    for path, iss in [
        ("/.well-known/oauth-authorization-server", base),
        ("/.well-known/oauth-authorization-server/issuers/b", f"{base}/issuers/b"),
        ("/issuers/b/.well-known/oauth-authorization-server", f"{base}/issuers/b"),
        ("/issuers/b/.well-known/openid-configuration", f"{base}/issuers/b"),
    ]:
        resp = await issuer_env.client.get(path)
        assert resp.status == 200, path
        doc = await resp.json()
        assert doc["issuer"] == iss
        assert doc["jwks_uri"] == iss + "/jwks"
    b = await (await issuer_env.client.get("/issuers/b/.well-known/openid-configuration")).json()
    assert b["id_token_signing_alg_values_supported"][0] == "ES256"
    assert "RS256" in b["id_token_signing_alg_values_supported"]


async def test_every_advertised_endpoint_answers(issuer_env):
    doc = await (await issuer_env.client.get("/.well-known/openid-configuration")).json()
    for field in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
        "device_authorization_endpoint",
    ):
        path = doc[field].removeprefix(issuer_env.base_url)
        resp = (
            await issuer_env.client.get(path)
            if field in ("jwks_uri", "end_session_endpoint", "authorization_endpoint")
            else await issuer_env.client.post(path, data={})
        )
        assert resp.status < 500, field
        assert resp.status != 404, field
    assert doc["response_types_supported"] == ["code"]
    assert doc["response_modes_supported"] == ["query"]
    assert doc["code_challenge_methods_supported"] == ["S256", "plain"]
    assert doc["request_parameter_supported"] is False


async def test_jwks_order_fields_and_x5c(issuer_env):
    jwks = await (await issuer_env.client.get("/jwks")).json()
    keys = jwks["keys"]
    svc = issuer_env.svc
    assert keys[0]["alg"] == svc.settings.signing_alg == "RS256"
    assert keys[0]["kid"] == svc.keys.signing_key("RS256")[0]
    assert {k["alg"] for k in keys} == {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
    assert len({k["kid"] for k in keys}) == len(keys)
    for key in keys:
        assert key["use"] == "sig" and key["kid"] and key["alg"]
        assert "d" not in key and "p" not in key
        cert = x509.load_der_x509_certificate(base64.b64decode(key["x5c"][0]))
        cert_spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        jwk_key = jwk.import_key({k: v for k, v in key.items() if k not in ("x5c", "x5t#S256")})
        jwk_spki = jwk_key.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert cert_spki == jwk_spki
        der = base64.b64decode(key["x5c"][0])
        import hashlib

        assert key["x5t#S256"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    b = await (await issuer_env.client.get("/issuers/b/jwks")).json()
    assert b["keys"][0]["alg"] == "ES256"
    assert not {k["kid"] for k in b["keys"]} & {k["kid"] for k in keys}
