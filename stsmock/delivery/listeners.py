"""The delivery listeners: one container endpoint, one IMDS port per IMDS binding.

They are separate listeners, not paths on the main server, because of what the
SDKs accept (docs/credential-delivery.md §1.2, §2.2): the container endpoint
must be on a loopback address (or 169.254.170.2/.23) whatever ``--host`` the main
server binds, and IMDS must sit at the root of its own host:port (the JS SDK
replaces the endpoint's path) with one role per "instance".
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .container import container_app
from .engine import Binding, DeliveryEngine
from .imds import imds_app

log = logging.getLogger("stsmock.delivery")


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


class DeliveryListeners:
    def __init__(self, engine: DeliveryEngine) -> None:
        self.engine = engine
        self._container: web.AppRunner | None = None
        self._imds: dict[str, web.AppRunner] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self.running = False
        engine.on_added.append(self.ensure_imds)
        engine.on_removed.append(self._removed)

    async def start(self) -> None:
        settings = self.engine.settings.container
        if settings.enabled:
            self._container, port = await _start(
                container_app(self.engine, check_host=settings.check_host), settings.host, settings.port
            )
            self.engine.container_url = f"http://{self.engine.url_host(settings.host)}:{port}/v1/credentials"
        self.running = True
        for binding in list(self.engine.bindings.values()):
            await self.ensure_imds(binding)

    async def ensure_imds(self, binding: Binding) -> None:
        """Start the binding's IMDS instance if it has one and it is not running yet."""
        if not self.running or binding.settings.imds is None or binding.name in self._imds:
            return
        runner, port = await _start(
            imds_app(self.engine, binding), self.engine.settings.imds.host, binding.settings.imds.port
        )
        self._imds[binding.name] = runner
        binding.imds_port = port

    def _removed(self, binding: Binding) -> None:
        if binding.name not in self._imds:
            return
        runner = self._imds.pop(binding.name)
        task = asyncio.get_running_loop().create_task(runner.cleanup())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def stop(self) -> None:
        self.running = False
        for runner in [*self._imds.values(), *([self._container] if self._container else [])]:
            try:
                await runner.cleanup()
            except Exception:  # stopping must go on
                log.exception("stopping a delivery listener failed")
        self._imds.clear()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
