"""One state for every process: component state kept in the store and applied from the change feed.

Adapters that put keys, roles and the clock into the store (each change one serialised change
transaction with feed records), the handlers that apply other processes' changes, and the one guard
(:func:`feed_guard`) every listener — main app, S3 gateway, container endpoint, IMDS — runs before
every request. If the store cannot be reached, requests fail closed with 503 in their listener's
format (STS XML, OAuth/admin JSON, S3 XML, container JSON, IMDS text): a process that cannot tell
whether a revocation happened must not accept or hand out a credential. ``/healthz`` reports it;
``/livez`` never touches the store.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from issuer.ports import KeyRecordError
from stsproxy.errors import ServiceUnavailable, wire_error
from stsproxy.protocol import render_error
from stsproxy.roles import RoleRegistry
from stsproxy.settings import RoleSettings

from .store import Backend, ChangeFeed, DamagedRecord, StoreUnavailable

log = logging.getLogger("stsmock.shared")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROLE_KIND = "role"
ROLES_TOPIC = "roles"
CLOCK_TOPIC = "clock"
#: Paths that answer without the store (liveness: a store outage must not restart the pod).
UNGUARDED = frozenset({"/livez"})


class StoreKeyRepository:
    """An issuer's signing keys as store records (kind ``key:<issuer>``), for every process alike.

    The first update imports key files from the old per-data-dir layout, so tokens signed before
    the upgrade keep verifying.
    """

    def __init__(self, store: Backend, issuer: str, legacy_dir: Path | None = None) -> None:
        self.store = store
        self.kind = f"key:{issuer}"
        self.topic = f"keys:{issuer}"
        self.legacy_dir = legacy_dir

    def load(self) -> list[dict[str, Any]]:
        try:
            return [{"kid": kid, **record} for kid, record in self.store.items(self.kind)]
        except DamagedRecord as exc:
            raise self.damaged(exc.key, exc.reason) from None

    def damaged(self, kid: str, reason: str) -> KeyRecordError:
        path = getattr(self.store, "path", None)
        where = f"state.db at {path}" if isinstance(path, str) else self.store.kind
        delete = f"DELETE FROM records WHERE kind = '{self.kind}' AND key = '{kid}'"  # noqa: S608 - a hint only
        return KeyRecordError(
            f"signing-key record {kid!r} of issuer {self.kind[4:]!r} in the state store ({where})",
            reason,
            f"restore the store from a backup, or delete that record to retire the key ({delete}); "
            "stsmock never replaces it",
        )

    @contextlib.contextmanager
    def update(self) -> Iterator[tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], None]]]:
        with self.store.change() as change:
            records = self.load() or self._legacy_records()

            def save(changed: list[dict[str, Any]]) -> None:
                for record in changed:
                    self.store.put(self.kind, record["kid"], record)
                    change.note(self.topic, record["kid"])

            if records and not self.store.items(self.kind):
                save(records)
            yield records, save

    def _legacy_records(self) -> list[dict[str, Any]]:
        import json

        if self.legacy_dir is None or not self.legacy_dir.is_dir():
            return []
        out = []
        for path in sorted(self.legacy_dir.glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                log.warning("key file %s not imported (unreadable)", path)
        return out


class SharedRoles:
    """Runtime role changes (admin API) stored as ``role`` records over the config's roles."""

    def __init__(self, store: Backend, registry: RoleRegistry) -> None:
        self.store = store
        self.registry = registry
        self._config = {role.name: role for role in registry.settings.roles}

    def put(self, settings: RoleSettings) -> Any:
        role = self.registry.build(settings)  # refuse a bad role before anything is stored
        with self.store.change() as change:
            self.store.put(ROLE_KIND, settings.name, {"settings": settings.model_dump(mode="json")})
            change.note(ROLES_TOPIC, settings.name)
        self.apply({settings.name})
        return self.registry.by_name(settings.name) or role

    def remove(self, name: str) -> bool:
        with self.store.change() as change:
            record = self.store.get(ROLE_KIND, name)
            exists = (record is not None and not record.get("deleted")) or (record is None and name in self._config)
            if exists:
                self.store.put(ROLE_KIND, name, {"deleted": True})
                change.note(ROLES_TOPIC, name)
        if exists:
            self.apply({name})
        return exists

    def apply(self, names: set[str] | None) -> None:
        """Change-feed handler: bring the registry's named roles to the stored state."""
        if names is None:
            names = {key for key, _ in self.store.items(ROLE_KIND)} | {r.name for r in self.registry.all()}
        for name in names:
            record = self.store.get(ROLE_KIND, name)
            if record is None:
                if name in self._config:
                    self.registry.put(self._config[name])
                else:
                    self.registry.remove(name)
            elif record.get("deleted"):
                self.registry.remove(name)
            else:
                try:
                    self.registry.put(RoleSettings.model_validate(record["settings"]))
                except (ValueError, KeyError):
                    log.exception("stored role %r does not apply; removed here", name)
                    self.registry.remove(name)

    def forget_runtime_changes(self) -> None:
        """A fresh single-machine start: roles are the config's again (PostgreSQL fleets keep them)."""
        for name, _ in self.store.items(ROLE_KIND):
            self.store.delete(ROLE_KIND, name)


def clock_update(store: Backend) -> Callable[[Callable[[str | None], str]], None]:
    """The clock's serialised read-modify-write of its stored state."""

    def update(mutate: Callable[[str | None], str]) -> None:
        with store.change() as change:
            store.set_meta("clock", mutate(store.get_meta("clock")))
            change.note(CLOCK_TOPIC)

    return update


def shared_secret(store: Backend, name: str, size: int) -> bytes:
    """A random secret every replica shares (created once, under the feed's serialisation)."""
    stored = store.get_meta(f"secret:{name}")
    if stored is None:
        with store.change() as change:
            stored = store.get_meta(f"secret:{name}")
            if stored is None:
                stored = secrets.token_hex(size)
                store.set_meta(f"secret:{name}", stored)
                change.note("secrets", name)
    return bytes.fromhex(stored)


#: Renders a listener's own 503 for "the store cannot be reached" (S3 XML, STS XML, container JSON...).
Unavailable = Callable[[web.Request, str], web.StreamResponse]


def feed_guard(
    sync: Callable[[], object], unavailable: Unavailable, *, unguarded: frozenset[str] = frozenset()
) -> Middleware:
    """The one guard every listener runs (main app, S3 gateway, container endpoint, IMDS): apply every
    acknowledged change of shared state before deciding; when the store cannot be reached, fail closed
    with the listener's own error format. A process that cannot tell whether a revocation happened
    must not accept or hand out a credential."""

    @web.middleware
    async def apply_changes(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in unguarded:
            return await handler(request)
        try:
            sync()
            return await handler(request)
        except StoreUnavailable as exc:
            log.warning("store unavailable on %s %s: %s", request.method, request.path, exc)
            return unavailable(request, f"state store unavailable; nothing was changed or accepted ({exc})")

    return apply_changes


def sts_unavailable_body(message: str, profile: str) -> bytes:
    """The STS's own ServiceUnavailable error document (also what in-process STS callers get)."""
    error = wire_error(ServiceUnavailable(message), profile)
    return render_error(error, request_id=str(uuid.uuid4()), profile=profile)


def _unavailable(request: web.Request, message: str, profile: str) -> web.Response:
    headers = {"Retry-After": "1", "Cache-Control": "no-store"}
    if request.path in ("/", "/sts", "/sts/") or "Action" in request.query:
        body = sts_unavailable_body(message, profile)
        return web.Response(status=503, body=body, content_type="text/xml", headers=headers)
    body_json = {"error": "temporarily_unavailable", "error_description": message}
    return web.json_response(body_json, status=503, headers=headers)


def feed_middleware(feed: ChangeFeed, *, profile: str) -> Middleware:
    """The main app's guard: STS XML or OAuth/admin JSON 503s; ``/livez`` never touches the store."""
    return feed_guard(feed.sync, lambda request, message: _unavailable(request, message, profile), unguarded=UNGUARDED)
