"""Policy simulation: would this token (or these claims) get this role, and may it do X?

A thin adapter over the STS's own decision steps (:mod:`stsproxy.steps`, the
functions AssumeRoleWithWebIdentity calls) and its permission intersection
(:mod:`stsproxy.permissions`), so it cannot disagree with the STS; it mints
nothing and records no session. With a real token the token is verified first
(signature, expiry, issuer...); with ``claims`` a synthetic verified token is
built for a built-in issuer, so policies can be explored without signing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stsproxy import steps
from stsproxy.errors import StsError
from stsproxy.plane import StsPlane
from stsproxy.policy import PolicyDecision
from stsproxy.sessions import role_session, token_identity
from stsproxy.verify import VerifiedToken

from .breakglass import BreakGlass


class SimulateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

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


def synthetic_token(
    plane: StsPlane, issuer_urls: Mapping[str, str], issuer_name: str, claims: dict[str, Any]
) -> VerifiedToken:
    """A VerifiedToken for ``claims`` as if the built-in issuer ``issuer_name`` had signed them."""
    url = issuer_urls.get(issuer_name)
    if url is None:
        raise SimulationError(404, "not_found", f"no built-in issuer named {issuer_name!r}")
    trusted = next((i for i in plane.verifier.issuers if i.issuer == url), None)
    if trusted is None:
        raise SimulationError(400, "invalid_request", f"the STS does not trust issuer {issuer_name!r}")
    now = int(plane.clock.now())
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


def _rejected(result: dict[str, Any], exc: StsError, token: dict[str, Any]) -> dict[str, Any]:
    result.update(
        token={**token, "valid": False, "code": exc.code, "check": exc.check, "message": exc.message},
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


class Simulator:
    """The simulation engine, given its collaborators: the STS plane (roles, verifier, revocations,
    permissions), the built-in issuers' URLs (for synthetic tokens) and the break-glass state."""

    def __init__(self, plane: StsPlane, *, issuer_urls: Mapping[str, str], break_glass: BreakGlass) -> None:
        self.plane = plane
        self.issuer_urls = issuer_urls
        self.break_glass = break_glass

    async def run(self, body: SimulateBody) -> dict[str, Any]:
        return await simulate(self.plane, self.issuer_urls, self.break_glass, body)


async def simulate(
    plane: StsPlane, issuer_urls: Mapping[str, str], break_glass: BreakGlass, body: SimulateBody
) -> dict[str, Any]:
    """The decision for ``body``; raises SimulationError for requests that cannot be simulated.

    Runs the STS's own steps (:mod:`stsproxy.steps`) in the STS's order: the token
    checks and ``revoked``, the session facts (tags, ``sts:DurationSeconds``,
    condition keys), the trust decision, the session policies and the packed
    size; then the permission check the minted credentials would get.
    """
    role = plane.roles.by_arn(body.role_arn)
    if role is None:
        raise SimulationError(404, "not_found", f"no role with ARN {body.role_arn!r}")
    result: dict[str, Any] = {"role_arn": role.arn, "action": body.action, "resource": body.resource}
    if body.token is not None:
        verdict = await steps.token_verdict(plane.verifier, plane.revocations, body.token)
        if verdict.verified is None:
            assert verdict.failed is not None
            return _rejected(result, verdict.failed, {})
        verified = verdict.verified
        token_json: dict[str, Any] = {"valid": True}
    else:
        verified = synthetic_token(plane, issuer_urls, body.issuer, dict(body.claims or {}))
        token_json = {"synthetic": True}
        try:
            steps.check_token_revocation(plane.revocations, verified)
        except StsError as exc:
            return _rejected(result, exc, token_json)
    result["token"] = {
        **token_json,
        "iss": verified.issuer.issuer,
        "sub": verified.claims.get("sub"),
        "aud": verified.audience,
    }
    policy = body.session_policy
    if isinstance(policy, dict):
        policy = json.dumps(policy)
    try:
        facts = steps.web_identity_facts(
            plane.settings,
            verified,
            role,
            session_name=body.session_name,
            requested_duration=body.duration_seconds,
            profile=role.profile,
            now=plane.clock.now(),
            time_keys=plane.time_keys(),
        )
        context = {**facts.context, **body.context}
        trust, trust_action = steps.evaluate_role_trust(
            role,
            steps.WEB_IDENTITY_ACTION,
            facts.principal,
            context,
            tagging=bool(facts.tags),
            sourcing=bool(facts.source_identity),
        )
        policies = steps.session_policies(plane.roles, policy, body.policy_arns)
        steps.packed_size(policies, facts.tags, facts.transitive, report=False)
        session = role_session(
            plane.settings,
            "web-identity",
            role,
            facts.session_name,
            token_identity(verified),
            tags=facts.tags,
            transitive=facts.transitive,
            source_identity=facts.source_identity,
            policy=policy,
            policy_arns=body.policy_arns,
            profile=role.profile,
            chained=False,
        )
        permissions = plane.permissions.evaluate(session, body.action, body.resource, body.context)
    except StsError as exc:
        raise SimulationError(400, "invalid_request", f"{exc.code}: {exc.message}") from None
    trust_json = decision_json(trust)
    if trust_action != steps.WEB_IDENTITY_ACTION:
        trust_json["action"] = trust_action
    result["trust"] = trust_json
    result["duration_seconds"] = facts.duration
    result["permissions"] = decision_json(permissions)
    result["session_policies"] = bool(policy or body.policy_arns)
    if role.settings.break_glass is not None:
        state = break_glass.state(role.name)
        result["break_glass"] = {"armed": state["armed"], "armed_until": state.get("armed_until")}
    result["allowed"] = bool(trust_json["allowed"] and result["permissions"]["allowed"])
    return result
