"""AssumeRole: a signed caller (user or role session) in, role credentials out.

authenticate (SigV4 + credential chain) → validate → ``role-exists`` →
``duration-role-chaining`` / ``duration-max`` → tags (transitive ones carried
over) → ``trust-policy`` (+ TagSession) → ``caller-permissions`` → session
policies, ``packed-policy-size`` → mint.
"""

from __future__ import annotations

from typing import Any

from .. import protocol, steps
from ..errors import AccessDenied
from ..plane import ActionCall, StsPlane
from ..sessions import as_tuple, mint_session, role_session
from ..validation import validate_assume_role
from .signed import authenticate


async def assume_role(plane: StsPlane, call: ActionCall) -> dict[str, Any]:
    profile, record = call.profile, call.record
    caller = authenticate(plane, call)
    req = validate_assume_role(call.params, profile=profile)
    record.note(role_arn=req.role_arn, session_name=req.role_session_name)
    role = plane.roles.by_arn(req.role_arn or "")
    if role is None:
        raise AccessDenied(
            f"User: {caller['arn']} is not authorized to perform: sts:AssumeRole on resource: {req.role_arn}",
            check="role-exists",
        )
    chained = caller.get("kind") in ("web-identity", "assume-role")
    now = plane.clock.now()
    duration = steps.chained_duration(req.duration_seconds, chained=chained)
    duration = steps.session_duration(duration, role, profile, now=now, token_exp=None)
    caller_tags = dict(caller.get("tags") or {})
    transitive = tuple(caller.get("transitive") or ())
    tags = {**{k: v for k, v in caller_tags.items() if k in transitive}, **dict(req.tags)}
    steps.check_tag_limits(tags)
    transitive = tuple(dict.fromkeys([*transitive, *req.transitive_tag_keys]))
    session_name = req.role_session_name or "session"
    source_identity = caller.get("source_identity") or req.source_identity
    context = steps.assume_role_context(
        caller,
        session_name=session_name,
        duration=duration,
        request_tags=dict(req.tags),
        transitive_keys=req.transitive_tag_keys,
        external_id=req.external_id,
        source_identity=source_identity,
        time_keys=plane.time_keys(),
    )
    principal = steps.assume_role_principal(plane.settings, caller)
    trust, action = steps.evaluate_role_trust(
        role, steps.ASSUME_ROLE_ACTION, principal, context, tagging=bool(req.tags), sourcing=False
    )
    record.trust = trust
    steps.require_trust(trust, action, role, caller_arn=caller["arn"])
    permissions = plane.permissions.evaluate(caller, steps.ASSUME_ROLE_ACTION, role.arn, context)
    record.permissions = permissions
    steps.require_caller_permission(permissions, caller["arn"], role.arn)
    policies = steps.session_policies(plane.roles, req.policy, req.policy_arns)
    packed = steps.packed_size(policies, tags, transitive, report=req.policy is not None or bool(req.policy_arns))
    identity = {k: caller.get(k) for k in ("sub", "iss", "jti", "client_id")}
    session = role_session(
        plane.settings,
        "assume-role",
        role,
        session_name,
        {**identity, "parent": caller["arn"]},
        tags=tags,
        transitive=transitive,
        source_identity=source_identity,
        policy=req.policy,
        policy_arns=req.policy_arns,
        profile=profile,
        chained=chained,
    )
    creds = mint_session(plane.codec, plane.store, record, session, now=now, duration=duration)
    return protocol.assume_role_result(
        profile,
        credentials=as_tuple(creds),
        assumed_role_arn=session["arn"],
        assumed_role_id=session["user_id"],
        packed_policy_size=packed,
        source_identity=source_identity,
    )
