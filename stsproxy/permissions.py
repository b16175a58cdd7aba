"""What a credential may do: its role's (or user's) policies ∩ its session policies.

Evaluated at request time from the session alone (sealed or stored), so the
STS's signed calls, the pytest plugin's ``allowed`` helper and the S3 gateway
get one answer. ``None`` means an unrestricted static user (no policies apply).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import principal_tag_context
from .policy import Policy, PolicyDecision, RequestContext, evaluate_session
from .roles import RoleRegistry
from .steps import session_policies


class Permissions:
    def __init__(self, roles: RoleRegistry) -> None:
        self.roles = roles

    def evaluate(
        self, session: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]
    ) -> PolicyDecision | None:
        """The decision for ``action`` on ``resource`` by the holder of ``session``."""
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
        request = RequestContext(action=action, resource=resource, context=full_context)
        return evaluate_session(identity, session_docs or None, request)
