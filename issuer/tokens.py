"""Token issuance and the grant state behind it (refresh families, used codes).

Every grant ends in :meth:`TokenFactory.issue`, so claims, audiences, refresh
rotation, audit records and revocation bookkeeping are decided in one place.
Refresh tokens are opaque random strings; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from issuer import jwt, presets
from issuer.claims import audience_value, client_audience, extra_claims
from issuer.errors import invalid_scope
from issuer.keys import KeyManager
from issuer.ports import AuditSink, Clock, Revocations, StateStore
from issuer.settings import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    ClientSettings,
    IssuerSettings,
)

TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
TOKEN_TYPE_ID = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
#: Form fields never copied into stored state (secrets and one-time values).
_SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "password",
        "code",
        "code_verifier",
        "refresh_token",
        "subject_token",
        "actor_token",
        "device_code",
        "client_assertion",
    }
)


def at_hash(access_token: str, alg: str) -> str:
    """OIDC ``at_hash``: base64url of the left half of the access token's hash (SHA-2 size of ``alg``)."""
    import base64

    size = {"384": hashlib.sha384, "512": hashlib.sha512}.get(alg[-3:], hashlib.sha256)
    half = size(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(half[: len(half) // 2]).rstrip(b"=").decode()


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_id(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def parse_scope(client: ClientSettings, requested: str | None, default: list[str] | None = None) -> list[str]:
    """Space-delimited scope (RFC 6749 §3.3); each one must be allowed for the client.

    No ``scope`` parameter means ``default`` (usually empty) rather than all the client's scopes.
    """
    if requested is None:
        return list(default or [])
    scopes = list(dict.fromkeys(s for s in requested.split(" ") if s))
    bad = [s for s in scopes if s not in client.scopes]
    if bad:
        raise invalid_scope(f"scope not allowed for this client: {bad[0][:64]}")
    return scopes


def safe_form(form: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in form.items() if k not in _SECRET_FIELDS}


@dataclass
class Subject:
    """Who the token is about: a configured user, an ad-hoc subject, or the client itself."""

    sub: str
    username: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    auth_time: int | None = None

    def view(self) -> dict[str, Any]:
        """What ``{user.X}`` templates see."""
        return {**self.claims, "sub": self.sub, "username": self.username or self.sub}

    def to_dict(self) -> dict[str, Any]:
        return {"sub": self.sub, "username": self.username, "claims": self.claims, "auth_time": self.auth_time}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subject:
        return cls(
            sub=data["sub"],
            username=data.get("username"),
            claims=dict(data.get("claims") or {}),
            auth_time=data.get("auth_time"),
        )


@dataclass
class Issue:
    """What a grant decided; :meth:`TokenFactory.issue` turns it into a token response."""

    client: ClientSettings
    grant_type: str
    scope: list[str]
    subject: Subject
    form: dict[str, str]
    user_grant: bool = True
    nonce: str | None = None
    audience: list[str] | None = None
    family: str | None = None
    refresh: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    issued_token_type: str | None = None


class TokenIssuer(Protocol):
    """The parts of an issuer that token issuance uses (not the whole service: no import cycle)."""

    settings: IssuerSettings
    issuer_url: str
    keys: KeyManager
    clock: Clock
    store: StateStore
    audit: AuditSink
    revocations: Revocations
    preset: presets.Preset

    def shape_context(self, **fields: Any) -> presets.ShapeContext: ...


class TokenFactory:
    def __init__(self, service: TokenIssuer) -> None:
        self.svc = service

    # -- state helpers ---------------------------------------------------------------
    def kind(self, name: str) -> str:
        """Store namespace per issuer so several issuers can share one StateStore."""
        return f"issuer/{self.svc.settings.name}/{name}"

    def wants_refresh(self, client: ClientSettings, grant_type: str, scope: list[str]) -> bool:
        """Rule: refresh tokens only for clients allowed the refresh_token grant, never for
        client_credentials; always for user grants (authorization_code, password, device_code,
        refresh_token), otherwise only when ``offline_access`` was granted."""
        if GRANT_REFRESH_TOKEN not in client.grant_types or grant_type == GRANT_CLIENT_CREDENTIALS:
            return False
        return (
            grant_type in (GRANT_AUTHORIZATION_CODE, GRANT_PASSWORD, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN)
            or "offline_access" in scope
        )

    # -- issuance ------------------------------------------------------------------------
    def issue(self, it: Issue) -> tuple[dict[str, Any], dict[str, Any]]:
        """Sign the tokens; returns (token response, bookkeeping {jti, family})."""
        svc, settings = self.svc, self.svc.settings
        client = it.client
        now = int(svc.clock.now())
        alg = client.signing_alg or settings.signing_alg
        ttl = client.access_token_ttl or settings.access_token_ttl
        extras = extra_claims(client=client, user_claims=it.subject.claims, form=it.form, user_view=it.subject.view())
        audiences = it.audience or client_audience(client)
        jti = new_id(16)
        access: dict[str, Any] = {
            **extras,
            "iss": svc.issuer_url,
            "sub": it.subject.sub,
            "aud": audience_value(audiences, as_list=settings.audience_as_list),
            "azp": client.client_id,
            "client_id": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": jti,
            **it.extra,
        }
        if it.scope:
            access["scope"] = " ".join(it.scope)
        if it.user_grant and it.subject.auth_time is not None:
            access["auth_time"] = it.subject.auth_time
        typ = "JWT" if it.issued_token_type == TOKEN_TYPE_JWT else settings.access_token_typ
        if svc.preset is not presets.STSMOCK:
            access = self._shaped(access, it, "access")
            jti = str(access.get("jti") or jti)
        response: dict[str, Any] = {
            "access_token": self._access_token(access, alg=alg, typ=typ, ttl=ttl),
            "token_type": "N_A" if it.issued_token_type == TOKEN_TYPE_JWT else "Bearer",
            "expires_in": ttl,
        }
        if it.scope:
            response["scope"] = " ".join(it.scope)
        if it.issued_token_type:
            response["issued_token_type"] = it.issued_token_type
        if "openid" in it.scope and it.user_grant:
            response["id_token"] = self._id_token(it, extras, now, alg, access_token=response["access_token"])
        family = None
        if it.refresh:
            family = it.family or new_id(16)
            response["refresh_token"] = self._refresh_token(it, family, jti, now)
        svc.audit.record(
            "token.issued",
            issuer=settings.name,
            grant=it.grant_type,
            client_id=client.client_id,
            sub=it.subject.sub,
            jti=jti,
            aud=access["aud"],
            alg=alg,
        )
        return response, {"jti": jti, "family": family, "exp": access["exp"]}

    def _id_token(self, it: Issue, extras: dict[str, Any], now: int, alg: str, *, access_token: str = "") -> str:
        svc = self.svc
        claims: dict[str, Any] = {
            **extras,
            "iss": svc.issuer_url,
            "sub": it.subject.sub,
            "aud": audience_value([it.client.client_id], as_list=svc.settings.audience_as_list),
            "azp": it.client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + svc.settings.id_token_ttl,
            "jti": new_id(16),
        }
        if it.subject.auth_time is not None:
            claims["auth_time"] = it.subject.auth_time
        if it.nonce:
            claims["nonce"] = it.nonce
        if svc.preset is not presets.STSMOCK:
            if access_token:  # real IdPs bind the pair (OIDC Core 3.1.3.6)
                claims["at_hash"] = at_hash(access_token, alg)
            claims = self._shaped(claims, it, "id")
        return jwt.sign(svc.keys, claims, alg=alg, typ=svc.settings.id_token_typ)

    def _shaped(self, claims: dict[str, Any], it: Issue, kind: str) -> dict[str, Any]:
        """The preset's shape; a configured user without an explicit ``subject`` gets the IdP's ``sub``."""
        svc = self.svc
        ctx = self._shape_context(it, kind)
        user = svc.settings.user(it.subject.username) if it.subject.username else None
        if user is not None and user.subject is None and claims.get("sub") == user.username:
            claims["sub"] = svc.preset.subject(user.username, ctx)
        return svc.preset.id_claims(claims, ctx) if kind == "id" else svc.preset.access_claims(claims, ctx)

    def _shape_context(self, it: Issue, kind: str) -> presets.ShapeContext:
        return self.svc.shape_context(
            client_id=it.client.client_id,
            grant_type=it.grant_type,
            username=it.subject.username,
            scope=tuple(it.scope),
            kind=kind,
        )

    def _access_token(self, claims: dict[str, Any], *, alg: str, typ: str | None, ttl: int) -> str:
        """A signed JWT, or for ``access_token_format: opaque`` a random string whose claims stay here."""
        settings = self.svc.settings
        if settings.access_token_format != "opaque":
            return jwt.sign(self.svc.keys, claims, alg=alg, typ=typ)
        token = settings.opaque_token_prefix + new_id(32)
        self.svc.store.put(self.kind("opaque"), digest(token), claims, expires_at=claims.get("exp"))
        return token

    def opaque_claims(self, token: str) -> dict[str, Any] | None:
        """Claims behind an opaque access token of this issuer (None if unknown or expired)."""
        if self.svc.settings.access_token_format != "opaque" or token.count(".") == 2:
            return None
        record = self.svc.store.get(self.kind("opaque"), digest(token))
        return dict(record) if record else None

    def _refresh_token(self, it: Issue, family: str, jti: str, now: int) -> str:
        svc = self.svc
        token = new_id(32)
        expires = now + svc.settings.refresh_token_ttl
        svc.store.put(
            self.kind("refresh"),
            digest(token),
            {
                "family": family,
                "client_id": it.client.client_id,
                "scope": it.scope,
                "subject": it.subject.to_dict(),
                "form": safe_form(it.form),
                "audience": it.audience,
                "nonce": None,
                "used": False,
                "iat": now,
                "exp": expires,
            },
            expires_at=expires,
        )
        fam = svc.store.get(self.kind("family"), family) or {
            "client_id": it.client.client_id,
            "sub": it.subject.sub,
            "revoked": False,
            "jtis": [],
            "created_at": now,
        }
        fam["jtis"] = [*fam["jtis"], jti][-200:]
        fam["expires"] = expires + svc.settings.access_token_ttl
        svc.store.put(self.kind("family"), family, fam, expires_at=fam["expires"])
        return token

    # -- revocation bookkeeping -------------------------------------------------------------
    def revoke_jti(self, jti: str, exp: float | None, *, reason: str, source: str = "oauth-revoke") -> None:
        """Own record (for introspection) plus the shared registry (so the STS sees it)."""
        now = self.svc.clock.now()
        expires = max(exp or 0, now + self.svc.settings.access_token_ttl)
        self.svc.store.put(self.kind("revoked"), jti, {"reason": reason, "at": now}, expires_at=expires)
        self.svc.revocations.revoke("jti", jti, reason=reason, source=source)

    def revoke_family(self, family: str, *, reason: str, source: str = "oauth-revoke") -> None:
        """Kill every refresh token of the family and every access token issued from it."""
        svc = self.svc
        fam = svc.store.get(self.kind("family"), family)
        if fam is None:
            fam = {"client_id": None, "sub": None, "jtis": [], "expires": svc.clock.now() + 86_400}
        fam["revoked"] = True
        svc.store.put(self.kind("family"), family, fam, expires_at=fam.get("expires"))
        for jti in fam.get("jtis", []):
            self.revoke_jti(jti, None, reason=reason, source=source)
        for key, record in svc.store.items(self.kind("refresh")):
            if record.get("family") == family:
                svc.store.delete(self.kind("refresh"), key)
        svc.audit.record(
            "token.family_revoked",
            issuer=svc.settings.name,
            family=family,
            client_id=fam.get("client_id"),
            sub=fam.get("sub"),
            reason=reason,
        )

    def family_revoked(self, family: str | None) -> bool:
        if not family:
            return False
        fam = self.svc.store.get(self.kind("family"), family)
        return bool(fam and fam.get("revoked"))
