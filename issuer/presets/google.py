"""Google Sign-In ID tokens (fact sheet §8): numeric ``sub``, ``azp``, 40-hex kids, two keys in the JWKS.

Google access tokens are opaque (``ya29.…``); workloads present the ID token. JWKS at
``/oauth2/v3/certs`` (on www.googleapis.com in reality), no ``x5c``.
"""

from __future__ import annotations

from typing import Any

from issuer.presets.base import Preset, RelyingPartyFacts, ShapeContext, drop, put_default, stable_digits


class Google(Preset):
    def subject(self, username: str, ctx: ShapeContext) -> str:
        return stable_digits(21, "google", username)

    def id_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        drop(claims, "nbf", "jti", "client_id", "scope", "auth_time")
        user = ctx.username or str(claims.get("sub", "user"))
        put_default(claims, "email", f"{user}@{ctx.params.get('hd') or 'gmail.com'}")
        put_default(claims, "email_verified", True)
        if ctx.params.get("hd"):
            put_default(claims, "hd", ctx.params["hd"])
        if ctx.kind != "minted" and "profile" in ctx.scope:
            put_default(claims, "name", user)
        return claims

    def access_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return self.id_claims(claims, ctx)

    def minted_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return self.id_claims(claims, ctx)


PRESET = Google(
    name="google",
    title="Google (accounts.google.com ID tokens)",
    source="identity-providers.md §8",
    settings={
        "signing_alg": "RS256",
        "algorithms": ["RS256"],
        "access_token_ttl": 3600,
        "id_token_ttl": 3600,
        "endpoints": {
            "jwks": "/oauth2/v3/certs",
            "authorize": "/o/oauth2/v2/auth",
            "token": "/token",
            "userinfo": "/v1/userinfo",
            "revoke": "/revoke",
            "device_authorization": "/device/code",
        },
        "kid_format": "hex40",
        "jwks_x5c": False,
        "access_token_format": "opaque",
        "opaque_token_prefix": "ya29.",
        "id_token_typ": "JWT",
    },
    params={"hd": None},
    facts=RelyingPartyFacts(
        jwks_x5c=False,
        jwks_several_keys=True,
        access_token_jwt=False,
        public_https=True,
        rotates_keys=True,
        policy_claim_setting="no custom claims in Google ID tokens: use MinIO role-policy mode",
        aws_extra_condition_keys=("oaud", "email"),
        notes=(
            "AWS's built-in provider: Principal {Federated: accounts.google.com}; accounts.google.com:aud "
            "is azp when present, :oaud the original aud",
        ),
    ),
)
