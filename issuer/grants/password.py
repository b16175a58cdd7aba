"""Resource-owner password grant (RFC 6749 §4.3) against the configured users."""

from __future__ import annotations

import hmac
from typing import Any

from issuer.errors import invalid_grant
from issuer.grants.base import TokenContext
from issuer.settings import GRANT_PASSWORD
from issuer.tokens import Issue, Subject, parse_scope


class PasswordGrant:
    grant_type = GRANT_PASSWORD

    async def handle(self, ctx: TokenContext) -> dict[str, Any]:
        svc, client = ctx.service, ctx.client
        username = ctx.form.require("username")
        password = ctx.form.require("password")
        scope = parse_scope(client, ctx.form.one("scope"))
        user = svc.settings.user(username)
        # Compare even for unknown users so timing does not reveal which usernames exist.
        expected = user.password if user else "\x00invalid"
        if not hmac.compare_digest(password.encode(), expected.encode()) or user is None:
            raise invalid_grant("invalid username or password", check="password")
        subject = Subject(
            sub=user.sub, username=user.username, claims=dict(user.claims), auth_time=int(svc.clock.now())
        )
        issue = Issue(
            client=client,
            grant_type=self.grant_type,
            scope=scope,
            subject=subject,
            form=ctx.form.as_dict(),
            refresh=svc.tokens.wants_refresh(client, self.grant_type, scope),
        )
        response, _ = svc.tokens.issue(issue)
        return response
