"""Wire credential delivery into an app: collaborators from the runtime, routes, listeners.

This is the only module of the package that knows the runtime; everything else
gets :class:`DeliveryPorts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from .admin import add_binding_routes
from .engine import DeliveryEngine
from .listeners import DeliveryListeners
from .ports import DeliveryPorts

if TYPE_CHECKING:
    from ..app import Runtime

DELIVERY: web.AppKey[DeliveryEngine] = web.AppKey("stsmock.delivery", DeliveryEngine)

#: False in ``serve --workers`` children other than the first: one process owns the listeners.
_LISTENERS_HERE = True


def listeners_here(enabled: bool) -> None:
    global _LISTENERS_HERE
    _LISTENERS_HERE = enabled


def ports_for(runtime: Runtime) -> DeliveryPorts:
    from stsproxy.service import HttpRequest

    def mint(issuer: str, claims: dict[str, Any], ttl: int, client_id: str | None) -> str:
        return str(runtime.issuers[issuer].mint(claims, ttl=ttl, client_id=client_id))

    def client_audience(issuer: str, client_id: str) -> str | list[str] | None:
        service = runtime.issuers.get(issuer)
        client = service.settings.client(client_id) if service is not None else None
        return client.audience if client is not None and client.audience else None

    async def sts(params: dict[str, str]) -> tuple[int, bytes]:
        response = await runtime.sts.handle(
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
        clock=runtime.clock,
        audit=runtime.audit,
        mint=mint,
        client_audience=client_audience,
        token_endpoint=lambda issuer: runtime.issuer_url(issuer) + "/token",
        sts=sts,
        account_id=runtime.config.sts.account_id,
        region=runtime.config.sts.region,
    )


def install(app: web.Application, runtime: Runtime) -> None:
    engine = DeliveryEngine(runtime.config.delivery, ports_for(runtime), data_dir=runtime.data_dir)
    listeners = DeliveryListeners(engine)
    app[DELIVERY] = engine
    add_binding_routes(app, engine, listeners)
    run_listeners = _LISTENERS_HERE

    async def lifecycle(app: web.Application) -> Any:
        if run_listeners:
            await listeners.start()
            await engine.start()
        yield
        await engine.stop()
        await listeners.stop()

    app.cleanup_ctx.append(lifecycle)
