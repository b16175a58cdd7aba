"""Policy simulation: would this token (or these claims) get this role, and may it do X?

Runs the same trust evaluation the STS runs for AssumeRoleWithWebIdentity and
the same permission intersection it runs for minted credentials, but mints
nothing and records no session. With a real token the token is verified first
(signature, expiry, issuer...); with ``claims`` a synthetic verified token is
built for a built-in issuer, so policies can be explored without signing.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stsproxy.context import SOURCE_IDENTITY_CLAIM, session_tags
from stsproxy.errors import StsError
from stsproxy.policy import PolicyDecision, RequestContext, evaluate_trust
from stsproxy.service import WEB_IDENTITY_ACTION
from stsproxy.verify import VerifiedToken

if TYPE_CHECKING:
    from .runtime import Runtime


class SimulateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role_arn: str = Field(min_length=1, max_length=2048)
    token: str | None = Field(default=None, min_length=1)
    claims: dict[str, Any] | None = None
    issuer: str = "default"
    action: str = Field(min_length=1, max_length=256)
    resource: str = Field(default="*", min_length=1, max_length=2048)
    session_policy: dict[str, Any] | str | None = None
    policy_arns: list[str] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    session_name: str = Field(default="simulation", min_length=2, max_length=64)
    duration_seconds: int | None = Field(default=None, ge=900, le=43_200)

    @model_validator(mode="after")
    def _one_identity(self) -> SimulateBody:
        if (self.token is None) == (self.claims is None):
            raise ValueError("give exactly one of 'token' or 'claims'")
        return self


class SimulationError(ValueError):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error = status, error


def decision_json(decision: PolicyDecision | None) -> dict[str, Any]:
    if decision is None:
        return {"decision": "Allow", "reason": "unrestricted (no policies apply)", "statements": [], "allowed": True}
    return {
        "decision": decision.decision,
        "allowed": decision.allowed,
        "reason": decision.reason,
        "statements": [
            {"policy": m.policy, "sid": m.sid, "index": m.index, "effect": m.effect} for m in decision.matched
        ],
    }


def synthetic_token(runtime: Runtime, issuer_name: str, claims: dict[str, Any]) -> VerifiedToken:
    """A VerifiedToken for ``claims`` as if the built-in issuer ``issuer_name`` had signed them."""
    if issuer_name not in runtime.issuers:
        raise SimulationError(404, "not_found", f"no built-in issuer named {issuer_name!r}")
    url = runtime.issuer_url(issuer_name)
    trusted = next((i for i in runtime.sts.verifier.issuers if i.issuer == url), None)
    if trusted is None:
        raise SimulationError(400, "invalid_request", f"the STS does not trust issuer {issuer_name!r}")
    now = int(runtime.clock.now())
    full = {"iss": url, "sub": "simulated", "aud": "sts.amazonaws.com", "iat": now, "exp": now + 3600, **claims}
    aud = full.get("aud")
    audience = aud if isinstance(aud, str) else (aud[0] if isinstance(aud, list) and aud else "")
    digest = hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()
    return VerifiedToken(
        claims=full,
        header={"alg": "none", "typ": "JWT"},
        issuer=trusted,
        kid=None,
        alg="none",
        audience=str(audience),
        token_hash=digest,
    )


async def simulate(runtime: Runtime, body: SimulateBody) -> dict[str, Any]:
    """The decision for ``body``; raises SimulationError for requests that cannot be simulated."""
    sts = runtime.sts
    role = sts.roles.by_arn(body.role_arn)
    if role is None:
        raise SimulationError(404, "not_found", f"no role with ARN {body.role_arn!r}")
    result: dict[str, Any] = {"role_arn": role.arn, "action": body.action, "resource": body.resource}
    if body.token is not None:
        try:
            verified = await sts.verifier.verify(body.token)
        except StsError as exc:
            result.update(
                token={"valid": False, "code": exc.code, "check": exc.check, "message": exc.message},
                trust={
                    "decision": "NotEvaluated",
                    "allowed": False,
                    "reason": f"token rejected: {exc.message}",
                    "statements": [],
                },
                permissions=None,
                allowed=False,
            )
            return result
        result["token"] = {
            "valid": True,
            "iss": verified.issuer.issuer,
            "sub": verified.claims.get("sub"),
            "aud": verified.audience,
        }
    else:
        verified = synthetic_token(runtime, body.issuer, dict(body.claims or {}))
        result["token"] = {
            "synthetic": True,
            "iss": verified.issuer.issuer,
            "sub": verified.claims.get("sub"),
            "aud": verified.audience,
        }
    claims = verified.claims
    try:
        tags, transitive = session_tags(claims)
    except ValueError as exc:
        raise SimulationError(400, "invalid_request", f"session tags: {exc}") from None
    source_identity = claims.get(SOURCE_IDENTITY_CLAIM)
    duration = body.duration_seconds or role.settings.default_session_duration or min(3600, role.max_session_duration)
    context = sts._trust_context(verified, body.session_name, tags, transitive, source_identity, duration)
    context.update(body.context)
    principal = {"Federated": (sts.provider_arn(verified), verified.issuer.issuer)}
    trust = evaluate_trust(role.trust, RequestContext(action=WEB_IDENTITY_ACTION, principal=principal, context=context))
    trust_json = decision_json(trust)
    if trust.allowed:
        for extra_action, needed in (("sts:TagSession", bool(tags)), ("sts:SetSourceIdentity", bool(source_identity))):
            if needed:
                extra = evaluate_trust(
                    role.trust, RequestContext(action=extra_action, principal=principal, context=context)
                )
                if not extra.allowed:
                    trust_json = {**decision_json(extra), "action": extra_action}
                    break
    result["trust"] = trust_json
    policy = body.session_policy
    if isinstance(policy, dict):
        policy = json.dumps(policy)
    partition, account = sts.settings.partition, sts.settings.account_id
    session = {
        "kind": "web-identity",
        "role_arn": role.arn,
        "arn": f"arn:{partition}:sts::{account}:assumed-role/{role.name}/{body.session_name}",
        "user_id": f"{role.role_id}:{body.session_name}",
        "sub": claims.get("sub"),
        "aud": verified.audience,
        "provider": verified.issuer.provider_id,
        "tags": tags or None,
        "policy": [policy] if policy else None,
        "policy_arns": list(body.policy_arns) or None,
    }
    try:
        permissions = sts.caller_permissions(session, body.action, body.resource, body.context)
    except StsError as exc:
        raise SimulationError(400, "invalid_request", f"{exc.code}: {exc.message}") from None
    result["permissions"] = decision_json(permissions)
    result["session_policies"] = bool(policy or body.policy_arns)
    if role.settings.break_glass is not None:
        state = runtime.breakglass.state(role.name)
        result["break_glass"] = {"armed": state["armed"], "armed_until": state.get("armed_until")}
    result["allowed"] = bool(trust_json["allowed"] and result["permissions"]["allowed"])
    return result
