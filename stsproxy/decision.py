"""The one decision record per STS request.

It is built up as the request passes each check, then feeds the audit log,
the debug-mode error message and the metrics, so an explanation is never
computed twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .policy import PolicyDecision


@dataclass
class DecisionRecord:
    action: str
    request_id: str
    profile: str
    source_ip: str | None = None
    started: float = field(default_factory=time.perf_counter)
    decision: str = "deny"
    code: str | None = None
    check: str | None = None
    message: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    trust: PolicyDecision | None = None
    permissions: PolicyDecision | None = None
    #: Durable writes (e.g. the session record) committed together with the audit record.
    writes: list[Callable[[], None]] = field(default_factory=list)

    def note(self, **values: Any) -> None:
        fields = self.fields
        for key, value in values.items():
            if value is not None:
                fields[key] = value

    def allow(self) -> None:
        self.decision = "allow"

    def deny(self, code: str, check: str, message: str) -> None:
        self.decision, self.code, self.check, self.message = "deny", code, check, message

    @staticmethod
    def _policy(decision: PolicyDecision | None) -> dict[str, Any] | None:
        if decision is None:
            return None
        return {
            "decision": decision.decision,
            "reason": decision.reason,
            "statements": [
                {"policy": m.policy, "sid": m.sid, "index": m.index, "effect": m.effect} for m in decision.matched
            ],
        }

    def as_audit(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "action": self.action,
            "decision": self.decision,
            "request_id": self.request_id,
            "profile": self.profile,
            "source_ip": self.source_ip,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 3),
            **self.fields,
        }
        if self.decision == "deny":
            record.update(code=self.code, check=self.check, message=self.message)
        trust = self._policy(self.trust)
        if trust:
            record["trust"] = trust
        permissions = self._policy(self.permissions)
        if permissions:
            record["permissions"] = permissions
        return record
