"""What an STS action receives: the request, and the plane's collaborators, typed.

:class:`StsPlane` is built once by :class:`~stsproxy.service.StsService`; an
action is ``async (plane, call) -> result fields``. Tests build a plane over
fakes of the ports (see tests/unit/test_sts_actions.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .auth import CredentialChain
from .credentials import SessionTokenCodec
from .decision import DecisionRecord
from .permissions import Permissions
from .ports import AuditSink, Clock, Revocations, StateStore, StsExtensions
from .roles import RoleRegistry
from .settings import StsSettings
from .steps import TimeKeys
from .verify import TokenVerifier


@dataclass(slots=True)  # one per request: not frozen (a frozen __init__ is ~3x slower)
class HttpRequest:
    method: str
    path: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes
    remote: str | None = None
    body_too_large: bool = False


@dataclass(slots=True)  # one per request: not frozen (a frozen __init__ is ~3x slower)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)  # one per request: not frozen (a frozen __init__ is ~3x slower)
class ActionCall:
    """One request as an action sees it: the raw request (for signatures), its parameters, its record."""

    request: HttpRequest
    params: Mapping[str, str]
    profile: str
    record: DecisionRecord


@dataclass(frozen=True)
class StsPlane:
    settings: StsSettings
    roles: RoleRegistry
    verifier: TokenVerifier
    codec: SessionTokenCodec
    clock: Clock
    store: StateStore
    audit: AuditSink
    revocations: Revocations
    ext: StsExtensions
    permissions: Permissions
    chain: CredentialChain
    time_keys: TimeKeys
