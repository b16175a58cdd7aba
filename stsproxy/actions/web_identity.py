"""AssumeRoleWithWebIdentity: a verified token in, role credentials out.

The whole decision, in order (each step names its check):
validate the parameters → verify the token (``verify.CHECKS``) → ``revoked`` →
``role-exists`` (MinIO without RoleArn: claim-policy mode) → break-glass →
session tags, duration, condition keys → ``trust-policy`` (+ TagSession,
SetSourceIdentity) → session policies, ``packed-policy-size`` → the session →
forward upstream or mint. The steps live in :mod:`stsproxy.steps`, the session
shapes and minting in :mod:`stsproxy.sessions`.
"""

from __future__ import annotations

import base64
from typing import Any

from boundedjson import loads_bounded

from .. import protocol, steps
from ..errors import AccessDenied, InternalFailure, StsError
from ..plane import ActionCall, StsPlane
from ..sessions import as_tuple, claim_policy_session, mint_session, role_session, token_identity
from ..validation import WebIdentityRequest, validate_web_identity
from ..verify import VerifiedToken


async def assume_role_with_web_identity(plane: StsPlane, call: ActionCall) -> dict[str, Any]:
    profile, record = call.profile, call.record
    req = validate_web_identity(call.params, profile=profile)
    record.note(role_arn=req.role_arn, session_name=req.role_session_name)
    role = plane.roles.by_arn(req.role_arn) if req.role_arn else None
    try:
        verified = await plane.verifier.verify(req.web_identity_token)
    except StsError:
        record.note(**unverified_identity(req.web_identity_token))  # a denial stays findable by subject
        raise
    claims = verified.claims
    record.note(
        claims_verified=True,
        sub=claims.get("sub"),
        iss=verified.issuer.issuer,
        aud=verified.audience,
        jti=claims.get("jti"),
        token_hash=verified.token_hash[:16],
        kid=verified.kid,
        alg=verified.alg,
    )
    steps.check_token_revocation(plane.revocations, verified)
    if role is None:
        if profile == "minio" and (req.role_arn is None or not plane.roles.all()):
            return claim_policy_mode(plane, req, verified, call)
        raise AccessDenied(
            f"Not authorized to perform {steps.WEB_IDENTITY_ACTION}",
            check="role-exists",
            detail={"role_arn": req.role_arn, "reason": "no role with this ARN is configured"},
        )
    record.note(role_arn=role.arn)
    if plane.ext.break_glass is not None and role.settings.break_glass is not None:
        plane.ext.break_glass(role, claims, record)
    now = plane.clock.now()
    facts = steps.web_identity_facts(
        plane.settings,
        verified,
        role,
        session_name=req.role_session_name or f"stsmock-{int(now)}",
        requested_duration=req.duration_seconds,
        profile=profile,
        now=now,
        time_keys=plane.time_keys(),
    )
    trust, action = steps.evaluate_role_trust(
        role,
        steps.WEB_IDENTITY_ACTION,
        facts.principal,
        facts.context,
        tagging=bool(facts.tags),
        sourcing=bool(facts.source_identity),
    )
    record.trust = trust
    steps.require_trust(trust, action, role)
    policies = steps.session_policies(plane.roles, req.policy, req.policy_arns)
    packed = steps.packed_size(
        policies, facts.tags, facts.transitive, report=req.policy is not None or bool(req.policy_arns)
    )
    session = role_session(
        plane.settings,
        "web-identity",
        role,
        facts.session_name,
        token_identity(verified),
        tags=facts.tags,
        transitive=facts.transitive,
        source_identity=facts.source_identity,
        policy=req.policy,
        policy_arns=req.policy_arns,
        profile=profile,
        chained=False,
    )
    if role.settings.upstream is not None:
        if plane.ext.upstream is None:  # never mint locally for a role that must go upstream
            raise InternalFailure(
                f"role {role.name} needs upstream {role.settings.upstream.name!r}, but no forwarder is configured",
                check="upstream-config",
            )
        return await plane.ext.upstream.forward(
            role=role,
            request=req,
            verified=verified,
            profile=profile,
            duration=facts.duration,
            record=record,
            session_name=facts.session_name,
        )
    creds = mint_session(plane.codec, plane.store, record, session, now=now, duration=facts.duration)
    if plane.ext.break_glass_used is not None and role.settings.break_glass is not None:
        plane.ext.break_glass_used(role, record)
    return protocol.web_identity_result(
        profile,
        credentials=as_tuple(creds),
        subject=str(claims.get("sub")),
        audience=verified.audience,
        assumed_role_arn=session["arn"],
        assumed_role_id=session["user_id"],
        provider=steps.provider_arn(plane.settings, verified),
        packed_policy_size=packed,
        source_identity=facts.source_identity,
    )


def claim_policy_mode(
    plane: StsPlane, req: WebIdentityRequest, verified: VerifiedToken, call: ActionCall
) -> dict[str, Any]:
    """MinIO without a RoleArn: policies named by the token's ``policy`` claim."""
    claims = verified.claims
    existing = steps.claim_policies(plane.settings, claims)
    steps.session_policies(plane.roles, req.policy, ())  # validates the grammar; MinIO seals the text itself
    now = plane.clock.now()
    duration = steps.session_duration(req.duration_seconds, None, "minio", now=now, token_exp=claims.get("exp"))
    session = claim_policy_session(plane.settings, verified, existing, req.policy)
    call.record.note(policies=existing)
    creds = mint_session(plane.codec, plane.store, call.record, session, now=now, duration=duration)
    return protocol.web_identity_result("minio", credentials=as_tuple(creds), subject=str(claims.get("sub")))


def unverified_identity(token: str) -> dict[str, Any]:
    """sub/iss/jti as the token *claims* them, so a denial is still findable by subject.

    Marked ``claims_verified: False`` until verification succeeds; never trusted for decisions.
    """
    try:
        payload = token.split(".")[1]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = loads_bounded(raw, max_bytes=len(raw), what="the payload")  # bounded: depth, digits, surrogates
    except (IndexError, ValueError, TypeError):
        return {"claims_verified": False}
    if not isinstance(claims, dict):
        return {"claims_verified": False}
    out: dict[str, Any] = {"claims_verified": False}
    for key in ("sub", "iss", "jti"):
        value = claims.get(key)
        if isinstance(value, str) and len(value) <= 256:
            out[key] = value
    return out
