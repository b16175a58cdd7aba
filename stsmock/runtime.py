"""The collaborators of one running stsmock, typed: what the admin API, console and plugin read.

A leaf of the composition root: it names types and builds nothing (``wiring.py`` builds, in one
explicit order), and none of the collaborators it holds imports it back. Handlers reach it through
``request.app[RUNTIME]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from issuer.service import IssuerService
from issuer.settings import IssuerSettings
from stsproxy.service import StsService

from .audit import AuditLog
from .breakglass import BreakGlass
from .clock import VirtualClock
from .config import Config
from .delivery.engine import DeliveryEngine
from .delivery.shared import SharedBindings
from .faults import FaultEngine
from .metrics import Metrics
from .revocations import RevocationRegistry
from .shared import SharedRoles
from .simulate import Simulator
from .store import Backend, ChangeFeed, FeedListener, GroupCommit

#: Called with each new revocation record (e.g. the upstream forwarder's MinIO revoke-tokens hook).
RevocationListener = Callable[[Mapping[str, object]], None]


def issuer_url(base_url: str, name: str, settings: IssuerSettings | None = None) -> str:
    """``default`` is served at the base URL, every other issuer under ``/issuers/{name}``, unless its
    settings (a preset's layout, e.g. ``/realms/{realm}``) say otherwise."""
    if settings is not None:
        return base_url + settings.url_path
    return base_url if name == "default" else f"{base_url}/issuers/{name}"


@dataclass
class Runtime:
    """Everything one running stsmock holds."""

    config: Config
    base_url: str
    data_dir: Path
    clock: VirtualClock
    store: Backend
    audit: AuditLog
    revocations: RevocationRegistry
    admin_token: str
    admin_token_path: Path | None
    issuers: dict[str, IssuerService]
    sts: StsService
    #: One transaction per event-loop turn for the durable writes of every request.
    group_commit: GroupCommit
    faults: FaultEngine
    breakglass: BreakGlass
    metrics: Metrics
    #: Credential delivery: workload bindings and their credentials (listeners run in the app).
    delivery: DeliveryEngine
    #: Admin-created bindings in the store, applied by every process (delivery/shared.py).
    bindings: SharedBindings
    simulator: Simulator
    #: Applies every process's changes of shared state before each request (store/feed.py).
    feed: ChangeFeed
    #: Runtime role changes, shared through the store (the admin API writes through it).
    roles: SharedRoles
    revocation_listeners: list[RevocationListener] = field(default_factory=list)
    #: The PostgreSQL change-feed listener while the app runs (``/healthz`` reads it).
    listener: FeedListener | None = None

    def issuer_url(self, name: str) -> str:
        return issuer_url(self.base_url, name, self.config.issuer(name))

    def issuer_urls(self) -> dict[str, str]:
        return {name: self.issuer_url(name) for name in self.issuers} or {
            i.name: self.issuer_url(i.name) for i in self.config.issuers
        }


RUNTIME: web.AppKey[Runtime] = web.AppKey("stsmock.runtime", Runtime)
