"""What the issuer needs from the outside world, as narrow protocols.

The composition root (``stsmock``) provides the implementations; the issuer
never imports it, so dependency arrows point one way.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time as epoch seconds (virtual in tests and via the admin API)."""


class StateStore(Protocol):
    """Namespaced durable records with optional expiry (auth codes, refresh tokens...)."""

    def put(self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None) -> None: ...

    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Atomically read and delete; the one-time-use primitive for codes."""

    def delete(self, kind: str, key: str) -> bool: ...

    def items(self, kind: str) -> list[tuple[str, dict[str, Any]]]: ...


class AuditSink(Protocol):
    def record(self, event: str, **fields: Any) -> None:
        """Write one structured audit record. Never pass secrets or whole tokens."""

    def batched(self) -> AbstractAsyncContextManager[None]:
        """Records made inside are durable when the block ends (group-committed with others)."""


class Revocations(Protocol):
    def check(self, facts: dict[str, Any]) -> dict[str, Any] | None:
        """Return the matching revocation record for these token facts, or None.

        ``facts`` may hold: jti, sub, client_id, iss, role_arn, session_name,
        access_key, iat (epoch seconds).
        """

    def revoke(
        self, by: str, value: str, *, reason: str = "", source: str = "", issued_before: float | None = None
    ) -> dict[str, Any]:
        """Persist a revocation. ``by`` is one of jti, sub, client_id, session,
        access_key, iss (with issued_before) or role_arn (with issued_before)."""


class KeyRecordError(ValueError):
    """A stored signing-key record that does not load. Never skipped and replaced by a new key (tokens
    signed by it would die silently): start-up refuses it, a running process reports it."""

    def __init__(self, name: str, reason: str, remedy: str = "restore it from a backup") -> None:
        self.name, self.reason, self.remedy = name, reason, remedy
        super().__init__(f"{name}: {reason}")


class KeyRepository(Protocol):
    """Signing-key records shared by every process of a deployment (the composition root's store)."""

    def load(self) -> list[dict[str, Any]]:
        """Every key record of this issuer (raises :class:`KeyRecordError` if one cannot be read)."""

    def damaged(self, kid: str, reason: str) -> KeyRecordError:
        """The error naming record ``kid`` (where it is stored, and what to do about it)."""

    def update(self) -> AbstractContextManager[tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], None]]]:
        """A serialised read-modify-write: yields the latest records and a ``save(changed)`` function;
        no other process changes this issuer's keys until the block ends (so no stale write-back)."""
