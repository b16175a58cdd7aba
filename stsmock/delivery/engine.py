"""Workload bindings and their credentials: obtain, keep fresh, hand out, audit.

One :class:`Binding` per workload. Its credentials come from the STS pipeline
(AssumeRoleWithWebIdentity with the workload's token) and are rotated by
:func:`timing.needs_rotation` — by the background loop before any client asks,
and on demand as a fallback. A failed refresh keeps serving the old credentials
while they are valid (like the EKS Pod Identity agent) and is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import files, timing
from .identity import default_subject, web_identity_token
from .ports import DeliveryPorts
from .settings import BindingSettings, DeliverySettings, role_name_of
from .wire import Credentials, StsFailure, iso_z, parse_sts_answer

log = logging.getLogger("stsmock.delivery")

#: Seconds between background passes (real time; rotation decisions use the virtual clock).
LOOP_INTERVAL = 0.5


class BindingRefused(Exception):
    """A channel must refuse this request: HTTP status, error code and message for the channel's format."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Binding:
    settings: BindingSettings
    container_token: str
    #: Epoch (virtual clock) after which every channel refuses the binding; None = never.
    expires_at: float | None = None
    current: Credentials | None = None
    rotations: int = 0
    served: int = 0
    last_error: str | None = None
    token_file_written: float = 0.0
    imds_port: int | None = None
    #: Made through the admin API and kept in the store (delivery/shared.py), not from the config.
    shared: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def role_name(self) -> str:
        imds = self.settings.imds
        return (imds.role_name if imds and imds.role_name else None) or role_name_of(self.settings.role_arn)

    def describe(self, engine: DeliveryEngine) -> dict[str, Any]:
        s = self.settings
        current = self.current
        return {
            "name": s.name,
            "role_arn": s.role_arn,
            "identity": {"kind": s.identity.kind, "issuer": s.identity.issuer, "sub": default_subject(s)},
            "expires_at": self.expires_at,
            "container": {"url": engine.container_url, "enabled": s.container and engine.container_url is not None},
            "imds": (
                {"url": f"http://{engine.url_host(engine.settings.imds.host)}:{self.imds_port}/", "v1": s.imds.v1}
                if s.imds is not None and self.imds_port
                else ({"url": None, "v1": s.imds.v1} if s.imds is not None else None)
            ),
            "files": engine.file_paths(self),
            "token_file": str(engine.token_file_path(self)) if s.token_file else None,
            "credentials": (
                {"access_key_id": current.access_key_id, "expiration": iso_z(current.expiration)} if current else None
            ),
            "rotations": self.rotations,
            "served": self.served,
            "last_error": self.last_error,
        }


def _token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class DeliveryEngine:
    def __init__(self, settings: DeliverySettings, ports: DeliveryPorts, *, data_dir: Path) -> None:
        self.settings = settings
        self.ports = ports
        self.directory = data_dir / "delivery"
        self.bindings: dict[str, Binding] = {}
        self._by_token: dict[bytes, str] = {}
        self.container_url: str | None = None
        self._task: asyncio.Task[None] | None = None
        #: Awaited for each binding made at runtime (e.g. start its IMDS instance); a failure undoes it.
        self.on_added: list[Callable[[Binding], Awaitable[None]]] = []
        #: Called for each removed binding (e.g. stop its IMDS instance).
        self.on_removed: list[Callable[[Binding], None]] = []
        for spec in settings.bindings:
            self.add(spec, audit=False)

    # ----------------------------------------------------------------- registry
    def add(self, spec: BindingSettings, *, ttl_seconds: float | None = None, audit: bool = True) -> Binding:
        if spec.name in self.bindings:
            raise ValueError(f"a binding named {spec.name!r} exists")
        if len(self.bindings) >= self.settings.max_bindings:
            raise OverflowError(f"at most {self.settings.max_bindings} bindings (delivery.max_bindings)")
        token = spec.container_token or self._stored_token(spec.name)
        binding = Binding(spec, token)
        if ttl_seconds is not None:
            binding.expires_at = self.ports.clock.now() + ttl_seconds
        self.bindings[spec.name] = binding
        self._by_token[_token_digest(token)] = spec.name
        if audit:
            self.ports.audit.record(
                "delivery.binding_added", severity="high", binding=spec.name, role_arn=spec.role_arn
            )
        return binding

    async def create(self, spec: BindingSettings, *, ttl_seconds: float | None = None) -> Binding:
        """Add a binding at runtime and prepare its channels (IMDS instance, token file)."""
        binding = self.add(spec, ttl_seconds=ttl_seconds)
        try:
            for hook in self.on_added:
                await hook(binding)
            if spec.token_file:
                await self.write_token_file(binding)
        except BaseException:
            self.remove(spec.name)
            raise
        await self.prefetch(binding)
        return binding

    async def prefetch(self, binding: Binding) -> None:
        """Get the first credentials now, so the first client is answered from memory (IMDS clients
        give up after 1 s); a refusal is kept for the channels to report."""
        with contextlib.suppress(BindingRefused, StsFailure):
            await self._fresh(binding)

    def remove(self, name: str) -> bool:
        binding = self.bindings.pop(name, None)
        if binding is None:
            return False
        self._by_token.pop(_token_digest(binding.container_token), None)
        self.ports.audit.record("delivery.binding_removed", severity="high", binding=name)
        for callback in self.on_removed:
            callback(binding)
        return True

    def forget_credentials(self, role_names: set[str] | None = None) -> None:
        """Change-feed handler (revocations: all; roles: the bindings of those roles). The next handout
        asks the STS again, so a revoked credential or a removed role is never handed out from memory."""
        for binding in self.bindings.values():
            if role_names is None or role_name_of(binding.settings.role_arn) in role_names:
                binding.current = None

    def _stored_token(self, name: str) -> str:
        """A per-binding container token, kept in the data dir so a restart keeps workloads working."""
        path = self.directory / "tokens" / f"{name}.token"
        try:
            token = path.read_text(encoding="utf-8").strip()
            if len(token) >= 16:
                return token
        except OSError:
            pass
        token = secrets.token_urlsafe(32)
        files.write_private(path, token)
        return token

    def by_container_token(self, presented: str) -> Binding | None:
        """Exact match (no stripping: a trailing newline is the workload's bug), compared in constant time."""
        name = self._by_token.get(_token_digest(presented))
        binding = self.bindings.get(name) if name else None
        if binding is None or not hmac.compare_digest(binding.container_token.encode(), presented.encode()):
            return None
        return binding

    def token_file_path(self, binding: Binding) -> Path:
        return files.resolve(self.directory, binding.settings.token_file or f"{binding.name}.web-identity-token")

    def file_paths(self, binding: Binding) -> dict[str, str | None] | None:
        spec = binding.settings.files
        if spec is None:
            return None
        return {
            "credentials": str(files.resolve(self.directory, spec.credentials)) if spec.credentials else None,
            "env": str(files.resolve(self.directory, spec.env)) if spec.env else None,
            "profile": spec.profile,
        }

    @staticmethod
    def url_host(host: str) -> str:
        return f"[{host}]" if ":" in host else host

    # ----------------------------------------------------------------- credentials
    async def credentials(self, binding: Binding, channel: str, *, peer: str | None = None) -> Credentials:
        """Fresh credentials for one handout on ``channel``; every handout is audited."""
        now = self.ports.clock.now()
        if binding.expires_at is not None and now >= binding.expires_at:
            self.ports.audit.record(
                "delivery.refused", severity="warning", binding=binding.name, channel=channel, reason="binding-expired"
            )
            raise BindingRefused(
                403, "ExpiredBinding", f"binding {binding.name!r} expired at {iso_z(binding.expires_at)}"
            )
        creds = await self._fresh(binding)
        binding.served += 1
        self.ports.audit.record(
            "delivery.credentials",
            binding=binding.name,
            channel=channel,
            role_arn=binding.settings.role_arn,
            access_key=creds.access_key_id,
            expires=iso_z(creds.expiration),
            remaining_s=round(creds.expiration - now, 1),
            peer=peer,
        )
        return creds

    async def _fresh(self, binding: Binding) -> Credentials:
        async with binding.lock:
            now = self.ports.clock.now()
            current = binding.current
            margin = binding.settings.refresh_before_expiry_seconds
            if current is not None and not timing.needs_rotation(now, current.expiration, current.lifetime, margin):
                return current
            try:
                return await self._rotate(binding)
            except StsFailure as failure:
                binding.last_error = f"{failure.code}: {failure.message}"
                self.ports.audit.record(
                    "delivery.refresh_failed",
                    severity="warning",
                    binding=binding.name,
                    code=failure.code,
                    message=failure.message,
                    kept_old=current is not None and current.expiration > now,
                )
                if current is not None and current.expiration > now:
                    return current  # keep the old ones while valid; the next pass retries
                raise BindingRefused(
                    400 if failure.status < 500 else 500, failure.code, f"the STS refused: {failure.message}"
                ) from None

    async def _rotate(self, binding: Binding) -> Credentials:
        spec = binding.settings
        token = await web_identity_token(spec, self.ports)
        params = {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": spec.role_arn,
            "RoleSessionName": spec.session_name or spec.name,
            "WebIdentityToken": token,
        }
        if spec.duration_seconds is not None:
            params["DurationSeconds"] = str(spec.duration_seconds)
        status, body = await self.ports.sts(params)
        creds = parse_sts_answer(status, body, now=self.ports.clock.now())
        old = binding.current
        binding.current = creds
        binding.rotations += 1
        binding.last_error = None
        self.ports.audit.record(
            "delivery.rotated",
            binding=spec.name,
            role_arn=spec.role_arn,
            access_key=creds.access_key_id,
            previous=old.access_key_id if old else None,
            expires=iso_z(creds.expiration),
            lifetime_s=round(creds.lifetime, 1),
        )
        self._write_files(binding, creds)
        return creds

    def _write_files(self, binding: Binding, creds: Credentials) -> None:
        paths = self.file_paths(binding)
        if not paths:
            return
        files.write_credential_files(
            creds,
            credentials=Path(paths["credentials"]) if paths["credentials"] else None,
            env=Path(paths["env"]) if paths["env"] else None,
            profile=binding.settings.files.profile if binding.settings.files else "default",
            region=self.ports.region,
        )

    async def write_token_file(self, binding: Binding) -> Path:
        path = self.token_file_path(binding)
        files.write_private(path, await web_identity_token(binding.settings, self.ports))
        binding.token_file_written = self.ports.clock.now()
        return path

    # ----------------------------------------------------------------- background
    async def tick(self) -> None:
        """One pass: rotate what is due, before any client asks, and refresh token files."""
        now = self.ports.clock.now()
        for binding in list(self.bindings.values()):
            if binding.expires_at is not None and now >= binding.expires_at:
                continue
            spec = binding.settings
            try:
                if binding.current is not None or spec.files is not None:
                    await self._fresh(binding)
                if spec.token_file and now - binding.token_file_written >= spec.identity.ttl_seconds / 2:
                    await self.write_token_file(binding)
            except (BindingRefused, StsFailure) as exc:
                log.warning("binding %s: %s", binding.name, exc)
            except Exception:  # one broken binding must not stop the others
                log.exception("binding %s: background refresh failed", binding.name)

    async def _loop(self) -> None:
        while True:
            # other processes' bindings and revocations reach the listeners between requests too
            with contextlib.suppress(Exception):
                self.ports.sync_state()
            await self.tick()
            await asyncio.sleep(LOOP_INTERVAL)

    async def start(self) -> None:
        for binding in list(self.bindings.values()):
            await self.prefetch(binding)
        await self.tick()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
