"""The per-request decision: parse → authenticate → classify → authorise, all before any body byte.

The result is one :class:`RequestState`, which also becomes the request's audit record.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

from .classify import Check, Operation, classify, is_post_object, split_object_arn
from .errors import S3Error, access_denied
from .model import S3Request, parse_request
from .payload import BodyPlan, plan_body
from .ports import Authorizer, ConditionKeys, CredentialSource, Decision, Principal
from .settings import GatewaySettings
from .sigv4 import Auth, check_scope, check_time, parse_auth, verify
from .xml import xml_body

EXISTING_TAG = "s3:existingobjecttag/"
#: Operations whose body the gateway reads (and verifies) itself instead of streaming it.
OWNED = ("ListBuckets", "DeleteObjects")


@dataclass
class RequestState:
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    s3: S3Request | None = None
    auth: Auth | None = None
    signing_key: bytes | None = None
    principal: Principal | None = None
    op: Operation | None = None
    plan: BodyPlan | None = None
    decision: Decision | None = None
    #: Checks whose statements read s3:ExistingObjectTag/*: decided after the tags are fetched.
    tag_checks: tuple[Check, ...] = ()
    error: S3Error | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    status: int | None = None
    backend: str | None = None
    backend_status: int | None = None
    context: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def audit_record(self) -> dict[str, Any]:
        p, op, s3 = self.principal, self.op, self.s3
        record: dict[str, Any] = {
            "request_id": self.request_id,
            "operation": op.name if op else None,
            "action": op.checks[0].action if op and op.checks else None,
            "resource": op.checks[0].resource if op and op.checks else (s3.resource if s3 else None),
            "method": s3.method if s3 else None,
            "bucket": s3.bucket if s3 else None,
            "key": s3.key if s3 else None,
            "decision": "deny" if self.error is not None else "allow",
            "status": self.status,
            "access_key": self.auth.access_key if self.auth else None,
            "principal": p.arn if p else None,
            "sub": p.sub if p else None,
            "role_arn": p.role_arn if p else None,
            "statement": self.decision.statement if self.decision else None,
            "reason": self.decision.reason if self.decision else None,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 3),
            "backend": self.backend,
            "backend_status": self.backend_status,
        }
        if self.error is not None:
            record.update(error=self.error.code, check=self.error.check, message=self.error.message)
        record.update(self.notes)
        return {k: v for k, v in record.items() if v is not None}


@lru_cache(maxsize=64)
def _iso_second(second: int) -> str:
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_context(state: RequestState, *, secure: bool, source_ip: str | None, now: float) -> dict[str, Any]:
    assert state.s3 is not None and state.op is not None
    ctx = dict(state.op.context)
    ctx["aws:SecureTransport"] = secure
    if source_ip:
        ctx["aws:SourceIp"] = source_ip
    ctx["aws:CurrentTime"] = _iso_second(int(now // 1))
    ctx["aws:EpochTime"] = int(now)
    auth = state.auth
    if auth is not None:
        ctx["s3:authType"] = "REST-QUERY-STRING" if auth.presigned else "REST-HEADER"
        ctx["s3:signatureversion"] = "AWS4-HMAC-SHA256"
        ctx["aws:RequestedRegion"] = auth.region
        if auth.presigned:
            ctx["s3:signatureAge"] = int(max(0.0, now - auth.signed_at) * 1000)
    return ctx


def authorize(
    checks: Iterable[Check], principal: Principal, authorizer: Authorizer, context: Mapping[str, Any]
) -> Decision:
    """Every check must be allowed; the first refusal is the answer."""
    first: Decision | None = None
    for check in checks:
        decision = authorizer.decide(principal, check.action, check.resource, context)
        if not decision.allowed:
            return Decision(False, decision.statement, f"{check.action} on {check.resource}: {decision.reason}")
        first = first or decision
    return first or Decision(True, None, "no permission needed")


def reads_existing_tags(authorizer: Authorizer, principal: Principal, check: Check, context: Mapping[str, Any]) -> bool:
    """Whether a statement that applies to ``check`` reads ``s3:ExistingObjectTag/*`` (object checks only)."""
    if split_object_arn(check.resource) is None or not hasattr(authorizer, "condition_keys"):
        return False
    keys = cast(ConditionKeys, authorizer).condition_keys(
        principal, check.action, check.resource, context, prefix=EXISTING_TAG
    )
    return bool(keys)


def tag_checks(
    checks: Iterable[Check], principal: Principal, authorizer: Authorizer, context: Mapping[str, Any]
) -> tuple[Check, ...]:
    """The checks to decide only after the stored object's tags were fetched."""
    return tuple(check for check in checks if reads_existing_tags(authorizer, principal, check, context))


def prepare(
    state: RequestState,
    *,
    method: str,
    raw_target: str,
    headers: Iterable[tuple[str, str]],
    settings: GatewaySettings,
    credentials: CredentialSource,
    authorizer: Authorizer,
    now: float,
    secure: bool,
    source_ip: str | None,
) -> None:
    """Fill ``state`` up to the decision; raise S3Error on the first failed step."""
    state.s3 = s3 = parse_request(method, raw_target, headers, domains=settings.domains)
    if is_post_object(s3):
        state.op = Operation("PostObject", ())  # the credentials and the policy are in the form body
        return
    auth = parse_auth(s3)
    if auth is None:
        raise access_denied(
            "Anonymous access is not allowed: sign the request with credentials from stsmock.", check="anonymous"
        )
    state.auth = auth
    check_scope(auth, settings.region)
    check_time(auth, now, settings.max_skew_seconds)
    secret, state.principal = credentials.resolve(auth.access_key, auth.session_token, now)
    state.signing_key = verify(s3, auth, secret)
    state.op = op = classify(s3)
    state.context = request_context(state, secure=secure, source_ip=source_ip, now=now)
    state.tag_checks = tag_checks(op.checks, state.principal, authorizer, state.context)
    if op.checks and not state.tag_checks:  # else existing_tags.decide_with_tags decides, after fetching them
        state.decision = authorize(op.checks, state.principal, authorizer, state.context)
        if not state.decision.allowed:
            raise access_denied(check="permissions")
    if s3.method in ("PUT", "POST"):
        state.plan = plan_body(s3, auth, state.signing_key, xml_body=xml_body(op.name))
