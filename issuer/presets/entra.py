"""Microsoft Entra ID v2.0 tokens (fact sheet §7): ``/{tenant}/v2.0`` issuer, certificate-thumbprint kids.

``iss`` is ``…/{tid}/v2.0`` while the keys live at ``…/{tid}/discovery/v2.0/keys`` (outside the
issuer path, as on login.microsoftonline.com). Claims: ``aud`` the API's client id, ``tid``,
``oid``, a pairwise ``sub``, ``azp``/``azpacr``, ``scp`` (delegated) or ``roles`` (app), ``uti``,
``ver: "2.0"``. Lifetime is 60-90 minutes in reality; 75 here (the average).
"""

from __future__ import annotations

from typing import Any

from issuer.presets.base import OneShapePreset, RelyingPartyFacts, ShapeContext, b64url, drop, put_default, stable_uuid


class Entra(OneShapePreset):
    def _tenant(self, ctx: ShapeContext) -> str:
        return str(ctx.params.get("tenant") or stable_uuid("entra-tenant", str(ctx.params.get("name"))))

    def subject(self, username: str, ctx: ShapeContext) -> str:
        """Pairwise per application: the same user has another ``sub`` in another app."""
        return b64url(stable_uuid("entra-sub", username, str(ctx.client_id)).encode())[:43]

    def shape(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        scope = claims.pop("scope", None)
        drop(claims, "client_id", "jti")
        app_only = ctx.grant_type == "client_credentials"
        user = ctx.username or str(claims.get("sub", "user"))
        put_default(claims, "tid", self._tenant(ctx))
        put_default(claims, "oid", stable_uuid("entra-oid", user if not app_only else f"app:{ctx.client_id}"))
        put_default(claims, "azp", ctx.client_id)
        put_default(claims, "azpacr", "1")
        put_default(claims, "uti", b64url(stable_uuid("uti", str(ctx.now), user).encode())[:22])
        put_default(claims, "rh", "0.AAAA" + b64url(user.encode())[:20] + "AAA.")
        put_default(claims, "aio", b64url(stable_uuid("aio", user).encode())[:40])
        put_default(claims, "ver", "2.0")
        if app_only:
            put_default(claims, "roles", list(ctx.params.get("app_roles") or []))
            claims["sub"] = claims["oid"]
        else:
            if scope and ctx.kind == "access":
                put_default(claims, "scp", scope)
            put_default(claims, "name", user)
            put_default(claims, "preferred_username", f"{user}@{ctx.params.get('domain', 'contoso.onmicrosoft.com')}")
        return claims

    def id_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        claims = self.shape(claims, ctx)
        drop(claims, "azp", "azpacr", "scp", "roles")
        return claims

    def discovery(self, doc: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        doc["tenant_region_scope"] = "EU"
        doc["cloud_instance_name"] = "microsoftonline.com"
        doc["claims_supported"] = sorted({*doc.get("claims_supported", []), "tid", "oid", "ver", "preferred_username"})
        return doc


PRESET = Entra(
    name="entra",
    title="Microsoft Entra ID (v2.0 endpoint)",
    source="identity-providers.md §7",
    settings={
        "signing_alg": "RS256",
        "algorithms": ["RS256"],
        "access_token_ttl": 4500,
        "id_token_ttl": 3600,
        "issuer_path": "/issuers/{name}/{tenant}",
        "issuer_suffix": "/v2.0",
        "endpoints": {
            "jwks": "/discovery/v2.0/keys",
            "authorize": "/oauth2/v2.0/authorize",
            "token": "/oauth2/v2.0/token",
            "userinfo": "/oidc/userinfo",
            "logout": "/oauth2/v2.0/logout",
            "device_authorization": "/oauth2/v2.0/devicecode",
            "device": "/oauth2/deviceauth",
        },
        "kid_format": "x5t",
        "jwks_x5c": True,
        "access_token_typ": "JWT",
        "id_token_typ": "JWT",
    },
    params={"tenant": None, "domain": "contoso.onmicrosoft.com", "app_roles": []},
    facts=RelyingPartyFacts(
        jwks_x5c=True,
        jwks_several_keys=True,
        access_token_jwt=True,
        public_https=True,
        rotates_keys=True,
        policy_claim_setting="an app role or optional claim named 'policy' (Entra app manifest), or role-policy mode",
        notes=("workload identity federation is the reverse direction (Entra trusts aud api://AzureADTokenExchange)",),
    ),
)
