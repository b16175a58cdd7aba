"""The S3 gateway listener of ``stsmock serve``: its own aiohttp app on its own port.

The STS credential plane is adapted to the gateway's ports here, in one place: credentials come
from the STS resolver (static users, minted sessions, the store's session records, revocations),
decisions from the same policy engine (role permissions ∩ session policy).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import re
import socket
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from stsproxy.auth import CredentialChain
from stsproxy.errors import ExpiredToken, StsError
from stsproxy.gateway.backends import READ_BUFFER, Backend, BackendRouter
from stsproxy.gateway.errors import S3Error, render
from stsproxy.gateway.ports import Decision, Principal
from stsproxy.gateway.proxy import Gateway
from stsproxy.gateway.settings import GatewaySettings
from stsproxy.permissions import Permissions

from .backends.seaweedfs import INSTALL_HINT, SeaweedFS
from .connections import GuardedSockSite, Limits
from .shared import feed_guard
from .wire_errors import s3_errors

if TYPE_CHECKING:
    from .app import Runtime

log = logging.getLogger("stsmock.gateway")
_REVOCATION = re.compile(r"(revocation #\d+ .*)$")


def s3_error_for(exc: StsError) -> S3Error:
    """The STS resolver's refusals, in S3's words (RequestId etc. are added by the proxy)."""
    if exc.check == "revoked":
        found = _REVOCATION.search(exc.message)
        what = found.group(1) if found else "revoked"
        return S3Error("AccessDenied", f"Access Denied: these credentials were revoked ({what})", 403, "revoked")
    if isinstance(exc, ExpiredToken):
        return S3Error("ExpiredToken", "The provided token has expired.", 400, exc.check)
    if exc.check in ("sigv4-unknown-key",):
        return S3Error(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403, exc.check
        )
    if exc.code == "InvalidClientTokenId":
        return S3Error("InvalidToken", "The provided token is malformed or otherwise invalid.", 400, exc.check)
    return S3Error("AccessDenied", "Access Denied", 403, exc.check)


class StsCredentials:
    """CredentialSource over the STS credential chain (static keys → sealed sessions → known → not revoked)."""

    def __init__(self, chain: CredentialChain) -> None:
        self._chain = chain

    def resolve(self, access_key: str, session_token: str | None, now: float) -> tuple[str, Principal]:
        try:
            found = self._chain.principal(access_key, session_token, now)
        except StsError as exc:
            err = s3_error_for(exc)
            if err.code == "InvalidAccessKeyId":
                err.extra["AWSAccessKeyId"] = access_key
            raise err from None
        session: Mapping[str, Any] = found.session
        return found.secret_key, Principal(
            access_key=access_key,
            kind=found.kind or "user",
            arn=session.get("arn"),
            sub=session.get("sub"),
            role_arn=session.get("role_arn"),
            session_name=session.get("session_name"),
            session=session,
        )


def _statement(matched: Any) -> str:
    label = f"statement '{matched.sid}' (index {matched.index})" if matched.sid else f"statement index {matched.index}"
    return f"{label} of policy '{matched.policy}'"


class StsAuthorizer:
    """Authorizer over the STS policy evaluation: role permissions ∩ session policies."""

    def __init__(self, permissions: Permissions) -> None:
        self._permissions = permissions

    def decide(self, principal: Principal, action: str, resource: str, context: Mapping[str, Any]) -> Decision:
        decision = self._permissions.evaluate(principal.session, action, resource, context)
        if decision is None:
            return Decision(True, "static user without policies", "unrestricted static user")
        statement = _statement(decision.matched[0]) if decision.matched else None
        return Decision(decision.allowed, statement, decision.reason)

    def condition_keys(
        self, principal: Principal, action: str, resource: str, context: Mapping[str, Any], *, prefix: str = ""
    ) -> frozenset[str]:
        return self._permissions.condition_keys(principal.session, action, resource, context, prefix=prefix)


@dataclass
class EmbeddedInfo:
    """What workers need to use a SeaweedFS their parent started."""

    directory: str
    ports: dict[str, int]


def embedded_for(settings: GatewaySettings, data_dir: Path) -> SeaweedFS | None:
    if settings.backends or not settings.embedded.enabled:
        return None
    return SeaweedFS(data_dir / "seaweedfs", binary=settings.embedded.binary)


class _Ready:
    """Await the embedded store once per process; later requests pass straight through."""

    def __init__(self, store: SeaweedFS) -> None:
        self._store = store
        self._done = False
        self._lock: asyncio.Lock | None = None

    async def __call__(self) -> None:
        if self._done:
            return
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if not self._done:
                try:
                    await self._store.wait_ready()
                except RuntimeError as exc:
                    raise S3Error(
                        "ServiceUnavailable", f"The embedded S3 store is not available: {exc}", 503, "backend-embedded"
                    ) from exc
                self._done = True


def build_router(settings: GatewaySettings, store: SeaweedFS | None) -> BackendRouter:
    if settings.backends:
        return BackendRouter.from_settings(settings)
    if store is None or not store.available:
        return BackendRouter([], unavailable=f"No S3 backend: {INSTALL_HINT}.")
    store.ports  # noqa: B018 - loads (or picks) the ports before the first request
    if not store.access_key:
        store._identity_file()
    backend = Backend("embedded", store.endpoint, "us-east-1", store.access_key, store.secret_key, ready=_Ready(store))
    return BackendRouter([backend])


@dataclass
class GatewayListener:
    url: str
    runner: web.AppRunner
    router: BackendRouter

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.router.close()


def _audit_sink(runtime: Runtime) -> Any:
    async def sink(record: dict[str, Any]) -> None:
        async with runtime.audit.batched():
            runtime.audit.record("s3.request", **record)

    return sink


async def start_listener(
    runtime: Runtime,
    sock: socket.socket,
    store: SeaweedFS | None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    limits: Limits | None = None,
) -> GatewayListener:
    """Serve the gateway on ``sock`` until ``stop()`` (TLS with ``ssl_context``, the server's connection limits)."""
    settings: GatewaySettings = runtime.config.gateway
    router = build_router(settings, store)
    gateway = Gateway(
        settings,
        router,
        StsCredentials(runtime.sts.chain),
        StsAuthorizer(runtime.sts.permissions),
        _audit_sink(runtime),
        runtime.clock.now,
    )
    app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=[_feed_sync(runtime)])
    gateway.add_routes(app)
    idle: dict[str, Any] = {"keepalive_timeout": limits.idle_timeout, "shutdown_timeout": 5.0} if limits else {}
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, auto_decompress=False, read_bufsize=READ_BUFFER, **idle
    )
    await runner.setup()
    # the server's limits (the pytest plugin's listener: the defaults); connection-level errors in S3 XML
    await GuardedSockSite(
        runner,
        sock,
        limits=dataclasses.replace(limits or Limits(), open=0, rejected=0),
        ssl_context=ssl_context,
        error_format=s3_errors,
    ).start()
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - display only
    scheme = "https" if ssl_context is not None else "http"
    url = f"{scheme}://[{shown}]:{port}" if ":" in shown else f"{scheme}://{shown}:{port}"
    if router.unavailable:
        log.warning("S3 gateway at %s has no backend: %s", url, INSTALL_HINT)
    return GatewayListener(url, runner, router)


def _feed_sync(runtime: Runtime) -> Any:
    """Apply every acknowledged change (revocations, roles, keys) before deciding; fail closed without the store."""

    def unavailable(request: web.Request, message: str) -> web.Response:
        body = render(
            S3Error("ServiceUnavailable", message, status=503),
            resource=request.path,
            request_id=uuid.uuid4().hex.upper()[:16],
        )
        return web.Response(status=503, body=body, content_type="application/xml", headers={"Retry-After": "1"})

    return feed_guard(runtime.feed.sync, unavailable)


@dataclass
class GatewayService:
    """What ``serve`` holds: the listener and, when this process started it, the embedded store."""

    listener: GatewayListener
    store: SeaweedFS | None

    @property
    def url(self) -> str:
        return self.listener.url

    async def stop(self) -> None:
        await self.listener.stop()
        if self.store is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.store.stop)


def start_store(settings: GatewaySettings, data_dir: Path) -> SeaweedFS | None:
    """Start the embedded store when it is the backend (``None`` if configured backends or not installed)."""
    store = embedded_for(settings, data_dir)
    if store is None or not store.available:
        return store
    store.start()
    return store


def bind_gateway(options: Any, bind: Callable[..., socket.socket], *, reuse_port: bool) -> socket.socket:
    """The S3 listener's socket; the default port, when taken, gives way to a free one (named in the ready line)."""
    host = options.config.gateway.host or options.host
    try:
        return bind(host, options.s3_port, reuse_port=reuse_port)
    except OSError as exc:
        if not options.s3_port_fallback or exc.errno != errno.EADDRINUSE or reuse_port:
            raise
        log.warning("S3 gateway port %d is in use; using a free port (pass --s3-port to choose one)", options.s3_port)
        return bind(host, 0, reuse_port=reuse_port)


async def serve_gateway(
    runtime: Runtime,
    options: Any,
    *,
    worker: int,
    bind: Callable[..., socket.socket],
    ssl_context: ssl.SSLContext | None = None,
    limits: Limits | None = None,
) -> GatewayService | None:
    """The S3 listener for ``serve`` (None when disabled); workers share the parent's port and store.

    ``bind(host, port, reuse_port=)`` is the server's socket factory."""
    settings: GatewaySettings = runtime.config.gateway
    if options.s3_port is None or not settings.enabled:
        return None
    sock = bind_gateway(options, bind, reuse_port=worker > 0)
    store, owned = options.s3_store, False
    if store is None and worker == 0:
        store = start_store(settings, runtime.data_dir)
        owned = store is not None and store.available
    try:
        listener = await start_listener(runtime, sock, store, ssl_context=ssl_context, limits=limits)
    except BaseException:
        if owned and store is not None:
            store.stop()
        raise
    return GatewayService(listener, store if owned else None)


_TEST_STORE: SeaweedFS | None = None


async def s3_test_listener(runtime: Runtime) -> GatewayListener:
    """For the pytest plugin: a gateway on a free port; configured backends, or one shared embedded
    SeaweedFS per process (started on first use, stopped at exit)."""
    global _TEST_STORE
    settings: GatewaySettings = runtime.config.gateway
    store = None
    if not settings.backends:
        if _TEST_STORE is None:
            import atexit
            import tempfile

            _TEST_STORE = SeaweedFS(Path(tempfile.mkdtemp(prefix="stsmock-s3-")), binary=settings.embedded.binary)
            if _TEST_STORE.available:
                _TEST_STORE.start()
                atexit.register(_TEST_STORE.stop)
        store = _TEST_STORE
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.setblocking(False)
    return await start_listener(runtime, sock, store)
