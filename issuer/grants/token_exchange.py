"""OAuth 2.0 Token Exchange (RFC 8693).

The subject_token comes from this issuer (own signature, expiry, revocation) or
from an issuer in ``trusted_subject_issuers`` (checked by the injected
``external_token_verifier``). ``audience``/``resource`` (repeatable) and
``scope`` shape the new token. Per §2.2.2 a bad subject/actor token is
``invalid_request``.
"""

from __future__ import annotations

from typing import Any

from issuer.claims import PROTOCOL_CLAIMS
from issuer.errors import OAuthError, invalid_request
from issuer.grants.base import TokenContext
from issuer.settings import GRANT_TOKEN_EXCHANGE
from issuer.tokens import TOKEN_TYPE_ACCESS, TOKEN_TYPE_ID, TOKEN_TYPE_JWT, Issue, Subject, parse_scope

ACCEPTED_SUBJECT_TYPES = (TOKEN_TYPE_ACCESS, TOKEN_TYPE_ID, TOKEN_TYPE_JWT)
ISSUABLE_TYPES = (TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT)


class TokenExchangeGrant:
    grant_type = GRANT_TOKEN_EXCHANGE

    async def handle(self, ctx: TokenContext) -> dict[str, Any]:
        svc, client, form = ctx.service, ctx.client, ctx.form
        subject_token = form.require("subject_token")
        subject_type = form.require("subject_token_type")
        if subject_type not in ACCEPTED_SUBJECT_TYPES:
            raise invalid_request(f"unsupported subject_token_type {subject_type[:80]!r}", check="subject_token_type")
        requested_type = form.one("requested_token_type") or TOKEN_TYPE_ACCESS
        if requested_type not in ISSUABLE_TYPES:
            raise invalid_request("requested_token_type not supported", check="requested_token_type")
        claims = await self._verify(ctx, subject_token, "subject_token")
        extra: dict[str, Any] = {}
        actor_token = form.one("actor_token")
        if actor_token is not None:
            if form.one("actor_token_type") not in ACCEPTED_SUBJECT_TYPES:
                raise invalid_request("actor_token_type missing or unsupported", check="actor_token_type")
            actor = await self._verify(ctx, actor_token, "actor_token")
            extra["act"] = {"sub": actor["sub"], **({"iss": actor["iss"]} if actor.get("iss") else {})}
        elif form.one("actor_token_type") is not None:
            raise invalid_request("actor_token_type without actor_token", check="actor_token")
        audience = form.many("audience") + form.many("resource")
        for resource in form.many("resource"):
            if "://" not in resource or "#" in resource:
                raise OAuthError(
                    "invalid_target", "resource must be an absolute URI without fragment", check="resource"
                )
        original_scope = [s for s in str(claims.get("scope", "")).split(" ") if s]
        scope = parse_scope(client, form.one("scope"), default=[s for s in original_scope if s in client.scopes])
        carried = {k: v for k, v in claims.items() if k not in PROTOCOL_CLAIMS}
        subject = Subject(
            sub=str(claims["sub"]),
            username=carried.get("preferred_username"),
            claims=carried,
            auth_time=claims.get("auth_time") if isinstance(claims.get("auth_time"), int) else None,
        )
        issue = Issue(
            client=client,
            grant_type=self.grant_type,
            scope=scope,
            subject=subject,
            form=form.as_dict(),
            audience=audience or None,
            extra=extra,
            issued_token_type=requested_type,
            refresh=requested_type == TOKEN_TYPE_ACCESS
            and "offline_access" in scope
            and svc.tokens.wants_refresh(client, self.grant_type, scope),
        )
        response, _ = svc.tokens.issue(issue)
        return response

    async def _verify(self, ctx: TokenContext, token: str, what: str) -> dict[str, Any]:
        svc = ctx.service
        try:
            _, unverified = svc.unverified(token)
        except ValueError as exc:
            raise invalid_request(f"{what} is not a JWT", check=what) from exc
        iss = unverified.get("iss")
        if iss == svc.issuer_url:
            try:
                claims = svc.verify_access_or_id_token(token)
            except ValueError as exc:
                raise invalid_request(f"{what} rejected: {exc}", check=what) from exc
        elif isinstance(iss, str) and iss in svc.settings.trusted_subject_issuers and svc.external_token_verifier:
            try:
                claims = await svc.external_token_verifier(token)
            except ValueError as exc:
                raise invalid_request(f"{what} rejected: {exc}", check=what) from exc
        else:
            raise invalid_request(f"{what} issuer is not trusted", check=what)
        if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise invalid_request(f"{what} has no subject", check=what)
        return claims
