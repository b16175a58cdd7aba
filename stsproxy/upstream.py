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
import hashlib
import json
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode
from xml.etree import ElementTree as ET  # noqa: S405 - parsing our configured upstream's answer

import aiohttp

from . import protocol
from .decision import DecisionRecord
from .errors import IDPCommunicationError, InternalFailure, InvalidParameterValue, UpstreamError
from .ports import AuditSink, Clock
from .roles import Role
from .settings import BrokerSettings, RoleUpstreamSettings, UpstreamSettings

log = logging.getLogger("stsmock.upstream")

#: Raw upstream text kept in messages and audit records (RGW's error bodies can be long or odd).
RAW_LIMIT = 300
USER_AGENT = "stsmock-upstream/1"

#: A code for an upstream error whose body has no parsable ``Error/Code``, by HTTP status.
STATUS_CODES: dict[int, str] = {
    400: "InvalidParameterValue",
    401: "AccessDenied",
    403: "AccessDenied",
    404: "NoSuchEntity",
    405: "InvalidAction",
    409: "EntityAlreadyExists",
    413: "ValidationError",
    429: "Throttling",
    500: "InternalFailure",
    502: "ServiceUnavailable",
    503: "ServiceUnavailable",
    504: "ServiceUnavailable",
}

_TEMPLATE = re.compile(r"\{(claims|role)\.([A-Za-z0-9_:.\-/]+)\}")
_WHOLE_TEMPLATE = re.compile(r"^\{(claims|role)\.([A-Za-z0-9_:.\-/]+)\}$")

MintBrokerToken = Callable[[BrokerSettings, dict[str, Any], Role], str]


# --------------------------------------------------------------------------- pure helpers


def compact_json(document: Any) -> str:
    """Policies go upstream as compact JSON: RGW rejects JSON with spaces (MalformedPolicyDocument)."""
    return json.dumps(document, separators=(",", ":"))


def _role_facts(role: Role) -> dict[str, Any]:
    return {"name": role.name, "arn": role.arn, "id": role.role_id, "profile": role.profile}


def render_claims(templates: Mapping[str, Any], claims: Mapping[str, Any], role: Role) -> dict[str, Any]:
    """Fill ``{claims.X}`` / ``{role.name}`` templates (recursively in lists and mappings).

    A value that is exactly one template keeps the referenced value's type (a
    ``groups`` list stays a list) and drops the claim when the reference is
    missing; templates inside longer strings are substituted as text (missing
    ones as the empty string).
    """
    facts = {"claims": dict(claims), "role": _role_facts(role)}
    missing = object()

    def lookup(kind: str, name: str) -> Any:
        return facts[kind].get(name, missing)

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            whole = _WHOLE_TEMPLATE.match(value)
            if whole:
                return lookup(whole.group(1), whole.group(2))
            return _TEMPLATE.sub(lambda m: "" if (v := lookup(m.group(1), m.group(2))) is missing else str(v), value)
        if isinstance(value, list):
            return [v for v in (fill(item) for item in value) if v is not missing]
        if isinstance(value, Mapping):
            return {k: v for k, v in ((k, fill(item)) for k, item in value.items()) if v is not missing}
        return value

    out = {key: fill(value) for key, value in templates.items()}
    return {key: value for key, value in out.items() if value is not missing}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _strip_ns(root: ET.Element) -> ET.Element:
    """Namespaces differ (MinIO: STS ns on the root; RGW: none or another): compare local names only."""
    for element in root.iter():
        element.tag = _local(element.tag)
    return root


def _parse_xml(body: bytes) -> ET.Element | None:
    try:
        return _strip_ns(ET.fromstring(body))  # noqa: S314 - upstream is a configured, trusted endpoint
    except ET.ParseError:
        return None


def _text(element: ET.Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    if found is None:
        return None
    return (found.text or "").strip()


def _raw(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "…"


def parse_error(status: int, body: bytes) -> tuple[str, str]:
    """(code, message) of an upstream error answer.

    STS ``ErrorResponse/Error/{Code,Message}`` and S3-style ``Error/{Code,Message}``
    are read namespace-agnostically. Anything else (RGW 16.2 answers STS errors
    with bodies boto3 cannot parse either) gets a code derived from the status
    and the raw text, truncated, as its message.
    """
    root = _parse_xml(body) if body else None
    code = message = None
    if root is not None:
        error = root if root.tag == "Error" else root.find(".//Error")
        if error is not None:
            code = _text(error, "Code") or None
            message = _text(error, "Message") or None
    if code is None:
        code = STATUS_CODES.get(status) or ("InternalFailure" if status >= 500 else "InvalidParameterValue")
        raw = _raw(body)
        message = f"The upstream STS answered HTTP {status}" + (f": {raw}" if raw else " with an empty body")
    elif message is None:  # RGW 16.2: <Error><Code>AccessDenied</Code><Message></Message>…
        message = f"The upstream STS answered HTTP {status} {code} without a message"
    return code, message


_CLIENT_SAFE_EXPIRATION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_EXPIRATION_PARTS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def normalize_expiration(value: str) -> str:
    """The upstream's Expiration verbatim when every client parses it, else whole seconds in UTC ``Z``.

    minio-py only parses ``%Y-%m-%dT%H:%M:%SZ`` and ``%Y-%m-%dT%H:%M:%S.%fZ`` (at
    most 6 fraction digits). RGW sends nanoseconds (``…:03.449632151Z``) and some
    servers send ``+00:00``: those are rewritten, truncating (never extending) the lifetime.
    """
    text = value.strip()
    if _CLIENT_SAFE_EXPIRATION.match(text):
        return text
    parts = _EXPIRATION_PARTS.match(text)
    if parts is None:
        return text
    zone = parts.group(3) or "Z"
    try:
        moment = datetime.fromisoformat(parts.group(1) + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return text
    return protocol.format_expiration(moment.astimezone(UTC))


def parse_success(body: bytes) -> dict[str, Any] | None:
    """The interesting parts of an ``AssumeRoleWithWebIdentityResponse``, or None when unusable."""
    root = _parse_xml(body)
    if root is None:
        return None
    result = root.find("AssumeRoleWithWebIdentityResult")
    if result is None:
        result = next((e for e in root.iter() if e.tag.endswith("Result")), None)
    if result is None:
        return None
    creds = result.find("Credentials")
    if creds is None:
        return None
    out = {
        "AccessKeyId": _text(creds, "AccessKeyId"),
        "SecretAccessKey": _text(creds, "SecretAccessKey"),
        "SessionToken": _text(creds, "SessionToken"),
        "Expiration": _text(creds, "Expiration"),
        "Subject": _text(result, "SubjectFromWebIdentityToken"),
        "Audience": _text(result, "Audience"),
        "Provider": _text(result, "Provider"),
        "PackedPolicySize": _text(result, "PackedPolicySize"),
        "SourceIdentity": _text(result, "SourceIdentity"),
        "Arn": _text(result, "AssumedRoleUser/Arn"),
        # AWS says AssumedRoleId; MinIO's struct says AssumeRoleId.
        "AssumedRoleId": (
            _text(result, "AssumedRoleUser/AssumedRoleId") or _text(result, "AssumedRoleUser/AssumeRoleId")
        ),
        "RequestId": _text(root, "ResponseMetadata/RequestId"),
    }
    if not (out["AccessKeyId"] and out["SecretAccessKey"]):
        return None
    return out


def assumed_role_arn_fallback(role_arn: str | None, session_name: str) -> str | None:
    """``arn:P:iam::A:role/PATH/NAME`` -> ``arn:P:sts::A:assumed-role/NAME/SESSION`` (MinIO sends empty Arns)."""
    if not role_arn:
        return None
    match = re.match(r"^arn:([^:]*):iam::([^:]*):role/(?:.*/)?([^/]+)$", role_arn)
    if not match:
        return None
    partition, account, name = match.groups()
    return f"arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}"


# --------------------------------------------------------------------------- the forwarder


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
        request: Any,
        verified: Any,
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
            raw = _raw(answer)
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
            assumed_role_arn=parsed["Arn"] or assumed_role_arn_fallback(role_arn, session_name),
            assumed_role_id=parsed["AssumedRoleId"] or None,
            provider=parsed["Provider"] or None,
            packed_policy_size=int(packed) if packed and packed.isdigit() else None,
            source_identity=parsed["SourceIdentity"] or None,
        )

    def _policy(self, config: RoleUpstreamSettings, request: Any) -> str | None:
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

    def _token(self, config: RoleUpstreamSettings, role: Role, request: Any, verified: Any) -> str:
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
        return [u for u in self.upstreams.values() if u.kind == "minio" and u.admin_access_key and u.admin_secret_key]

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
        """``POST /minio/admin/v3/revoke-tokens/{provider}?user=X&fullRevoke=true``, SigV4 (service s3).

        MinIO lets an admin revoke another user's STS tokens only for ``builtin``
        and ``ldap`` users; for ``openid`` users it refuses (only a self-revoke with
        the STS credential itself works). The answer is audited either way.
        """
        url = minio_revoke_url(upstream, str(revocation.get("value", "")))
        headers = sign_admin_request(upstream, "POST", url, b"")
        started = time.perf_counter()
        event = {
            "upstream": upstream.name,
            "kind": upstream.kind,
            "revocation_id": revocation.get("id"),
            "by": revocation.get("by"),
            "provider": upstream.revoke_user_provider,
        }
        try:
            status, answer, _, _ = await self._post(upstream, url, data=b"", headers=headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            latency = round((time.perf_counter() - started) * 1000, 3)
            outcome = {"outcome": "error", "status": None, "latency_ms": latency, "error": str(exc)[:RAW_LIMIT]}
            self.audit.record("upstream.revoke", **event, **outcome)
            return outcome
        latency = round((time.perf_counter() - started) * 1000, 3)
        if status in (200, 204):
            outcome = {"outcome": "revoked", "status": status, "latency_ms": latency}
        else:
            code, message = parse_error(status, answer)
            outcome = {
                "outcome": "refused",
                "status": status,
                "latency_ms": latency,
                "code": code,
                "message": message[:RAW_LIMIT],
            }
        self.audit.record("upstream.revoke", **event, **outcome)
        return outcome


def minio_revoke_url(upstream: UpstreamSettings, user: str) -> str:
    query = urlencode({"user": user, "fullRevoke": "true"}, quote_via=quote)
    provider = quote(upstream.revoke_user_provider, safe="")
    return f"{upstream.endpoint.rstrip('/')}/minio/admin/v3/revoke-tokens/{provider}?{query}"


def sign_admin_request(upstream: UpstreamSettings, method: str, url: str, body: bytes) -> dict[str, str]:
    """Headers of a MinIO admin call signed with SigV4, service ``s3``, the upstream's region."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials(str(upstream.admin_access_key), str(upstream.admin_secret_key))
    request = AWSRequest(
        method=method, url=url, data=body, headers={"X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()}
    )
    SigV4Auth(credentials, "s3", upstream.region).add_auth(request)
    return {k: v for k, v in request.headers.items()}
