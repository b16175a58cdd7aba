"""Authelia: opaque access tokens, minimal JWT ID tokens, ``/jwks.json`` (fact sheet §2).

Access tokens are opaque (``authelia_at_`` + random) unless a client sets
``access_token_signed_response_alg``; the ID token carries only iss, jti, sub (a per-user UUID),
aud (the client id, as an array: fosite's claim encoder), exp, iat, auth_time, amr, azp, nonce.
Profile, email and groups claims come from UserInfo unless a ``claims_policy`` lists them
(``preset_params.id_token_claims`` here).
"""

from __future__ import annotations

from typing import Any

from issuer.presets.base import Preset, RelyingPartyFacts, ShapeContext, drop, put_default, stable_uuid

_ID_TOKEN_CLAIMS = frozenset({"iss", "jti", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp"})


class Authelia(Preset):
    def subject(self, username: str, ctx: ShapeContext) -> str:
        return stable_uuid("authelia-opaque-id", username)

    def id_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        allowed = _ID_TOKEN_CLAIMS | set(ctx.params.get("id_token_claims") or [])
        out = {k: v for k, v in claims.items() if k in allowed}
        put_default(out, "auth_time", ctx.now)
        put_default(out, "amr", list(ctx.params.get("amr") or ["pwd"]))
        if isinstance(out.get("aud"), str):
            out["aud"] = [out["aud"]]
        return out

    def access_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        # Only used with access_token_format: jwt (RFC 9068 access tokens, a per-client option).
        drop(claims, "nbf")
        return claims

    def minted_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        """Authelia's only JWT a workload can present is the ID token, so mint that shape."""
        return self.id_claims(claims, ctx)

    def discovery(self, doc: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        doc["pushed_authorization_request_endpoint"] = ctx.issuer_url + "/api/oidc/pushed-authorization-request"
        doc["claims_supported"] = sorted({*doc.get("claims_supported", []), "amr", "groups", "email_verified"})
        return doc


PRESET = Authelia(
    name="authelia",
    title="Authelia (OpenID Connect 1.0 provider)",
    source="identity-providers.md §2",
    settings={
        "signing_alg": "RS256",
        "algorithms": ["RS256"],
        "access_token_ttl": 3600,
        "id_token_ttl": 3600,
        "refresh_token_ttl": 5400,
        "authorization_code_ttl": 60,
        "endpoints": {
            "jwks": "/jwks.json",
            "authorize": "/api/oidc/authorization",
            "token": "/api/oidc/token",
            "userinfo": "/api/oidc/userinfo",
            "introspect": "/api/oidc/introspection",
            "revoke": "/api/oidc/revocation",
            "device_authorization": "/api/oidc/device-authorization",
            "logout": "/logout",
            "device": "/device",
        },
        "kid_format": "authelia",
        "jwks_x5c": False,
        "access_token_format": "opaque",
        "opaque_token_prefix": "authelia_at_",
        "id_token_typ": "JWT",
    },
    params={"amr": ["pwd"], "id_token_claims": []},
    facts=RelyingPartyFacts(
        jwks_x5c=False,
        jwks_several_keys=False,
        access_token_jwt=False,
        aud_always_list=True,  # the ID token's aud is an array (fosite)
        public_https=False,
        x5c_setting="a certificate_chain for the signing key (identity_providers.oidc.jwks[].certificate_chain)",
        policy_claim_setting=(
            "a claims_policy with custom_claims 'policy' listed under id_token (Authelia 4.39+), "
            "or MinIO role-policy mode"
        ),
        notes=("access tokens are opaque: present the ID token (aud = the client id, as an array)",),
    ),
)
