"""Roles as the STS sees them: parsed policies, indexed by ARN.

Policies are parsed once when a role is added, so the hot path only looks a
role up in a dict and evaluates pre-parsed statements. Runtime changes (admin
API) go through ``put``/``remove`` and keep the index consistent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .policy import Policy, parse_policy
from .settings import RoleSettings, StsSettings


@dataclass(frozen=True)
class Role:
    settings: RoleSettings
    arn: str
    role_id: str
    trust: Policy
    identity: tuple[Policy, ...]
    profile: str

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def max_session_duration(self) -> int:
        if self.settings.break_glass is not None:
            return min(self.settings.max_session_duration, self.settings.break_glass.max_session_seconds)
        return self.settings.max_session_duration

    def describe(self) -> dict[str, Any]:
        data = self.settings.model_dump(mode="json", exclude_none=True)
        return {"arn": self.arn, "role_id": self.role_id, "profile": self.profile, **data}


@dataclass
class RoleRegistry:
    settings: StsSettings
    _by_arn: dict[str, Role] = field(default_factory=dict)
    _by_name: dict[str, Role] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _parsed: dict[tuple[str, str], Policy | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for role in self.settings.roles:
            self.put(role)

    def build(self, role: RoleSettings) -> Role:
        from .credentials import role_id

        arn = self.settings.role_arn(role)
        managed = []
        for name in role.managed_policies:
            doc = self.settings.managed_policies.get(name)
            if doc is None:
                raise ValueError(f"role {role.name!r}: unknown managed policy {name!r}")
            managed.append(parse_policy(doc, kind="identity", name=f"managed:{name}"))
        inline = [parse_policy(doc, kind="identity", name=f"{role.name}:{name}") for name, doc in role.policies.items()]
        return Role(
            settings=role,
            arn=arn,
            role_id=role_id(arn),
            trust=parse_policy(role.trust_policy, kind="trust", name=f"{role.name}:trust"),
            identity=tuple(inline + managed),
            profile=role.profile or self.settings.profile,
        )

    def put(self, role: RoleSettings) -> Role:
        built = self.build(role)
        with self._lock:
            old = self._by_name.pop(role.name, None)
            if old is not None:
                self._by_arn.pop(old.arn, None)
            self._by_arn[built.arn] = built
            self._by_name[role.name] = built
        return built

    def remove(self, name: str) -> bool:
        with self._lock:
            role = self._by_name.pop(name, None)
            if role is None:
                return False
            self._by_arn.pop(role.arn, None)
            return True

    def by_arn(self, arn: str) -> Role | None:
        return self._by_arn.get(arn)

    def by_name(self, name: str) -> Role | None:
        return self._by_name.get(name)

    def all(self) -> list[Role]:
        return list(self._by_name.values())

    def managed_policy(self, arn: str) -> Policy | None:
        """A managed policy by ARN (arn:PARTITION:iam::ACCOUNT:policy/NAME), for PolicyArns."""
        prefix = f"arn:{self.settings.partition}:iam::{self.settings.account_id}:policy/"
        if not arn.startswith(prefix):
            return None
        return self.managed(arn[len(prefix) :].rsplit("/", 1)[-1], kind="session")

    def managed(self, name: str, *, kind: str = "identity") -> Policy | None:
        """A managed policy by name, parsed once (managed policies do not change at runtime)."""
        key = (name, kind)
        if key not in self._parsed:
            doc = self.settings.managed_policies.get(name)
            self._parsed[key] = None if doc is None else parse_policy(doc, kind=kind, name=f"managed:{name}")  # type: ignore[arg-type]
        return self._parsed[key]
