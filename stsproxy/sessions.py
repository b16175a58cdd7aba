"""Typed sessions: the facts a credential stands for, sealed into its token and stored per access key.

A session is a plain mapping on the wire (sealed JSON) and in the store, so it
is typed as a :class:`Session` ``TypedDict`` rather than an object: no copy or
conversion on the hot path. The builders here are the only places sessions are
made; :func:`mint_session` mints keys for one and queues its durable record.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any, TypedDict, cast

from . import protocol
from .credentials import MintedCredentials, SessionTokenCodec, mint
from .decision import DecisionRecord
from .ports import StateStore
from .roles import Role
from .settings import StsSettings
from .verify import VerifiedToken

#: Store kind of session records (keyed by access key id).
SESSION_KIND = "sts-session"
#: Kinds minted by this STS: they must be known to the store and not revoked to be used.
MINTED_KINDS = frozenset({"web-identity", "assume-role", "session-token"})


class Session(TypedDict, total=False):
    kind: str  # "user" | "web-identity" | "assume-role" | "session-token"
    arn: str
    user_id: str
    account: str
    # who it stands for
    sub: str | None
    iss: str | None
    aud: str | None
    jti: str | None
    client_id: str | None
    provider: str | None
    parent: str | None
    # the role session
    role_arn: str
    role_name: str
    session_name: str
    tags: dict[str, str] | None
    transitive: list[str] | None
    source_identity: Any
    policy: list[str] | None
    policy_arns: list[str] | None
    policies: list[str]
    profile: str
    chained: bool
    # sealed by mint
    ak: str
    exp: int
    iat: int


def token_identity(verified: VerifiedToken) -> dict[str, Any]:
    """Who a session stands for, from its verified web-identity token."""
    claims = verified.claims
    return {
        "sub": claims.get("sub"),
        "iss": verified.issuer.issuer,
        "aud": verified.audience,
        "jti": claims.get("jti"),
        "client_id": claims.get("client_id") or claims.get("azp"),
        "provider": verified.issuer.provider_id,
    }


def assumed_role_arn(settings: StsSettings, role_name: str, session_name: str) -> str:
    return f"arn:{settings.partition}:sts::{settings.account_id}:assumed-role/{role_name}/{session_name}"


def role_session(
    settings: StsSettings,
    kind: str,
    role: Role,
    session_name: str,
    identity: Mapping[str, Any],
    *,
    tags: Mapping[str, str],
    transitive: tuple[str, ...],
    source_identity: Any,
    policy: str | None,
    policy_arns: tuple[str, ...] | list[str],
    profile: str,
    chained: bool,
) -> Session:
    """The facts sealed into a role session's token (and stored, minus the policy text)."""
    return cast(
        Session,
        {
            **identity,
            "kind": kind,
            "role_arn": role.arn,
            "role_name": role.name,
            "session_name": session_name,
            "arn": assumed_role_arn(settings, role.name, session_name),
            "user_id": f"{role.role_id}:{session_name}",
            "account": settings.account_id,
            "tags": dict(tags) or None,
            "transitive": list(transitive) or None,
            "source_identity": source_identity,
            "policy": [policy] if policy else None,
            "policy_arns": list(policy_arns) or None,
            "profile": profile,
            "chained": chained,
        },
    )


def claim_policy_session(
    settings: StsSettings, verified: VerifiedToken, policies: list[str], policy: str | None
) -> Session:
    """MinIO without a RoleArn: a session whose permissions are the policies the token's claim names."""
    sub = verified.claims.get("sub")
    return cast(
        Session,
        {
            **token_identity(verified),
            "kind": "web-identity",
            "policies": policies,
            "arn": assumed_role_arn(settings, "claim-policy", str(sub)),
            "user_id": str(sub),
            "account": settings.account_id,
            "policy": [policy] if policy else None,
            "profile": "minio",
            "chained": False,
        },
    )


def user_session(settings: StsSettings, user: Mapping[str, str]) -> Session:
    """A configured long-term user (static keys)."""
    arn = user.get("arn") or f"arn:{settings.partition}:iam::{settings.account_id}:user/{user.get('name', 'user')}"
    user_id = user.get("user_id") or "AIDA" + hashlib.sha256(arn.encode()).hexdigest()[:17].upper()
    policies = [p for p in (user.get("policies") or "").split(",") if p]
    return {"kind": "user", "arn": arn, "user_id": user_id, "account": settings.account_id, "policies": policies}


def session_token_child(parent: Session) -> Session:
    """GetSessionToken: the user's own permissions, in a temporary credential."""
    return cast(Session, {**parent, "kind": "session-token", "chained": False})


def mint_session(
    codec: SessionTokenCodec,
    store: StateStore,
    record: DecisionRecord,
    session: Session,
    *,
    now: float,
    duration: int,
) -> MintedCredentials:
    """Mint keys sealing ``session``; its store record joins the request's durable writes."""
    sealed = {k: v for k, v in session.items() if v is not None}
    creds = mint(codec, now=now, duration=duration, session=sealed)
    stored = {k: v for k, v in sealed.items() if k != "policy"}
    stored.update(exp=creds.expiration, iat=int(now))
    record.writes.append(
        functools.partial(store.put, SESSION_KIND, creds.access_key_id, stored, expires_at=creds.expiration)
    )
    record.note(
        access_key_id=creds.access_key_id,
        expiration=protocol.format_expiration(creds.expiration),
        duration=duration,
        assumed_role_arn=session.get("arn"),
    )
    return creds


def as_tuple(creds: MintedCredentials) -> tuple[str, str, str, float]:
    return (creds.access_key_id, creds.secret_access_key, creds.session_token, creds.expiration)
