"""Keycloak (Quarkus distribution, 26.x): realm layout, ``aud: account``, realm and client roles.

Shapes from the fact sheet §1 and from a real Keycloak 26.4.7 (tests/interop/test_real_keycloak.py
compares a preset token with a real one claim by claim): access and ID tokens carry header
``typ: JWT``; access tokens ``typ: Bearer``, ID tokens ``typ: ID``; no ``nbf``; ``jti`` of an
access token is prefixed by its grant (``onrtro:`` password, ``trrtcc:`` client credentials).
"""

from __future__ import annotations

from typing import Any

from issuer.presets.base import Preset, RelyingPartyFacts, ShapeContext, drop, put_default, stable_uuid

#: Keycloak 26 ``jti`` prefixes by grant (online/transient session + grant shortcut), seen on the wire.
_JTI_PREFIX = {
    "password": "onrtro",
    "client_credentials": "trrtcc",
    "authorization_code": "onrtac",
    "refresh_token": "onrtrt",
}


class Keycloak(Preset):
    def _realm(self, ctx: ShapeContext) -> str:
        return str(ctx.params.get("realm") or "demo")

    def subject(self, username: str, ctx: ShapeContext) -> str:
        return stable_uuid("keycloak", self._realm(ctx), username)

    def _common(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        drop(claims, "nbf")
        put_default(
            claims, "sid", stable_uuid("keycloak-session", self._realm(ctx), str(claims.get("sub")), str(ctx.now))
        )
        put_default(claims, "acr", str(ctx.params.get("acr", "1")))
        username = ctx.username or (str(claims["sub"]) if ctx.kind == "minted" and "sub" in claims else None)
        put_default(claims, "preferred_username", username)
        put_default(claims, "email_verified", False)
        return claims

    def access_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        service_account = ctx.grant_type == "client_credentials"
        if not service_account:
            drop(claims, "client_id")
        else:
            claims["sub"] = stable_uuid("keycloak", self._realm(ctx), "service-account", str(ctx.client_id))
            put_default(claims, "preferred_username", f"service-account-{ctx.client_id}")
            put_default(claims, "clientHost", "127.0.0.1")
            put_default(claims, "clientAddress", "127.0.0.1")
        jti = str(claims.get("jti") or stable_uuid("jti", str(ctx.now)))
        prefix = _JTI_PREFIX.get(ctx.grant_type or "")
        if prefix and ":" not in jti:
            claims["jti"] = f"{prefix}:{stable_uuid('keycloak-jti', jti)}"
        claims["typ"] = "Bearer"
        if ctx.grant_type in ("password", "client_credentials"):
            drop(claims, "auth_time")  # no interactive login behind these grants
        # The default role default-roles-{realm} holds the account client's roles, so the audience
        # resolver adds "account"; a client audience appears only with an audience mapper.
        if "aud" in claims:
            auds = [claims["aud"]] if isinstance(claims["aud"], str) else list(claims["aud"])
            auds = [a for a in auds if a != ctx.client_id]
            auds.append("account")
            claims["aud"] = auds[0] if len(auds) == 1 else auds
        realm_roles = list(ctx.params.get("realm_roles") or [])
        put_default(claims, "realm_access", {"roles": [*realm_roles, f"default-roles-{self._realm(ctx)}"]})
        put_default(claims, "resource_access", {"account": {"roles": list(ctx.params.get("account_roles") or [])}})
        put_default(claims, "scope", " ".join(ctx.scope) if ctx.scope else "profile email")
        return self._common(claims, ctx)

    def id_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        drop(claims, "client_id", "scope", "realm_access", "resource_access")
        if ctx.grant_type in ("password", "client_credentials"):
            drop(claims, "auth_time")
        claims["jti"] = stable_uuid("keycloak-id-jti", str(claims.get("jti")))
        claims["typ"] = "ID"
        return self._common(claims, ctx)

    def discovery(self, doc: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        base = ctx.issuer_url + "/protocol/openid-connect"
        doc["check_session_iframe"] = base + "/login-status-iframe.html"
        doc["registration_endpoint"] = ctx.issuer_url + "/clients-registrations/openid-connect"
        doc["claims_supported"] = sorted(
            {*doc.get("claims_supported", []), "acr", "name", "given_name", "family_name", "preferred_username"}
        )
        doc["response_modes_supported"] = ["query", "fragment", "form_post"]
        return doc


PRESET = Keycloak(
    name="keycloak",
    title="Keycloak (Quarkus, 26.x)",
    source="identity-providers.md §1; real Keycloak 26.4.7",
    settings={
        "signing_alg": "RS256",
        "algorithms": ["RS256"],
        "access_token_ttl": 300,
        "id_token_ttl": 300,
        "refresh_token_ttl": 1800,
        "issuer_path": "/realms/{realm}",
        "endpoints": {
            "jwks": "/protocol/openid-connect/certs",
            "token": "/protocol/openid-connect/token",
            "authorize": "/protocol/openid-connect/auth",
            "userinfo": "/protocol/openid-connect/userinfo",
            "introspect": "/protocol/openid-connect/token/introspect",
            "revoke": "/protocol/openid-connect/revoke",
            "logout": "/protocol/openid-connect/logout",
            "device_authorization": "/protocol/openid-connect/auth/device",
            "device": "/device",
        },
        "kid_format": "spki-sha256",
        "jwks_x5c": True,
        "access_token_typ": "JWT",
        "id_token_typ": "JWT",
    },
    params={
        "realm": None,  # None: the issuer's name
        "acr": "1",
        "realm_roles": ["offline_access", "uma_authorization"],
        "account_roles": ["manage-account", "manage-account-links", "view-profile"],
    },
    facts=RelyingPartyFacts(
        jwks_x5c=True,
        jwks_several_keys=True,  # an RS256 "sig" key and an RSA-OAEP "enc" key
        access_token_jwt=True,
        access_token_aud="account",
        policy_claim_setting=(
            "user attribute 'policy' plus a client 'User Attribute' mapper (token claim 'policy', type String)"
        ),
        public_https=False,
        signing_key_first=True,
        notes=(
            "an access token's aud is 'account' (the default roles), its azp is the client; "
            "add an Audience mapper for the STS client or use the ID token (aud = client id)",
        ),
    ),
)
