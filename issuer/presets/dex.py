"""Dex: protobuf-in-base64 ``sub``, ``/keys``, RS256 only, 40-hex kids, 24 h tokens (fact sheet §3).

Dex builds access tokens with the same function as ID tokens, so both shapes are the same. Its
``sub`` is base64url (no padding) of a protobuf message ``{1: user id, 2: connector id}``; go-jose
writes no ``typ`` header.
"""

from __future__ import annotations

from typing import Any

from issuer.presets.base import OneShapePreset, RelyingPartyFacts, ShapeContext, b64url, drop, put_default, stable_uuid


def _field(number: int, value: str) -> bytes:
    data = value.encode()
    if len(data) > 127:
        raise ValueError("Dex subject parts longer than 127 bytes are not supported")
    return bytes([number << 3 | 2, len(data)]) + data


def dex_subject(user_id: str, connector_id: str) -> str:
    """Dex's ``sub``: base64url of protobuf ``{1: user_id, 2: connector_id}`` (``Cgc4OTEyNTU3EgZnaXRodWI``)."""
    return b64url(_field(1, user_id) + _field(2, connector_id))


def decode_dex_subject(sub: str) -> tuple[str, str]:
    """(user id, connector id) of a Dex ``sub``; ValueError if it is not one."""
    import base64

    raw = base64.urlsafe_b64decode(sub + "=" * (-len(sub) % 4))
    parts: dict[int, str] = {}
    i = 0
    while i < len(raw):
        tag, length = raw[i], raw[i + 1]
        parts[tag >> 3] = raw[i + 2 : i + 2 + length].decode()
        i += 2 + length
    if set(parts) != {1, 2}:
        raise ValueError("not a Dex subject")
    return parts[1], parts[2]


class Dex(OneShapePreset):
    def subject(self, username: str, ctx: ShapeContext) -> str:
        user_id = stable_uuid("dex-user", username)
        return dex_subject(user_id, str(ctx.params.get("connector_id", "local")))

    def shape(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        drop(claims, "nbf", "client_id", "scope", "jti")
        if ctx.kind != "minted" and isinstance(claims.get("aud"), str) and claims.get("aud") == claims.get("azp"):
            drop(claims, "azp")  # Dex sets azp only for cross-client audiences
        scope = set(ctx.scope)
        if ctx.username and ("email" in scope or ctx.kind == "minted"):
            put_default(claims, "email", f"{ctx.username}@example.com")
            put_default(claims, "email_verified", True)
        if ctx.username and "profile" in scope:
            put_default(claims, "name", ctx.username)
            put_default(claims, "preferred_username", ctx.username)
        return claims

    def discovery(self, doc: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        keep = (
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "device_authorization_endpoint",
            "introspection_endpoint",
            "grant_types_supported",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
            "code_challenge_methods_supported",
            "scopes_supported",
            "token_endpoint_auth_methods_supported",
            "claims_supported",
        )
        out = {k: doc[k] for k in keep if k in doc}
        out["id_token_signing_alg_values_supported"] = ["RS256"]
        out["scopes_supported"] = ["openid", "email", "groups", "profile", "offline_access"]
        out["claims_supported"] = [
            "iss", "sub", "aud", "iat", "exp", "email", "email_verified", "locale", "name",
            "preferred_username", "at_hash",
        ]  # fmt: skip
        return out


PRESET = Dex(
    name="dex",
    title="Dex (static passwords / any connector)",
    source="identity-providers.md §3; real Dex where it builds",
    settings={
        "signing_alg": "RS256",
        "algorithms": ["RS256"],
        "access_token_ttl": 86_400,
        "id_token_ttl": 86_400,
        "issuer_path": "/issuers/{name}/dex",
        "endpoints": {
            "jwks": "/keys",
            "authorize": "/auth",
            "token": "/token",
            "userinfo": "/userinfo",
            "device_authorization": "/device/code",
            "device": "/device",
            "introspect": "/token/introspect",
        },
        "kid_format": "hex40",
        "jwks_x5c": False,
        "access_token_typ": None,
        "id_token_typ": None,
    },
    params={"connector_id": "local"},
    facts=RelyingPartyFacts(
        jwks_x5c=False,
        jwks_several_keys=True,  # keys rotate every 6 h; old ones stay published as verification keys
        access_token_jwt=True,
        public_https=False,
        rotates_keys=True,
        policy_claim_setting="no custom claims: Dex emits only groups/email/profile; use MinIO role-policy mode",
        notes=("sub is base64url protobuf {user id, connector id}: match on it, or on email with a condition",),
    ),
)
