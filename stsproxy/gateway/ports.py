"""What the gateway needs from its host: credentials, decisions, audit, clock.

The composition root adapts the STS credential chain and policy engine to these protocols, so
changing where credentials come from is one adapter, not an edit of the proxy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Principal:
    access_key: str
    kind: str
    arn: str | None = None
    sub: str | None = None
    role_arn: str | None = None
    session_name: str | None = None
    #: The resolver's session facts (never the secret).
    session: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: The statement that decided it, e.g. "statement 'AllowS3' (index 0) of policy 's3-all'".
    statement: str | None
    reason: str


class CredentialSource(Protocol):
    def resolve(self, access_key: str, session_token: str | None, now: float) -> tuple[str, Principal]:
        """(secret key, principal), or raise S3Error (InvalidAccessKeyId, InvalidToken, ExpiredToken, AccessDenied)."""
        ...


class Authorizer(Protocol):
    def decide(self, principal: Principal, action: str, resource: str, context: Mapping[str, Any]) -> Decision: ...


class ConditionKeys(Protocol):
    """Optional for an :class:`Authorizer`: which condition keys a decision would read. Without it the
    gateway never fetches what only some policies need (``s3:ExistingObjectTag/*``)."""

    def condition_keys(
        self, principal: Principal, action: str, resource: str, context: Mapping[str, Any], *, prefix: str = ""
    ) -> frozenset[str]:
        """Condition keys (lower case, starting with ``prefix``) that the statements which apply would read."""
        ...


AuditSink = Callable[[dict[str, Any]], Awaitable[None]]
Clock = Callable[[], float]
