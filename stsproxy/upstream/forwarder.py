"""Hand an AssumeRoleWithWebIdentity to a real upstream STS (MinIO, Ceph RGW, AWS).

stsmock runs its own pipeline first (validation, token verification,
revocation, trust policy, tags, session policy); only then does the
:class:`UpstreamForwarder` send the request upstream, in one of two modes:

* ``passthrough`` – the caller's token goes upstream unchanged (the upstream
  trusts the same issuer);
* ``broker`` – a built-in issuer mints a fresh token for the upstream (its
  client id as audience, claims mapped from config templates), so the upstream
  trusts only stsmock while callers may come from any trusted issuer.

The upstream's answer is relayed: credentials as the upstream issued them, in
the role's profile; errors with the upstream's HTTP status, code and message.
An unreachable upstream or a timeout is the profile's communication error
(``IDPCommunicationError``; ``InvalidParameterValue`` for MinIO), which
botocore retries for AssumeRoleWithWebIdentity (``idp_unreachable_error`` in
its retry model). Every forward is one ``upstream.forward`` audit event and is
noted on the request's decision record.

Upstream revocation (MinIO's ``revoke-tokens`` admin API) is best effort; see
:meth:`UpstreamForwarder.on_revoke` and docs/upstream.md for its limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from .. import protocol
from ..decision import DecisionRecord
from ..errors import IDPCommunicationError, InternalFailure, InvalidParameterValue, UpstreamError
from ..ports import AuditSink, Clock, TokenFacts
from ..roles import Role
from ..settings import BrokerSettings, RoleUpstreamSettings, UpstreamSettings
from ..validation import WebIdentityRequest
from .minio_admin import revoke_targets, revoke_tokens
from .wire import (
    RAW_LIMIT,
    assumed_role_arn_fallback,
    compact_json,
    normalize_expiration,
    parse_error,
    parse_success,
    raw_excerpt,
    render_claims,
)

log = logging.getLogger("stsmock.upstream")

USER_AGENT = "stsmock-upstream/1"

MintBrokerToken = Callable[[BrokerSettings, dict[str, Any], Role], str]


class UpstreamForwarder:
    """Forwards web-identity requests to named upstreams; one lazily created HTTP session per upstream."""

    def __init__(
        self,
        upstreams: Mapping[str, UpstreamSettings] | Iterable[UpstreamSettings],
        *,
        mint_broker_token: MintBrokerToken | None,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        if isinstance(upstreams, Mapping):
            self.upstreams: dict[str, UpstreamSettings] = dict(upstreams)
        else:
            self.upstreams = {u.name: u for u in upstreams}
        self.mint_broker_token = mint_broker_token
        self.clock = clock
        self.audit = audit
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._stale: list[aiohttp.ClientSession] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        try:  # built inside the server's loop (create_app / the pytest plugin): revocations can use it
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            pass
        self._pending: set[Any] = set()  # asyncio tasks and concurrent futures

    # -- configuration ---------------------------------------------------------------
    def put(self, settings: UpstreamSettings) -> None:
        """Add or replace an upstream at runtime (its HTTP session is recreated on next use)."""
        self.upstreams[settings.name] = settings
        old = self._sessions.pop(settings.name, None)
        if old is not None:
            self._stale.append(old)

    def _ssl(self, upstream: UpstreamSettings) -> ssl.SSLContext | bool:
        if not upstream.endpoint.lower().startswith("https://"):
            return True  # plain http: aiohttp ignores it
        if upstream.insecure_tls:
            return False
        context = ssl.create_default_context(cafile=upstream.ca_bundle) if upstream.ca_bundle else True
        return context

    def _session(self, upstream: UpstreamSettings) -> aiohttp.ClientSession:
        session = self._sessions.get(upstream.name)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl(upstream), limit=32)
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=upstream.timeout_seconds),
                headers={"User-Agent": USER_AGENT},
            )
            self._sessions[upstream.name] = session
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always called from a coroutine
            pass
        return session

    async def close(self) -> None:
        for future in list(self._pending):
            future.cancel()
        sessions = [*self._sessions.values(), *self._stale]
        self._sessions.clear()
        self._stale.clear()
        for session in sessions:
            if not session.closed:
                await session.close()

    # -- HTTP with retries on connection errors ------------------------------------------
    async def _post(
        self, upstream: UpstreamSettings, url: str, *, data: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, int, str | None]:
        """(status, body, attempts, request id). Retries connection failures only, never timeouts or answers."""
        attempts = 0
        while True:
            attempts += 1
            try:
                async with self._session(upstream).post(url, data=data, headers=dict(headers)) as response:
                    request_id = response.headers.get("x-amz-request-id") or response.headers.get("x-amzn-RequestId")
                    return response.status, await response.read(), attempts, request_id
            except TimeoutError:
                raise  # the upstream may have acted on it; do not repeat
            except aiohttp.ClientConnectionError:
                if attempts > upstream.retries:
                    raise
                await asyncio.sleep(min(0.1 * 2 ** (attempts - 1), 2.0))

    # -- forward -----------------------------------------------------------------------
    async def forward(
        self,
        *,
        role: Role,
        request: WebIdentityRequest,
        verified: TokenFacts,
        profile: str,
        duration: int,
        record: DecisionRecord,
        session_name: str,
    ) -> dict[str, Any]:
        config: RoleUpstreamSettings = role.settings.upstream  # type: ignore[assignment]
        upstream = self.upstreams.get(config.name)
        if upstream is None:
            raise InternalFailure(
                f"role {role.name} names upstream {config.name!r}, which is not configured",
                check="upstream-config",
            )
        policy = self._policy(config, request)
        token = self._token(config, role, request, verified)
        role_arn = config.role_arn
        if role_arn is None and upstream.kind != "minio":
            role_arn = request.role_arn  # MinIO: no RoleArn selects claim-based policy mode
        form: dict[str, str] = {"Action": "AssumeRoleWithWebIdentity", "Version": protocol.STS_VERSION}
        if role_arn:
            form["RoleArn"] = role_arn
        form["RoleSessionName"] = session_name
        form["WebIdentityToken"] = token
        if request.duration_seconds is not None or profile != "minio":
            form["DurationSeconds"] = str(duration)
        if policy is not None:
            form["Policy"] = policy
        url = upstream.endpoint.rstrip("/") + "/"
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Accept": "application/xml"}
        body = urlencode(form, quote_via=quote).encode()
        record.note(
            upstream=upstream.name, upstream_kind=upstream.kind, upstream_mode=config.mode, upstream_role_arn=role_arn
        )
        started = time.perf_counter()
        event = {
            "upstream": upstream.name,
            "kind": upstream.kind,
            "mode": config.mode,
            "role": role.name,
            "upstream_role_arn": role_arn,
            "request_id": record.request_id,
        }
        try:
            status, answer, attempts, upstream_request_id = await self._post(upstream, url, data=body, headers=headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            latency = round((time.perf_counter() - started) * 1000, 3)
            reason = "timed out" if isinstance(exc, TimeoutError) else f"unreachable ({type(exc).__name__}: {exc})"
            record.note(upstream_latency_ms=latency, upstream_error=reason[:RAW_LIMIT])
            self.audit.record(
                "upstream.forward",
                **event,
                status=None,
                latency_ms=latency,
                outcome="error",
                code="IDPCommunicationError",
                error=reason[:RAW_LIMIT],
            )
            raise IDPCommunicationError(
                f"Couldn't get a response from the upstream STS {upstream.name}: {reason}"[:512],
                check="upstream-unreachable",
                detail={"upstream": upstream.name, "endpoint": upstream.endpoint},
            ) from None
        latency = round((time.perf_counter() - started) * 1000, 3)
        record.note(
            upstream_status=status,
            upstream_latency_ms=latency,
            upstream_request_id=upstream_request_id,
            upstream_attempts=attempts if attempts > 1 else None,
        )
        if status != 200:
            code, message = parse_error(status, answer)
            record.note(upstream_code=code)
            self.audit.record(
                "upstream.forward",
                **event,
                status=status,
                latency_ms=latency,
                outcome="deny",
                code=code,
                message=message[:RAW_LIMIT],
                upstream_request_id=upstream_request_id,
            )
            raise UpstreamError(message, upstream_code=code, upstream_status=status)
        parsed = parse_success(answer)
        if parsed is None:
            raw = raw_excerpt(answer)
            self.audit.record(
                "upstream.forward",
                **event,
                status=status,
                latency_ms=latency,
                outcome="error",
                code="InternalFailure",
                error=f"unparsable success body: {raw}",
            )
            raise InternalFailure(
                f"The upstream STS {upstream.name} answered 200 without usable credentials",
                check="upstream-response",
                detail={"upstream": upstream.name, "body": raw},
            )
        self.audit.record(
            "upstream.forward",
            **event,
            status=status,
            latency_ms=latency,
            outcome="allow",
            code=None,
            access_key=parsed["AccessKeyId"],
            upstream_request_id=upstream_request_id or parsed["RequestId"],
        )
        record.note(
            upstream_access_key=parsed["AccessKeyId"], upstream_request_id=upstream_request_id or parsed["RequestId"]
        )
        expiration = parsed["Expiration"] or protocol.format_expiration(self.clock.now() + duration)
        packed = parsed["PackedPolicySize"]
        return protocol.web_identity_result(
            profile,
            credentials=(
                parsed["AccessKeyId"],
                parsed["SecretAccessKey"],
                parsed["SessionToken"] or "",
                normalize_expiration(expiration),
            ),
            subject=parsed["Subject"] or str(verified.claims.get("sub", "")),
            audience=parsed["Audience"] or verified.audience,
            assumed_role_arn=parsed["Arn"] or assumed_role_arn_fallback(role_arn, session_name, upstream.kind),
            assumed_role_id=parsed["AssumedRoleId"] or None,
            provider=parsed["Provider"] or None,
            packed_policy_size=int(packed) if packed and packed.isdigit() else None,
            source_identity=parsed["SourceIdentity"] or None,
        )

    def _policy(self, config: RoleUpstreamSettings, request: WebIdentityRequest) -> str | None:
        """The one ``Policy`` sent upstream.

        An upstream STS takes a single session policy, and the intersection of two
        arbitrary policies cannot be written as one, so a role that injects a policy
        refuses a caller's own Policy instead of silently dropping either one.
        PolicyArns name stsmock's managed policies, which the upstream does not know.
        """
        if request.policy_arns:
            raise InvalidParameterValue(
                "PolicyArns cannot be forwarded to the upstream STS of this role; send an inline Policy",
                check="upstream-session-policy",
            )
        if config.session_policy is not None:
            if request.policy is not None:
                raise InvalidParameterValue(
                    "This role adds its own session policy for the upstream STS; a caller Policy cannot be "
                    "combined with it",
                    check="upstream-session-policy",
                )
            return compact_json(config.session_policy)
        if request.policy is not None:
            try:  # compact it: RGW rejects policies with whitespace
                return compact_json(json.loads(request.policy))
            except ValueError:
                return str(request.policy)
        return None

    def _token(
        self, config: RoleUpstreamSettings, role: Role, request: WebIdentityRequest, verified: TokenFacts
    ) -> str:
        if config.mode == "passthrough":
            return str(request.web_identity_token)
        broker = config.broker
        if broker is None or self.mint_broker_token is None:
            raise InternalFailure("broker mode without a broker issuer", check="upstream-config")
        claims = {"sub": "{claims.sub}", **broker.claims}
        rendered = render_claims(claims, verified.claims, role)
        rendered["aud"] = broker.audience
        try:
            return self.mint_broker_token(broker, rendered, role)
        except (KeyError, ValueError) as exc:
            raise InternalFailure(f"cannot mint the broker token: {exc}", check="upstream-broker") from None

    # -- upstream revocation (MinIO) ------------------------------------------------------
    def minio_revoke_targets(self) -> list[UpstreamSettings]:
        return revoke_targets(self.upstreams)

    def on_revoke(self, revocation: Mapping[str, Any]) -> None:
        """Registry hook (sync, any thread): schedule best-effort upstream revocations."""
        if revocation.get("by") not in ("sub", "access_key"):
            return
        targets = self.minio_revoke_targets()
        if not targets:
            return
        loop = self._loop
        for upstream in targets:
            coro = self.revoke_minio(upstream, revocation)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not None:
                task = running.create_task(coro)
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            elif loop is not None and loop.is_running():
                future = asyncio.run_coroutine_threadsafe(coro, loop)
                self._pending.add(future)
                future.add_done_callback(self._pending.discard)
            else:
                coro.close()
                self.audit.record(
                    "upstream.revoke",
                    upstream=upstream.name,
                    outcome="skipped",
                    revocation_id=revocation.get("id"),
                    error="no event loop (no request has been forwarded yet)",
                )

    async def revoke_minio(self, upstream: UpstreamSettings, revocation: Mapping[str, Any]) -> dict[str, Any]:
        """Best-effort MinIO ``revoke-tokens`` call; see :func:`.minio_admin.revoke_tokens`."""
        return await revoke_tokens(self._post, self.audit, upstream, revocation)
