"""The named decision steps of the STS, shared by the actions, simulation and the console.

Each step is one function over plain data and explicit collaborators; a failing
step raises an :class:`~stsproxy.errors.StsError` whose ``check`` names it. The
actions (:mod:`stsproxy.actions`) are short sequences of these steps, and
anything that explains or predicts an STS decision (``/admin/simulate``, the
console's token decoder, the S3 gateway) calls the same functions, so it cannot
disagree with the STS.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .auth import describe_revocation
from .context import SOURCE_IDENTITY_CLAIM, claim_keys, principal_tag_context, session_tags, tag_keys_context
from .errors import (
    AccessDenied,
    IDPRejectedClaim,
    InvalidParameterValue,
    PackedPolicyTooLarge,
    StsError,
    ValidationError,
)
from .policy import Policy, PolicyDecision, RequestContext, evaluate_trust, packed_policy_size, parse_policy
from .ports import Clock, Revocations
from .roles import Role, RoleRegistry
from .settings import StsSettings
from .verify import CHECKS, TokenVerifier, VerifiedToken

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
ASSUME_ROLE_ACTION = "sts:AssumeRole"
MAX_SESSION_TAGS = 50


# --------------------------------------------------------------------------- the token


def check_token_revocation(revocations: Revocations, verified: VerifiedToken) -> None:
    """``revoked``: no revocation covers the verified token (jti, subject, issuer cut-off, client)."""
    claims = verified.claims
    facts = {
        "jti": claims.get("jti"),
        "sub": claims.get("sub"),
        "iss": verified.issuer.issuer,
        "client_id": claims.get("client_id") or claims.get("azp"),
        "iat": claims.get("iat"),
    }
    revoked = revocations.check(facts)
    if revoked is not None:
        raise IDPRejectedClaim(
            f"The web identity token was revoked: {describe_revocation(revoked)}",
            check="revoked",
            detail={"revocation_id": revoked.get("id")},
        )


#: The token's checks as the console shows them: the verifier's CHECKS, then the STS's revocation step.
TOKEN_STEPS: tuple[tuple[str, str], ...] = (*((c.name, c.label) for c in CHECKS), ("revoked", "not revoked"))


@dataclass(frozen=True)
class TokenVerdict:
    """A token as AssumeRoleWithWebIdentity judges it, before any role is considered."""

    verified: VerifiedToken | None
    failed: StsError | None
    #: (check name, label, "passed" | "failed" | "not run") for every step, in order.
    steps: tuple[tuple[str, str, str], ...]


async def token_verdict(verifier: TokenVerifier, revocations: Revocations, token: str) -> TokenVerdict:
    """Run the STS's own token steps (every check, then ``revoked``) and say how each one went."""
    verified: VerifiedToken | None = None
    failed: StsError | None = None
    try:
        verified = await verifier.verify(token)
        check_token_revocation(revocations, verified)
    except StsError as exc:
        failed = exc
    steps, state = [], "passed"
    for name, label in TOKEN_STEPS:
        if failed is not None and name == failed.check:
            steps.append((name, label, "failed"))
            state = "not run"
        else:
            steps.append((name, label, state))
    return TokenVerdict(verified if failed is None else None, failed, tuple(steps))


def provider_arn(settings: StsSettings, verified: VerifiedToken) -> str:
    """IAM's OIDC provider ARN for the token's issuer: arn:aws:iam::ACCT:oidc-provider/<host/path>."""
    return f"arn:{settings.partition}:iam::{settings.account_id}:oidc-provider/{verified.issuer.provider_id}"


# --------------------------------------------------------------------------- session facts


def token_session_tags(claims: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """``session-tags``: principal tags and transitive keys from the token's tags claim."""
    try:
        return session_tags(claims)
    except ValueError as exc:
        raise InvalidParameterValue(str(exc), check="session-tags") from None


def check_tag_limits(tags: Mapping[str, str]) -> None:
    """``session-tags``: at most 50 tags, keys 1-128 and values up to 256 characters."""
    if len(tags) > MAX_SESSION_TAGS:
        raise ValidationError(
            f"1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_SESSION_TAGS}",
            check="session-tags",
        )
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ValidationError(
                f"1 validation error detected: session tag {key[:64]!r} exceeds the key (128) or value (256) length limit",
                check="session-tags",
            )


def session_duration(requested: int | None, role: Role | None, profile: str, *, now: float, token_exp: Any) -> int:
    """``duration`` / ``duration-max``: the session's lifetime, as ``sts:DurationSeconds`` sees it.

    AWS: the requested value, never above the role's maximum; none requested
    means the role's default (3600), capped at the maximum. MinIO: none
    requested means the token's remaining lifetime. A role with ``drill_session_seconds``
    (DRILL ONLY, never AWS behaviour) issues sessions of exactly that length.
    """
    if role is not None and role.settings.drill_session_seconds is not None:
        return role.settings.drill_session_seconds
    if profile == "minio":
        if requested is None:
            if not isinstance(token_exp, int | float):
                raise InvalidParameterValue("invalid token expiry", check="duration")
            remaining = int(token_exp - now)
            if remaining <= 0:
                raise InvalidParameterValue("Token is expired", check="exp")
            return remaining
        return requested
    if requested is None:
        duration = (role.settings.default_session_duration if role is not None else None) or 3600
        return min(duration, role.max_session_duration) if role is not None else duration
    if role is not None and requested > role.max_session_duration:
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            check="duration-max",
            detail={"requested": requested, "max_session_duration": role.max_session_duration},
        )
    return requested


def chained_duration(requested: int | None, *, chained: bool) -> int:
    """``duration-role-chaining``: a role assumed by a role session lives at most one hour."""
    duration = requested or 3600
    if chained and duration > 3600:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            check="duration-role-chaining",
        )
    return duration


class TimeKeys:
    """``aws:CurrentTime`` / ``aws:EpochTime``, formatted once per (virtual) second."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._cached: tuple[int, dict[str, Any]] = (-1, {})

    def __call__(self) -> dict[str, Any]:
        second = int(self._clock.now())
        if self._cached[0] != second:
            self._cached = (
                second,
                {
                    "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)),
                    "aws:EpochTime": str(second),
                },
            )
        return self._cached[1]


# --------------------------------------------------------------------------- trust


@dataclass(slots=True)  # one per request: not frozen (a frozen __init__ is ~3x slower)
class WebIdentityFacts:
    """What the trust policy of a web-identity request is evaluated against."""

    session_name: str
    tags: dict[str, str]
    transitive: tuple[str, ...]
    source_identity: Any
    duration: int
    context: dict[str, Any]
    principal: dict[str, Any]


def web_identity_facts(
    settings: StsSettings,
    verified: VerifiedToken,
    role: Role,
    *,
    session_name: str,
    requested_duration: int | None,
    profile: str,
    now: float,
    time_keys: Mapping[str, Any],
) -> WebIdentityFacts:
    """Tags, duration, condition keys and principal of an AssumeRoleWithWebIdentity, in the STS's order."""
    claims = verified.claims
    tags, transitive = token_session_tags(claims)
    check_tag_limits(tags)
    source_identity = claims.get(SOURCE_IDENTITY_CLAIM)
    duration = session_duration(requested_duration, role, profile, now=now, token_exp=claims.get("exp"))
    provider = verified.issuer.provider_id
    federated = provider_arn(settings, verified)
    context = claim_keys(provider, claims)
    context[f"{provider}:aud"] = verified.audience
    context.update(
        {
            "sts:RoleSessionName": session_name,
            "sts:DurationSeconds": str(duration),
            "aws:FederatedProvider": federated,
            **tag_keys_context(tags, transitive),
            **time_keys,
        }
    )
    if isinstance(source_identity, str):
        context["sts:SourceIdentity"] = source_identity
    principal = {"Federated": (federated, verified.issuer.issuer)}
    return WebIdentityFacts(session_name, tags, transitive, source_identity, duration, context, principal)


def evaluate_role_trust(
    role: Role, action: str, principal: Mapping[str, Any], context: Mapping[str, Any], *, tagging: bool, sourcing: bool
) -> tuple[PolicyDecision, str]:
    """The role's trust decision and the action it is about.

    The action itself first; when allowed, ``sts:TagSession`` (session tags
    given) and ``sts:SetSourceIdentity`` (a source identity given) must be
    allowed too, and the first of those denied is the decision.
    """
    trust = evaluate_trust(role.trust, RequestContext(action=action, principal=principal, context=context))
    if not trust.allowed:
        return trust, action
    for extra_action, needed in (("sts:TagSession", tagging), ("sts:SetSourceIdentity", sourcing)):
        if needed:
            extra = evaluate_trust(
                role.trust, RequestContext(action=extra_action, principal=principal, context=context)
            )
            if not extra.allowed:
                return extra, extra_action
    return trust, action


def require_trust(decision: PolicyDecision, action: str, role: Role, caller_arn: str | None = None) -> None:
    """``trust-policy`` / ``trust-policy-deny``: the trust decision must allow."""
    if decision.allowed:
        return
    message = (
        f"User: {caller_arn} is not authorized to perform: {action} on resource: {role.arn}"
        if caller_arn
        else f"Not authorized to perform {action}"
    )
    check = "trust-policy-deny" if decision.decision == "Deny" else "trust-policy"
    raise AccessDenied(message, check=check, detail={"reason": decision.reason, "role_arn": role.arn})


def require_caller_permission(decision: PolicyDecision | None, caller_arn: str, role_arn: str) -> None:
    """``caller-permissions``: the caller's own policies must allow sts:AssumeRole on the role."""
    if decision is not None and not decision.allowed:
        raise AccessDenied(
            f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            check="caller-permissions",
            detail={"reason": decision.reason},
        )


# --------------------------------------------------------------------------- session policies


@functools.lru_cache(maxsize=512)
def parse_session_policy(text: str) -> Policy:
    """Session policies are re-read on every signed call that checks permissions; parse each text once."""
    return parse_policy(text, kind="session", name="session")


def session_policies(roles: RoleRegistry, policy: str | None, policy_arns: tuple[str, ...] | list[str]) -> list[Policy]:
    """``policy-arns`` (and the policy grammar's checks): the inline policy and managed PolicyArns, parsed."""
    out: list[Policy] = []
    if policy is not None:
        out.append(parse_session_policy(policy))
    for arn in policy_arns:
        managed = roles.managed_policy(arn)
        if managed is None:
            raise InvalidParameterValue(f"Policy {arn} does not exist or is not attachable.", check="policy-arns")
        out.append(managed)
    return out


def packed_size(
    policies: list[Policy], tags: Mapping[str, str], transitive: tuple[str, ...], *, report: bool
) -> int | None:
    """``packed-policy-size``: session policies and tags fit the packed budget; the size when reported."""
    if not policies and not tags:
        return None
    size = packed_policy_size(policies, tags, transitive)
    if size > 100:
        what = "session tags" if tags and not policies else "session policies and tags" if tags else "session policies"
        raise PackedPolicyTooLarge(
            f"Packed size of {what} consumes {size}% of allotted space.", check="packed-policy-size"
        )
    return size if report else None


def claim_policies(settings: StsSettings, claims: Mapping[str, Any]) -> list[str]:
    """``policy-claim`` (MinIO without RoleArn): the defined policies the token's ``policy`` claim names."""
    raw = claims.get("policy")
    names: list[str] = []
    if isinstance(raw, str):
        names = [n.strip() for n in raw.split(",") if n.strip()]
    elif isinstance(raw, list):
        names = [n.strip() for item in raw if isinstance(item, str) for n in item.split(",") if n.strip()]
    if not names:
        raise InvalidParameterValue(
            "policy claim missing from the JWT token, credentials will not be generated", check="policy-claim"
        )
    existing = [n for n in names if n in settings.managed_policies]
    if not existing:
        raise InvalidParameterValue(
            f"None of the given policies ({','.join(names)}) are defined, credentials will not be generated",
            check="policy-claim",
        )
    return existing


# --------------------------------------------------------------------------- AssumeRole


def assume_role_principal(settings: StsSettings, caller: Mapping[str, Any]) -> dict[str, Any]:
    """Who a trust policy sees calling AssumeRole: the caller's ARN, its account (root) and its role."""
    arns = [caller["arn"], f"arn:{settings.partition}:iam::{caller['account']}:root", caller["account"]]
    if caller.get("role_arn"):
        arns.append(caller["role_arn"])
    return {"AWS": tuple(arns)}


def assume_role_context(
    caller: Mapping[str, Any],
    *,
    session_name: str,
    duration: int,
    request_tags: Mapping[str, str],
    transitive_keys: tuple[str, ...],
    external_id: str | None,
    source_identity: Any,
    time_keys: Mapping[str, Any],
) -> dict[str, Any]:
    """The condition keys of an AssumeRole call."""
    context: dict[str, Any] = {
        "sts:RoleSessionName": session_name,
        "sts:DurationSeconds": str(duration),
        "aws:PrincipalArn": caller["arn"],
        "aws:PrincipalAccount": caller["account"],
        "aws:userid": caller["user_id"],
        **principal_tag_context(caller.get("tags") or {}),
        **tag_keys_context(request_tags, transitive_keys),
        **time_keys,
    }
    if external_id:
        context["sts:ExternalId"] = external_id
    if source_identity:
        context["sts:SourceIdentity"] = source_identity
    return context
