"""The STS plane's view of its collaborators, as narrow protocols.

The composition root passes in objects that satisfy these; the STS never
imports it. Only what the STS calls is listed, so the fakes in tests stay tiny.
"""

from __future__ import annotations

from typing import Any, Protocol


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
