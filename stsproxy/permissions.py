"""What a credential may do: its role's (or user's) policies ∩ its session policies.

Evaluated at request time from the session alone (sealed or stored), so the
STS's signed calls, the pytest plugin's ``allowed`` helper and the S3 gateway
get one answer. ``None`` means an unrestricted static user (no policies apply).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import principal_tag_context
from .policy import Policy, PolicyDecision, RequestContext, condition_keys, evaluate_session
from .roles import RoleRegistry
from .steps import session_policies


class Permissions:
    def __init__(self, roles: RoleRegistry) -> None:
        self.roles = roles

    def _policies(self, session: Mapping[str, Any]) -> tuple[list[Policy], list[Policy]] | None:
        """(identity policies, session policies); None for an unrestricted static user."""
        roles = self.roles
        role = roles.by_arn(session["role_arn"]) if session.get("role_arn") else None
        if role is None and session.get("kind") in ("user", "session-token") and not session.get("policies"):
            return None
        identity: list[Policy] = list(role.identity) if role else []
        for name in session.get("policies") or ():
            managed = roles.managed(name)
            if managed is not None:
                identity.append(managed)
        session_docs = session_policies(
            roles, (session.get("policy") or [None])[0], tuple(session.get("policy_arns") or ())
        )
        return identity, session_docs

    @staticmethod
    def _request(session: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> RequestContext:
        full_context = {
            **context,
            "aws:userid": session.get("user_id"),
            "aws:PrincipalArn": session.get("arn"),
            **principal_tag_context(session.get("tags") or {}),
        }
        provider = session.get("provider")
        if provider and session.get("sub"):
            full_context[f"{provider}:sub"] = session["sub"]
            full_context["jwt:sub"] = session["sub"]
        if provider and session.get("aud"):
            full_context[f"{provider}:aud"] = session["aud"]
        return RequestContext(action=action, resource=resource, context=full_context)

    def evaluate(
        self, session: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]
    ) -> PolicyDecision | None:
        """The decision for ``action`` on ``resource`` by the holder of ``session``."""
        found = self._policies(session)
        if found is None:
            return None
        identity, session_docs = found
        return evaluate_session(identity, session_docs or None, self._request(session, action, resource, context))

    def condition_keys(
        self, session: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any], *, prefix: str = ""
    ) -> frozenset[str]:
        """Condition keys (lower case, starting with ``prefix``) of the statements that apply to ``action`` on ``resource``."""
        found = self._policies(session)
        if found is None:
            return frozenset()
        policies = [*found[0], *found[1]]
        if not any(c.key_lower.startswith(prefix) for p in policies for st in p.statements for c in st.conditions):
            return frozenset()  # the common case, decided without building the request context
        return condition_keys(policies, self._request(session, action, resource, context), prefix=prefix)
