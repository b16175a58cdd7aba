"""Build credential delivery from its collaborators; run its listeners for an app.

``delivery_engine`` is called by ``wiring.build_runtime`` (the engine then lives on the
runtime as ``runtime.delivery``); ``listeners_context`` is the app's cleanup context that binds
the container endpoint and the IMDS instances and runs the background refresh.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from issuer.service import IssuerService
from stsproxy.service import HttpRequest, StsService

from ..shared import sts_unavailable_body
from ..store import StoreUnavailable
from .engine import DeliveryEngine
from .listeners import DeliveryListeners
from .ports import Audit, Clock, DeliveryPorts
from .settings import DeliverySettings
from .shared import SharedBindings


def delivery_ports(
    *,
    issuers: Mapping[str, IssuerService],
    issuer_url: Callable[[str], str],
    sts: StsService,
    clock: Clock,
    audit: Audit,
    account_id: str,
    region: str,
    sync_state: Callable[[], object] = lambda: None,
) -> DeliveryPorts:
    def mint(issuer: str, claims: dict[str, Any], ttl: int, client_id: str | None) -> str:
        return str(issuers[issuer].mint(claims, ttl=ttl, client_id=client_id))

    def client_audience(issuer: str, client_id: str) -> str | list[str] | None:
        service = issuers.get(issuer)
        client = service.settings.client(client_id) if service is not None else None
        return client.audience if client is not None and client.audience else None

    async def ask_sts(params: dict[str, str]) -> tuple[int, bytes]:
        """The STS pipeline in process, with the same form body an SDK would POST — after the change
        feed, like every request (background rotations too); the STS's own 503 when the store is away."""
        try:
            sync_state()
        except StoreUnavailable as exc:
            return 503, sts_unavailable_body(
                f"state store unavailable; nothing was accepted ({exc})", sts.settings.profile
            )
        response = await sts.handle(
            HttpRequest(
                method="POST",
                path="/",
                raw_path="/",
                query=[],
                headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "stsmock-delivery"},
                body=urlencode(params).encode(),
                remote="127.0.0.1",
            )
        )
        return response.status, response.body

    return DeliveryPorts(
        clock=clock,
        audit=audit,
        mint=mint,
        client_audience=client_audience,
        token_endpoint=lambda issuer: issuer_url(issuer) + "/token",
        sts=ask_sts,
        account_id=account_id,
        region=region,
        sync_state=sync_state,
    )


def delivery_engine(settings: DeliverySettings, ports: DeliveryPorts, *, data_dir: Path) -> DeliveryEngine:
    return DeliveryEngine(settings, ports, data_dir=data_dir)


def listeners_context(
    engine: DeliveryEngine, shared: SharedBindings, *, enabled: bool = True
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Bind the delivery listeners and run the refresh loop while the app runs.

    ``enabled=False`` (``serve --workers`` children other than the first) keeps them in one process.
    """

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        listeners = DeliveryListeners(engine)
        if enabled:
            await listeners.start()
            shared.listeners = listeners
            if engine.container_url:
                shared.publish("container", {"url": engine.container_url})
            for binding in list(engine.bindings.values()):
                shared.published(binding)
            await engine.start()
        yield
        shared.listeners = None
        await engine.stop()
        await listeners.stop()

    return ctx
