"""Fault injection: make the STS, the token endpoint or the JWKS fail on purpose.

A rule is ``match`` (which calls) + ``effect`` (what happens) + an optional
``count`` (only the next N matching calls) and ``probability`` (+ ``seed`` for
a reproducible sequence). Rules live in the store (kind ``fault``), so every
worker of one server sees them. Every firing is audited as ``fault.injected``.

Two entry points apply the rules:

* :func:`sts_hook` is ``StsExtensions.fault``: it returns an :class:`StsError`
  of the requested class (or ``IDPCommunicationError`` for a JWKS outage),
  sleeps for latency, and raises :class:`DropConnection` to cut the socket.
* :func:`make_middleware` covers the issuers' ``/token`` and ``/jwks`` paths
  (RFC 6749 JSON errors, 503 for a JWKS outage) and turns
  :class:`DropConnection` from anywhere into a closed transport.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ConfigDict, Field, model_validator

from issuer.settings import IssuerSettings
from stsproxy import errors as sts_errors

from .audit import AuditLog
from .store import Backend

log = logging.getLogger("stsmock.faults")

KIND = "fault"
#: Change-feed topic of the rule set (keys: rule ids).
TOPIC = "faults"
SEQ_META = "faults.seq"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: STS error codes a rule may inject (the StsError subclasses of stsproxy.errors).
STS_ERRORS: dict[str, type[sts_errors.StsError]] = {
    cls.code: cls
    for cls in vars(sts_errors).values()
    if isinstance(cls, type)
    and issubclass(cls, sts_errors.StsError)
    and cls not in (sts_errors.StsError, sts_errors.UpstreamError)
}
#: RFC 6749 / 8628 error codes for the token endpoint, with their HTTP status.
OAUTH_ERRORS: dict[str, int] = {
    "invalid_request": 400,
    "invalid_client": 401,
    "invalid_grant": 400,
    "unauthorized_client": 400,
    "unsupported_grant_type": 400,
    "invalid_scope": 400,
    "access_denied": 403,
    "server_error": 500,
    "temporarily_unavailable": 503,
    "slow_down": 400,
    "authorization_pending": 400,
    "expired_token": 400,
}
#: How an STS-style code is rendered when it hits the token endpoint.
_STS_TO_OAUTH = {
    "InternalFailure": "server_error",
    "AccessDenied": "access_denied",
    "InvalidIdentityToken": "invalid_grant",
    "ExpiredTokenException": "invalid_grant",
}


class DropConnection(BaseException):  # noqa: N818 - a control-flow signal, not an error
    """Close the client's connection without an answer.

    A BaseException so the STS pipeline's ``except Exception`` does not turn it
    into an InternalFailure; the fault middleware catches it and closes the transport.
    """


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class FaultMatch(_Body):
    endpoint: Literal["sts", "token", "jwks", "any"] = "any"
    #: STS Action (e.g. AssumeRoleWithWebIdentity) or, for the token endpoint, the grant_type.
    action: str | None = Field(default=None, min_length=1, max_length=128)
    #: OAuth client (token endpoint only: the STS does not know the client before verification).
    client_id: str | None = Field(default=None, min_length=1, max_length=256)
    role_arn: str | None = Field(default=None, min_length=1, max_length=2048)


class FaultEffect(_Body):
    error: str | None = Field(default=None, min_length=1, max_length=64)
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    jwks_outage: bool = False
    drop_connection: bool = False

    @model_validator(mode="after")
    def _something(self) -> FaultEffect:
        if not (self.error or self.latency_ms or self.jwks_outage or self.drop_connection):
            raise ValueError("effect needs at least one of error, latency_ms, jwks_outage, drop_connection")
        if self.error and self.error not in STS_ERRORS and self.error not in OAUTH_ERRORS:
            known = ", ".join(sorted(STS_ERRORS) + sorted(OAUTH_ERRORS))
            raise ValueError(f"unknown error code {self.error!r}; known: {known}")
        return self


class FaultBody(_Body):
    match: FaultMatch = Field(default_factory=FaultMatch)
    effect: FaultEffect
    count: int | None = Field(default=None, ge=1, le=1_000_000)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    description: str = Field(default="", max_length=1024)


class FaultEngine:
    """The rule set, persisted in the store; ``fire`` picks the rule (if any) for one call."""

    def __init__(self, store: Backend, *, now: Callable[[], float], audit: AuditLog) -> None:
        self.store = store
        self._now = now
        self.audit = audit
        self._lock = threading.Lock()
        self._rules_exist = bool(store.items(KIND))

    def apply(self, keys: set[str] | None) -> None:
        """Change-feed handler: a rule was added, consumed or removed by some process."""
        self._rules_exist = bool(self.store.items(KIND))

    # -- rule management --------------------------------------------------
    def add(self, body: FaultBody | dict[str, Any]) -> dict[str, Any]:
        if isinstance(body, dict):
            body = FaultBody.model_validate(body)
        with self._lock, self.store.change() as change:  # serialised: parallel adds cannot share a seq
            seq = int(self.store.get_meta(SEQ_META) or "0") + 1
            self.store.set_meta(SEQ_META, str(seq))
            rule = {
                "id": f"f{seq}",
                "seq": seq,
                "match": body.match.model_dump(exclude_none=True),
                "effect": body.effect.model_dump(exclude_none=True),
                "count": body.count,
                "remaining": body.count,
                "probability": body.probability,
                "seed": body.seed,
                "draws": 0,
                "fired": 0,
                "description": body.description,
                "created_at": self._now(),
            }
            self.store.put(KIND, _key(seq), rule)
            change.note(TOPIC, f"f{seq}")
        self._rules_exist = True
        self.audit.record("fault.added", severity="high", rule=rule)
        return rule

    def list(self) -> list[dict[str, Any]]:
        return [rule for _, rule in self.store.items(KIND)]

    def remove(self, rule_id: str) -> bool:
        with self._lock, self.store.change() as change:
            for key, rule in self.store.items(KIND):
                if rule["id"] == rule_id:
                    self.store.delete(KIND, key)
                    change.note(TOPIC, rule_id)
                    self.audit.record("fault.removed", severity="high", rule_id=rule_id)
                    return True
        return False

    def clear(self) -> int:
        with self._lock, self.store.change() as change:
            items = self.store.items(KIND)
            for key, rule in items:
                self.store.delete(KIND, key)
                change.note(TOPIC, rule["id"])
        self.audit.record("fault.cleared", severity="high", removed=len(items))
        return len(items)

    # -- matching -----------------------------------------------------------
    def fire(
        self, *, endpoint: str, action: str | None = None, role_arn: str | None = None, client_id: str | None = None
    ) -> dict[str, Any] | None:
        """The first matching rule that fires for this call (consuming count/draws), else None.

        Counts and draws are consumed inside one serialised change, so two processes cannot both
        spend a rule's last use; calls that match no rule touch nothing.
        """
        if not self._rules_exist:
            return None
        if not any(_matches(r["match"], endpoint, action, role_arn, client_id) for _, r in self.store.items(KIND)):
            return None
        with self._lock, self.store.change() as change:
            for key, rule in self.store.items(KIND):
                if not _matches(rule["match"], endpoint, action, role_arn, client_id):
                    continue
                probability = rule.get("probability")
                if probability is not None:
                    draw = rule["draws"]
                    rule["draws"] = draw + 1
                    rng = random.Random(f"{rule.get('seed')}:{draw}") if rule.get("seed") is not None else random
                    if rng.random() >= probability:
                        self.store.put(KIND, key, rule)
                        change.note(TOPIC, rule["id"])
                        continue
                rule["fired"] += 1
                if rule.get("remaining") is not None:
                    rule["remaining"] -= 1
                if rule.get("remaining") is not None and rule["remaining"] <= 0:
                    self.store.delete(KIND, key)
                else:
                    self.store.put(KIND, key, rule)
                change.note(TOPIC, rule["id"])
                fields = {k: v for k, v in (("action", action), ("role_arn", role_arn), ("client_id", client_id)) if v}
                self.audit.record(
                    "fault.injected",
                    severity="high",
                    rule_id=rule["id"],
                    endpoint=endpoint,
                    effect=rule["effect"],
                    remaining=rule.get("remaining"),
                    **fields,
                )
                return rule
        return None

    def has_rules(self) -> bool:
        """Every request asks, so the common case (no rules) costs no query: the change feed keeps
        this flag current on every process before each request."""
        return self._rules_exist


def _key(seq: int) -> str:
    return f"{seq:010d}"


def _matches(
    match: dict[str, Any], endpoint: str, action: str | None, role_arn: str | None, client_id: str | None
) -> bool:
    wanted = match.get("endpoint", "any")
    if wanted != "any" and wanted != endpoint:
        return False
    for name, value in (("action", action), ("role_arn", role_arn), ("client_id", client_id)):
        if match.get(name) is not None and match[name] != value:
            return False
    return True


def _describe(rule: dict[str, Any]) -> str:
    return f"injected by stsmock fault rule {rule['id']}"


# -- the STS hook ---------------------------------------------------------------


def sts_hook(engine: FaultEngine) -> Callable[..., Awaitable[sts_errors.StsError | None]]:
    """``StsExtensions.fault``: the error to answer with (after any latency), or None."""

    async def fault(
        *, endpoint: str = "sts", action: str | None = None, role_arn: str | None = None, client_id: str | None = None
    ) -> sts_errors.StsError | None:
        rule = engine.fire(endpoint=endpoint, action=action, role_arn=role_arn, client_id=client_id)
        if rule is None:
            return None
        effect = rule["effect"]
        if effect.get("latency_ms"):
            await asyncio.sleep(effect["latency_ms"] / 1000)
        if effect.get("drop_connection"):
            raise DropConnection(rule["id"])
        if effect.get("jwks_outage"):
            return sts_errors.IDPCommunicationError(
                f"Couldn't retrieve verification key from your identity provider ({_describe(rule)}: JWKS outage)",
                check="jwks-fetch",
                detail={"fault_rule": rule["id"]},
            )
        code = effect.get("error")
        if code:
            cls = STS_ERRORS.get(code) or sts_errors.ServiceUnavailable
            return cls(f"{code} {_describe(rule)}", check="fault-injected", detail={"fault_rule": rule["id"]})
        return None

    return fault


# -- the HTTP side: token/JWKS endpoints and dropped connections -------------------


def _drop(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.abort()
    # The response below is never written: the socket is gone.
    response = web.Response(status=500)
    response.force_close()
    return response


def endpoint_paths(issuers: Iterable[IssuerSettings]) -> dict[str, str]:
    """The token and JWKS paths of the built-in issuers (a preset may move them) -> the rule endpoint."""
    paths: dict[str, str] = {}
    for settings in issuers:
        paths[settings.mount_path + settings.endpoint_path("token")] = "token"
        paths[settings.mount_path + settings.endpoint_path("jwks")] = "jwks"
    return paths


async def _token_request_facts(request: web.Request) -> tuple[str | None, str | None]:
    """(grant_type, client_id) of a token request; the body stays readable for the handler."""
    import base64
    from urllib.parse import unquote_plus

    grant_type = client_id = None
    try:
        form = await request.post()
        grant_type = str(form.get("grant_type") or "") or None
        client_id = str(form.get("client_id") or "") or None
    except Exception:  # noqa: BLE001 - a malformed body is the handler's business
        log.debug("fault matching: unreadable token request body", exc_info=True)
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if client_id is None and scheme.lower() == "basic":
        try:
            client_id = unquote_plus(base64.b64decode(value.strip()).decode().split(":", 1)[0]) or None
        except (ValueError, UnicodeDecodeError):
            pass
    return grant_type, client_id


def _oauth_error(rule: dict[str, Any], endpoint: str) -> web.Response:
    effect = rule["effect"]
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if endpoint == "jwks":
        body = {"error": "temporarily_unavailable", "error_description": f"JWKS outage {_describe(rule)}"}
        return web.json_response(body, status=503, headers={**headers, "Retry-After": "1"})
    code = effect.get("error") or "temporarily_unavailable"
    if code not in OAUTH_ERRORS:
        code = _STS_TO_OAUTH.get(code, "temporarily_unavailable")
    status = OAUTH_ERRORS[code]
    if code == "temporarily_unavailable":
        headers["Retry-After"] = "1"
    body = {"error": code, "error_description": f"{effect.get('error') or 'fault'} {_describe(rule)}"}
    return web.json_response(body, status=status, headers=headers)


def make_middleware(engine: FaultEngine, issuers: Iterable[IssuerSettings]) -> Middleware:
    """Fault rules for the issuers' ``/token`` and ``/jwks``; turns DropConnection into a closed socket."""
    paths = endpoint_paths(issuers)

    @web.middleware
    async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = paths.get(request.path)
        if endpoint is not None and engine.has_rules():
            action = client_id = None
            if endpoint == "token":
                action, client_id = await _token_request_facts(request)
            rule = engine.fire(endpoint=endpoint, action=action, client_id=client_id)
            if rule is not None:
                effect = rule["effect"]
                if effect.get("latency_ms"):
                    await asyncio.sleep(effect["latency_ms"] / 1000)
                if effect.get("drop_connection"):
                    return _drop(request)
                if effect.get("error") or (endpoint == "jwks" and effect.get("jwks_outage")):
                    return _oauth_error(rule, endpoint)
        try:
            return await handler(request)
        except DropConnection:
            return _drop(request)

    return faults_middleware


__all__ = ["DropConnection", "FaultBody", "FaultEngine", "make_middleware", "sts_hook"]
