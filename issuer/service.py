"""IssuerService: one OIDC issuer (keys, grants, state) behind a small API.

The composition root builds one per configured issuer and mounts it with
:func:`issuer.endpoints.add_issuer_routes`. Everything time-related uses the
injected clock; all grant state lives in the injected StateStore.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from issuer import jwt, presets
from issuer.claims import PROTOCOL_CLAIMS
from issuer.grants import GrantHandler, default_handlers
from issuer.keys import KeyManager
from issuer.ports import AuditSink, Clock, KeyRepository, Revocations, StateStore
from issuer.settings import ALL_GRANTS, SIGNING_ALGS, IssuerSettings
from issuer.tokens import TokenFactory, digest

#: OIDC Core §15.1: an OP MUST support RS256, so every issuer keeps an RS256 key as well.
MANDATORY_ALG = "RS256"
PROMPT_VALUES = ["none", "login", "consent", "select_account"]


#: Protocol claims our tokens carry, advertised in discovery alongside the configured user claims.
SUPPORTED_PROTOCOL_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "azp", "auth_time", "nonce", "scope", "client_id", "act"}
)


class IssuerService:
    def __init__(
        self,
        settings: IssuerSettings,
        *,
        issuer_url: str,
        data_dir: Path,
        clock: Clock,
        store: StateStore,
        audit: AuditSink,
        revocations: Revocations,
        external_token_verifier: Callable[[str], Awaitable[dict]] | None = None,
        key_repository: KeyRepository | None = None,
    ) -> None:
        self.settings = settings
        self.issuer_url = issuer_url.rstrip("/")
        suffix = settings.issuer_suffix.rstrip("/")
        #: Where the endpoints live: the issuer URL without its suffix (Entra's "/v2.0").
        self.mount_url = (
            self.issuer_url[: -len(suffix)] if suffix and self.issuer_url.endswith(suffix) else self.issuer_url
        )
        self.base_path = urlsplit(self.mount_url).path.rstrip("/")
        self.preset = presets.get(settings.preset)
        self.clock = clock
        self.store = store
        self.audit = audit
        self.revocations = revocations
        self.external_token_verifier = external_token_verifier
        algorithms = list(dict.fromkeys([settings.signing_alg, *settings.algorithms, MANDATORY_ALG]))
        self.keys = KeyManager(
            Path(data_dir) / "keys" / settings.name,
            algorithms=algorithms,
            default_alg=settings.signing_alg,
            clock=clock,
            settings=settings.keys,
            audit=audit,
            common_name=settings.name,
            kid_format=settings.kid_format,
            x5c=settings.jwks_x5c,
            header_x5t=settings.header_x5t,
            repository=key_repository,
        )
        self.keys.ensure()
        self.tokens = TokenFactory(self)
        self.grants: dict[str, GrantHandler] = default_handlers()

    # -- URLs ----------------------------------------------------------------------------
    def _endpoint(self, suffix: str) -> str:
        """An endpoint's path under the mount: stsmock's default name (``/token``) mapped by the layout."""
        for name, default in presets.DEFAULT_ENDPOINTS.items():
            if default == suffix:
                return self.settings.endpoint_path(name)
        return suffix

    def url(self, suffix: str) -> str:
        return self.mount_url + self._endpoint(suffix)

    def path(self, suffix: str) -> str:
        """Path (no host) of an endpoint, for HTML form actions."""
        return self.base_path + self._endpoint(suffix)

    def shape_context(self, **fields: Any) -> presets.ShapeContext:
        """What the preset's claim shapers see (the persona parameters of this issuer)."""
        return presets.ShapeContext(
            issuer_url=self.issuer_url, now=int(self.clock.now()), params=self.settings.resolved_params, **fields
        )

    # -- documents ------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()

    def discovery(self) -> dict[str, Any]:
        s = self.settings
        grants = [g for g in ALL_GRANTS if any(g in c.grant_types for c in s.clients)] or list(ALL_GRANTS)
        scopes = list(dict.fromkeys(["openid", *(sc for c in s.clients for sc in c.scopes)]))
        algs = list(self.keys.algorithms)  # default first
        user_claims = sorted(
            {k for u in s.users for k in u.claims}
            | {k for c in s.clients for k in c.claims}
            | set(self._template_claims())
        )
        auth_methods = ["client_secret_basic", "client_secret_post", "none"]
        doc = {
            "issuer": self.issuer_url,
            "authorization_endpoint": self.url("/authorize"),
            "token_endpoint": self.url("/token"),
            "userinfo_endpoint": self.url("/userinfo"),
            "jwks_uri": self.url("/jwks"),
            "introspection_endpoint": self.url("/introspect"),
            "revocation_endpoint": self.url("/revoke"),
            "end_session_endpoint": self.url("/logout"),
            "device_authorization_endpoint": self.url("/device_authorization"),
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": grants,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "userinfo_signing_alg_values_supported": [],
            "token_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_methods_supported": auth_methods[:2],
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "code_challenge_methods_supported": ["S256", "plain"],
            "claims_supported": sorted(SUPPORTED_PROTOCOL_CLAIMS | set(user_claims)),
            "claim_types_supported": ["normal"],
            "prompt_values_supported": PROMPT_VALUES,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "require_request_uri_registration": False,
            "claims_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": False,
            "frontchannel_logout_supported": False,
        }
        if self.preset is presets.STSMOCK:
            return doc
        return self.preset.discovery(doc, self.shape_context(kind="discovery"))

    def _template_claims(self) -> list[str]:
        return [k for c in self.settings.clients for k in c.claim_templates]

    # -- tokens --------------------------------------------------------------------------
    def mint(
        self,
        claims: dict,
        *,
        alg: str | None = None,
        ttl: int | None = None,
        typ: str | None = "JWT",
        client_id: str | None = None,
    ) -> str:
        """Sign arbitrary claims (admin API). Fills iss/iat/nbf/exp/jti unless given.

        With a preset, the claims are shaped as that IdP's token a workload presents (its access
        token, or its ID token where access tokens are opaque) and the preset's lifetime applies.
        """
        client = self.settings.client(client_id) if client_id else None
        alg = alg or (client.signing_alg if client and client.signing_alg else None) or self.settings.signing_alg
        if alg not in SIGNING_ALGS:
            raise ValueError(f"unsupported algorithm {alg!r}")
        now = int(self.clock.now())
        ttl = (
            ttl
            or (client.access_token_ttl if client and client.access_token_ttl else None)
            or self.settings.access_token_ttl
        )
        body = dict(claims)
        body.setdefault("iss", self.issuer_url)
        body.setdefault("iat", now)
        body.setdefault("nbf", now)
        body.setdefault("exp", int(body["iat"]) + ttl)
        body.setdefault("jti", uuid.uuid4().hex)
        if client_id:
            body.setdefault("client_id", client_id)
            body.setdefault("azp", client_id)
            body.setdefault("aud", client_id)
        if self.preset is not presets.STSMOCK:
            body, typ = self._preset_mint(body, typ, client_id)
        token = jwt.sign(self.keys, body, alg=alg, typ=typ)
        self.audit.record(
            "token.issued",
            issuer=self.settings.name,
            grant="admin-mint",
            client_id=client_id,
            sub=body.get("sub"),
            jti=body.get("jti"),
            aud=body.get("aud"),
            alg=alg,
        )
        return token

    def _preset_mint(self, body: dict[str, Any], typ: str | None, client_id: str | None) -> tuple[dict, str | None]:
        """The persona's shape for a minted token; the header typ follows it unless the caller chose one."""
        id_shape = self.settings.access_token_format == "opaque"
        ctx = self.shape_context(client_id=client_id, kind="minted")
        user = self.preset.default_username(ctx)
        username = str(body["sub"]) if "sub" in body else user
        ctx = self.shape_context(client_id=client_id, username=username, kind="minted")
        if "sub" not in body:
            body["sub"] = self.preset.subject(user, ctx)
        shaped = self.preset.minted_claims(body, ctx)
        if typ == "JWT":
            typ = self.settings.id_token_typ if id_shape else self.settings.access_token_typ
        return shaped, typ

    @staticmethod
    def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return jwt.unverified(token)

    def revoked_reason(self, claims: dict[str, Any]) -> str | None:
        """Why a token of ours is revoked (own record or the shared registry), or None."""
        jti = claims.get("jti")
        if isinstance(jti, str) and self.store.get(self.tokens.kind("revoked"), jti) is not None:
            return "revoked"
        facts = {
            "jti": jti,
            "sub": claims.get("sub"),
            "client_id": claims.get("client_id") or claims.get("azp"),
            "iss": claims.get("iss"),
            "iat": claims.get("iat"),
        }
        record = self.revocations.check({k: v for k, v in facts.items() if v is not None})
        return str(record.get("reason") or "revoked") if record else None

    def verify_access_or_id_token(
        self, token: str, *, check_exp: bool = True, typ: str | None = None, check_revoked: bool = True
    ) -> dict[str, Any]:
        """Claims of a JWT this issuer signed (or of one of its opaque access tokens); ValueError(reason) otherwise."""
        opaque = self.tokens.opaque_claims(token) if isinstance(token, str) else None
        if opaque is not None:
            if check_exp and float(opaque.get("exp", 0)) <= self.clock.now():
                raise ValueError("token expired")
            claims = opaque
        else:
            _, claims = jwt.verify(self.keys, token, now=self.clock.now(), check_exp=check_exp, typ=typ)
        if claims.get("iss") != self.issuer_url:
            raise ValueError("token from another issuer")
        if check_revoked:
            reason = self.revoked_reason(claims)
            if reason:
                raise ValueError(f"token revoked ({reason})")
        return claims

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2: ``{"active": false}`` for anything invalid, expired, revoked or foreign."""
        if not isinstance(token, str) or not token:
            return {"active": False}
        if token.count(".") == 2 or self.tokens.opaque_claims(token) is not None:
            try:
                claims = self.verify_access_or_id_token(token)
            except ValueError:
                return {"active": False}
            out: dict[str, Any] = {"active": True, "token_type": "Bearer"}
            out.update(
                {
                    k: claims[k]
                    for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "auth_time")
                    if k in claims
                }
            )
            if "client_id" not in out and "azp" in claims:
                out["client_id"] = claims["azp"]
            extra = {k: v for k, v in claims.items() if k not in PROTOCOL_CLAIMS and k not in out}
            if "preferred_username" in extra:
                out["username"] = extra["preferred_username"]
            out.update(extra)
            return out
        record = self.store.get(self.tokens.kind("refresh"), digest(token))
        if (
            record is None
            or record.get("used")
            or record["exp"] <= self.clock.now()
            or self.tokens.family_revoked(record.get("family"))
        ):
            return {"active": False}
        sub = record["subject"]["sub"]
        if self.revocations.check(
            {"sub": sub, "client_id": record["client_id"], "iss": self.issuer_url, "iat": record["iat"]}
        ):
            return {"active": False}
        out = {
            "active": True,
            "token_type": "refresh_token",
            "client_id": record["client_id"],
            "sub": sub,
            "iss": self.issuer_url,
            "exp": record["exp"],
            "iat": record["iat"],
        }
        if record["scope"]:
            out["scope"] = " ".join(record["scope"])
        return out

    def revoke(self, token: str, *, client_id: str, hint: str | None = None) -> bool:
        """RFC 7009: revoke a token issued to ``client_id``; unknown tokens are silently ignored."""
        if hint != "access_token":
            record = self.store.get(self.tokens.kind("refresh"), digest(token))
            if record is not None:
                if record["client_id"] != client_id:
                    return False
                self.tokens.revoke_family(record["family"], reason="revoked by client")
                return True
        if token.count(".") == 2:
            try:
                _, claims = jwt.verify(self.keys, token, now=self.clock.now(), check_exp=False)
            except ValueError:
                return False
            if claims.get("iss") != self.issuer_url or (claims.get("client_id") or claims.get("azp")) != client_id:
                return False
            jti = claims.get("jti")
            if isinstance(jti, str):
                self.tokens.revoke_jti(jti, claims.get("exp"), reason="revoked by client")
                self.audit.record(
                    "token.revoked", issuer=self.settings.name, client_id=client_id, sub=claims.get("sub"), jti=jti
                )
                return True
        return False
