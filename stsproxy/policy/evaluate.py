"""Policy evaluation: explicit Deny > Allow > implicit deny.

Decisions carry the statements that decided them and a human reason, so the
STS can explain an AccessDenied (debug mode) and the audit log can cite it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from stsproxy.policy.conditions import conditions_hold
from stsproxy.policy.grammar import Policy, Statement
from stsproxy.policy.matching import match_action, principal_matches, segments_match
from stsproxy.policy.variables import resolve

Decision = Literal["Allow", "Deny", "ImplicitDeny"]


@dataclass(slots=True)  # one per request: not frozen (a frozen __init__ is ~3x slower)
class RequestContext:
    """What is being asked: action, resource ARN, principal and condition keys.

    ``context`` maps condition keys (any case) to str | list[str] | bool | int |
    float; a list is a multivalued key.
    """

    action: str
    resource: str | None = None
    principal: Mapping[str, tuple[str, ...]] | None = None
    context: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class MatchedStatement:
    policy: str
    sid: str | None
    index: int
    effect: str


@dataclass(frozen=True)
class PolicyDecision:
    decision: Decision
    matched: tuple[MatchedStatement, ...]
    reason: str

    @property
    def allowed(self) -> bool:
        return self.decision == "Allow"


# Depth a statement reached before failing; used to explain implicit denies.
_PRINCIPAL, _ACTION, _RESOURCE, _CONDITION = 1, 2, 3, 4


def _lower_context(context: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in context.items()}


def _describe(policy: Policy, stmt: Statement) -> str:
    label = f"statement '{stmt.sid}' (index {stmt.index})" if stmt.sid else f"statement index {stmt.index}"
    return f"{label} of policy '{policy.name or policy.kind}'"


def _resource_in(patterns: tuple[str, ...], request: RequestContext, ctx: Mapping[str, Any], enabled: bool) -> bool:
    resource = request.resource
    for pattern in patterns:
        if pattern == "*":
            return True
        if resource is None:
            continue
        segments = resolve(pattern, ctx, enabled=enabled)
        if segments is not None and segments_match(segments, resource, "arn"):
            return True
    return False


def _check(policy: Policy, stmt: Statement, request: RequestContext, ctx: Mapping[str, Any]) -> tuple[int, str] | None:
    """None if the statement applies, else (depth reached, why it did not)."""
    if stmt.principal is not None and not principal_matches(stmt.principal, request.principal):
        return _PRINCIPAL, "principal does not match"
    if stmt.not_principal is not None and principal_matches(stmt.not_principal, request.principal):
        return _PRINCIPAL, "principal is excluded by NotPrincipal"
    if stmt.actions is not None and not any(match_action(a, request.action) for a in stmt.actions):
        return _ACTION, "action does not match"
    if stmt.not_actions is not None and any(match_action(a, request.action) for a in stmt.not_actions):
        return _ACTION, "action is excluded by NotAction"
    enabled = policy.variables_enabled
    if stmt.resources is not None and not _resource_in(stmt.resources, request, ctx, enabled):
        return _RESOURCE, "resource does not match"
    if stmt.not_resources is not None and _resource_in(stmt.not_resources, request, ctx, enabled):
        return _RESOURCE, "resource is excluded by NotResource"
    failed = conditions_hold(stmt.conditions, ctx, variables=enabled)
    if failed is not None:
        return _CONDITION, f"condition {failed.operator} on {failed.key!r} is not satisfied"
    return None


def _target(request: RequestContext) -> str:
    target = request.action
    if request.resource is not None:
        target += f" on {request.resource}"
    if request.principal:
        who = ", ".join(f"{k}={'|'.join(v)}" for k, v in request.principal.items())
        target += f" for principal {who}"
    return target


def evaluate(policies: Sequence[Policy], request: RequestContext) -> PolicyDecision:
    """Explicit Deny > Allow > implicit deny, across every statement of every policy."""
    ctx = _lower_context(request.context)
    allows: list[MatchedStatement] = []
    denies: list[MatchedStatement] = []
    first: tuple[Policy, Statement] | None = None
    closest: tuple[int, str] | None = None
    for policy in policies:
        for stmt in policy.statements:
            failure = _check(policy, stmt, request, ctx)
            if failure is None:
                hit = MatchedStatement(policy.name, stmt.sid, stmt.index, stmt.effect)
                if stmt.effect == "Deny":
                    if not denies:
                        first = (policy, stmt)
                    denies.append(hit)
                else:
                    if not allows and not denies:
                        first = (policy, stmt)
                    allows.append(hit)
            elif stmt.effect == "Allow" and (closest is None or failure[0] > closest[0]):
                closest = (failure[0], f"{_describe(policy, stmt)}: {failure[1]}")
    if denies:
        assert first is not None
        return PolicyDecision("Deny", tuple(denies), f"explicitly denied by {_describe(*first)}")
    if allows:
        assert first is not None
        return PolicyDecision("Allow", tuple(allows), f"allowed by {_describe(*first)}")
    reason = f"no statement allows {_target(request)}"
    if closest is not None and closest[0] > _PRINCIPAL:
        reason += f" (closest: {closest[1]})"
    elif closest is not None:
        reason += f" ({closest[1]})"
    return PolicyDecision("ImplicitDeny", (), reason)


def condition_keys(policies: Sequence[Policy], request: RequestContext, *, prefix: str = "") -> frozenset[str]:
    """Lower-case condition keys (those starting with ``prefix``) of the statements whose principal,
    action and resource match: what evaluating ``request`` reads. The S3 gateway fetches an object's
    tags only when ``s3:existingobjecttag/`` keys come back; statements without such keys cost a scan."""
    ctx: dict[str, Any] | None = None
    out: set[str] = set()
    for policy in policies:
        for stmt in policy.statements:
            keys = [c.key_lower for c in stmt.conditions if c.key_lower.startswith(prefix)]
            if not keys:
                continue
            ctx = _lower_context(request.context) if ctx is None else ctx
            failure = _check(policy, stmt, request, ctx)
            if failure is None or failure[0] == _CONDITION:
                out.update(keys)
    return frozenset(out)


def evaluate_session(
    identity: Sequence[Policy], session: Sequence[Policy] | None, request: RequestContext
) -> PolicyDecision:
    """Session permissions = identity ∩ (union of session policies); any explicit Deny wins.

    With no session policies the identity decision stands (a plain role session).
    """
    ident = evaluate(identity, request)
    if not session:
        return ident
    sess = evaluate(session, request)
    if ident.decision == "Deny" or sess.decision == "Deny":
        denies = tuple(m for d in (ident, sess) if d.decision == "Deny" for m in d.matched)
        reason = ident.reason if ident.decision == "Deny" else sess.reason
        return PolicyDecision("Deny", denies, reason)
    if ident.decision == "ImplicitDeny":
        return ident
    if sess.decision == "ImplicitDeny":
        names = ", ".join(f"'{p.name or p.kind}'" for p in session)
        noun = "session policy" if len(session) == 1 else "session policies"
        return PolicyDecision(
            "ImplicitDeny", (), f"{ident.reason} but {noun} {names} does not allow it ({sess.reason})"
        )
    return PolicyDecision("Allow", ident.matched + sess.matched, f"{ident.reason}; session: {sess.reason}")


def evaluate_trust(trust: Policy, request: RequestContext) -> PolicyDecision:
    """Can ``request.principal`` perform ``request.action`` (e.g. sts:AssumeRoleWithWebIdentity)?

    Trust statements always carry a Principal (grammar), so the principal must
    match as well as the action and conditions.
    """
    return evaluate([trust], request)
