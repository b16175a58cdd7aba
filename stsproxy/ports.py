"""The STS plane's view of its collaborators, as narrow protocols.

The composition root passes in objects that satisfy these; the STS never
imports it. Only what the STS calls is listed, so the fakes in tests stay tiny.
:class:`StsExtensions` bundles the optional toolkit hooks, each typed here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .decision import DecisionRecord
from .errors import StsError
from .roles import Role
from .validation import WebIdentityRequest


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds from the one (possibly virtual) clock."""


class StateStore(Protocol):
    """Session records keyed by access key, expiring with the credentials."""

    def put(self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None) -> None: ...

    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...


class AuditSink(Protocol):
    def record(self, event: str, **fields: Any) -> None:
        """One structured record per decision; callers pass hashes, never tokens."""


class Revocations(Protocol):
    def check(self, facts: dict[str, Any]) -> dict[str, Any] | None:
        """The revocation covering these facts (jti, sub, iss, client_id, role_arn,
        session_name, access_key, iat), or None."""


class TokenFacts(Protocol):
    """What a hook may read of a verified web-identity token."""

    @property
    def claims(self) -> dict[str, Any]: ...

    @property
    def audience(self) -> str: ...


class FaultHook(Protocol):
    """The error to answer with instead (after any injected latency), or None."""

    def __call__(
        self, *, endpoint: str, action: str | None, role_arn: str | None, client_id: str | None
    ) -> Awaitable[StsError | None]: ...


class UpstreamForwarding(Protocol):
    """Sends an allowed AssumeRoleWithWebIdentity to the role's upstream STS; returns the result fields."""

    async def forward(
        self,
        *,
        role: Role,
        request: WebIdentityRequest,
        verified: TokenFacts,
        profile: str,
        duration: int,
        record: DecisionRecord,
        session_name: str,
    ) -> dict[str, Any]: ...

    async def close(self) -> None: ...


#: (role, verified claims, record) -> None; raises AccessDenied when a break-glass role may not be used.
BreakGlassCheck = Callable[[Role, dict[str, Any], DecisionRecord], None]
#: Called after a break-glass role was used successfully.
BreakGlassUsed = Callable[[Role, DecisionRecord], None]
#: The request's audit fields, for metrics (before the audit log redacts them).
Observer = Callable[[dict[str, Any]], None]
#: Runs a request's durable writes (session + audit) before its response leaves.
Commit = Callable[[list[Callable[[], None]]], Awaitable[None]]


@dataclass
class StsExtensions:
    """Collaborators added by the toolkit; each is optional."""

    fault: FaultHook | None = None
    break_glass: BreakGlassCheck | None = None
    break_glass_used: BreakGlassUsed | None = None
    upstream: UpstreamForwarding | None = None
    observe: Observer | None = None
    #: The composition root batches writes into one commit per loop turn. Default: in order, now.
    commit: Commit | None = None
