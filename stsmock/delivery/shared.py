"""Admin-created bindings as shared state: every process of one server (``--workers``) or of one
PostgreSQL (replicas) serves the same bindings.

Why: a binding made through ``POST /admin/bindings`` used to live in the worker that answered,
while the delivery listeners run in one worker. Now the binding is a store record written in the
same transaction as its change-feed note; every process applies it (topic ``bindings``), and the
process that runs the listeners publishes where they listen (topic ``binding-endpoints``), so an
answer from any worker names the right URLs. Bindings from the config file are not stored: every
process reads them from the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from ..store import Backend, ChangeFeed
from .engine import Binding, DeliveryEngine
from .settings import BindingSettings

log = logging.getLogger("stsmock.delivery")

BINDING_KIND = "delivery-binding"
BINDINGS_TOPIC = "bindings"
ENDPOINT_KIND = "delivery-endpoint"
ENDPOINTS_TOPIC = "binding-endpoints"
#: How long an admin call on a worker without the listeners waits for them to come up (seconds).
ENDPOINT_WAIT_SECONDS = 10.0


class Listeners(Protocol):
    running: bool

    async def ensure_imds(self, binding: Binding) -> None: ...


class SharedBindings:
    def __init__(self, engine: DeliveryEngine, store: Backend, feed: ChangeFeed) -> None:
        self.engine = engine
        self.store = store
        self.feed = feed
        #: Set in the process that runs the delivery listeners (``listeners_context``).
        self.listeners: Listeners | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        feed.subscribe(BINDINGS_TOPIC, self.apply)
        feed.subscribe(ENDPOINTS_TOPIC, self.apply_endpoints)

    # ----------------------------------------------------------------- writes (admin API)
    def save(self, binding: Binding) -> None:
        record = {
            "spec": binding.settings.model_dump(mode="json", exclude={"container_token"}),
            "container_token": binding.container_token,
            "expires_at": binding.expires_at,
        }
        with self.store.change() as change:
            self.store.put(BINDING_KIND, binding.name, record)
            change.note(BINDINGS_TOPIC, binding.name)

    def delete(self, name: str) -> None:
        with self.store.change() as change:
            if self.store.delete(BINDING_KIND, name):
                change.note(BINDINGS_TOPIC, name)
            if self.store.delete(ENDPOINT_KIND, f"imds:{name}"):
                change.note(ENDPOINTS_TOPIC, f"imds:{name}")

    def publish(self, key: str, value: dict[str, Any]) -> None:
        """The listener process: where a listener is (``container``, ``imds:<binding>``)."""
        with self.store.change() as change:
            self.store.put(ENDPOINT_KIND, key, value)
            change.note(ENDPOINTS_TOPIC, key)

    # ----------------------------------------------------------------- applying the feed
    def load(self) -> None:
        """At start: every stored binding and endpoint (a record that does not parse is reported)."""
        self.apply(None)
        self.apply_endpoints(None)

    def apply(self, names: set[str] | None) -> None:
        stored = dict(self.store.items(BINDING_KIND))
        if names is None:
            names = set(stored) | {n for n, b in self.engine.bindings.items() if b.shared}
        for name in sorted(names):
            record, local = stored.get(name), self.engine.bindings.get(name)
            if record is None:
                if local is not None and local.shared:
                    self.engine.remove(name)
            elif local is None:
                self._add(name, record)

    def _add(self, name: str, record: dict[str, Any]) -> None:
        try:
            spec = BindingSettings.model_validate({**record["spec"], "container_token": record["container_token"]})
        except Exception as exc:  # a damaged record is reported, never replaced or guessed
            log.error(
                "stored binding %r cannot be read (%s); delete it with DELETE /admin/bindings/%s", name, exc, name
            )
            return
        binding = self.engine.add(spec, audit=False)
        binding.shared = True
        binding.expires_at = record.get("expires_at")
        if self.listeners is not None and self.listeners.running:
            self._spawn(self._bring_up(binding))

    async def _bring_up(self, binding: Binding) -> None:
        assert self.listeners is not None
        try:
            await self.listeners.ensure_imds(binding)
            if binding.settings.token_file:
                await self.engine.write_token_file(binding)
        except Exception:  # the binding stays; its IMDS URL stays unknown and the admin call says so
            log.exception("binding %s: cannot start its listener", binding.name)
            return
        self.published(binding)
        await self.engine.prefetch(binding)

    def published(self, binding: Binding) -> None:
        if binding.imds_port is not None and binding.shared:
            self.publish(f"imds:{binding.name}", {"port": binding.imds_port})

    def apply_endpoints(self, keys: set[str] | None) -> None:
        if self.listeners is not None and self.listeners.running:
            return  # the listener process knows its own ports
        for key, value in self.store.items(ENDPOINT_KIND):
            if keys is not None and key not in keys:
                continue
            if key == "container":
                self.engine.container_url = value.get("url")
            elif key.startswith("imds:"):
                binding = self.engine.bindings.get(key[5:])
                if binding is not None:
                    binding.imds_port = value.get("port")

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop yet (start-up): the listeners bring every binding up when they start
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_for_endpoints(self, binding: Binding) -> bool:
        """On a worker without the listeners: until the listener process has brought ``binding`` up."""
        if self.listeners is not None and self.listeners.running:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ENDPOINT_WAIT_SECONDS
        while True:
            with contextlib.suppress(Exception):
                self.feed.sync()
            container_ok = not self.engine.settings.container.enabled or self.engine.container_url is not None
            imds_ok = binding.settings.imds is None or binding.imds_port is not None
            if container_ok and imds_ok:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
