"""The STS actions, one module each, and the registry the service dispatches on.

An action is ``async (plane, call) -> result fields``; the service renders the
fields in the request's profile. Adding an action means one module and one
entry in :data:`ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..plane import ActionCall, StsPlane
from .assume_role import assume_role
from .signed import get_caller_identity, get_session_token
from .web_identity import assume_role_with_web_identity

Action = Callable[[StsPlane, ActionCall], Awaitable[dict[str, Any]]]

ACTIONS: dict[str, Action] = {
    "AssumeRoleWithWebIdentity": assume_role_with_web_identity,
    "AssumeRole": assume_role,
    "GetCallerIdentity": get_caller_identity,
    "GetSessionToken": get_session_token,
}

__all__ = ["ACTIONS", "Action", "ActionCall", "StsPlane"]
