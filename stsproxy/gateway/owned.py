"""What one shared backend key cannot decide: a filtered ListBuckets and per-key DeleteObjects."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Protocol

from aiohttp import web

from . import xml
from .backends import BackendRouter
from .classify import bucket_arn, delete_objects_checks
from .errors import S3Error
from .existing_tags import fetch_many, tag_context
from .payload import BodyPlan
from .pipeline import RequestState, reads_existing_tags
from .ports import Authorizer, Clock, Decision
from .sigv4 import EMPTY_SHA256
from .stream import read_verified


class Gateway(Protocol):
    """What these handlers use of :class:`stsproxy.gateway.proxy.Gateway`."""

    router: BackendRouter
    authorizer: Authorizer
    clock: Clock

    def may(self, state: RequestState, action: str, resource: str) -> bool: ...
    def backend_headers(self, request: web.Request, plan: BodyPlan | None) -> dict[str, str]: ...
    def backend_target(self, state: RequestState) -> tuple[str, str]: ...


MAX_BODY = 2 * 1024 * 1024


async def list_buckets(gw: Gateway, request: web.Request, state: RequestState) -> web.Response:
    """Every backend's buckets that this caller may list (s3:ListBucket or s3:GetBucketLocation)."""
    shown: list[tuple[str, str]] = []
    owner = ("", "")
    statuses = []
    for backend in gw.router.backends or [gw.router.for_bucket(None)]:
        resp = await backend.send("GET", "/", "", {}, payload=EMPTY_SHA256, now=time.time())
        try:
            body = await resp.read()
            statuses.append(resp.status)
            if resp.status != 200:
                raise S3Error(
                    "ServiceUnavailable",
                    f"The S3 backend '{backend.name}' answered ListBuckets with HTTP {resp.status}.",
                    503,
                    "backend-list-buckets",
                )
        finally:
            resp.release()
        buckets, owner_id, owner_name = xml.parse_bucket_list(body)
        owner = owner if owner[0] else (owner_id, owner_name)
        for name, created in buckets:
            if gw.router.for_bucket(name) is not backend:
                continue
            arn = bucket_arn(name)
            if gw.may(state, "s3:ListBucket", arn) or gw.may(state, "s3:GetBucketLocation", arn):
                shown.append((name, created))
    state.backend_status = statuses[0] if statuses else None
    state.notes["buckets_shown"] = len(shown)
    body = xml.render_bucket_list(sorted(shown), *owner)
    state.bytes_out = len(body)
    return web.Response(body=body, content_type="application/xml", headers={"x-amz-request-id": state.request_id})


async def _read_body(request: web.Request, state: RequestState, plan: BodyPlan | None) -> bytes:
    if plan is None:
        raise S3Error(
            "MissingContentLength", "You must provide the Content-Length HTTP header.", 411, "body-content-length"
        )
    return await read_verified(request, state, plan, limit=MAX_BODY)


async def delete_objects(gw: Gateway, request: web.Request, state: RequestState) -> web.Response:
    """Authorise each key; send the allowed ones; answer AccessDenied entries for the rest."""
    s3 = state.s3
    assert s3 is not None and s3.bucket is not None and state.principal is not None
    body = await _read_body(request, state, state.plan)
    keys, quiet = xml.parse_delete(body)
    allowed: list[tuple[str, str | None]] = []
    denied: list[tuple[str, str | None]] = []
    first_allow: Decision | None = None
    first_deny: Decision | None = None
    checks = delete_objects_checks(s3.bucket, keys)
    needs = [reads_existing_tags(gw.authorizer, state.principal, c, state.context) for c in checks]
    fetched: Iterator[dict[str, str]] = iter(())
    if any(needs):  # a statement reads s3:ExistingObjectTag/*: the listed objects' tags, fetched concurrently
        fetched = iter(await fetch_many(gw.router, s3.bucket, [e for e, n in zip(keys, needs, strict=True) if n]))
        state.notes["existing_tags_fetched"] = sum(needs)
    for entry, check, need in zip(keys, checks, needs, strict=True):
        context = {**state.context, **tag_context(next(fetched))} if need else state.context
        decision = gw.authorizer.decide(state.principal, check.action, check.resource, context)
        if decision.allowed:
            allowed.append(entry)
            first_allow = first_allow or decision
        else:
            denied.append(entry)
            first_deny = first_deny or Decision(
                False, decision.statement, f"{check.action} on {check.resource}: {decision.reason}"
            )
    state.decision = first_deny or first_allow
    state.notes.update(action="s3:DeleteObject", keys=len(keys), keys_denied=len(denied))
    if not allowed:
        result = xml.merge_delete_result(None, denied)
        return web.Response(body=result, content_type="application/xml", headers={"x-amz-request-id": state.request_id})
    backend = gw.router.for_bucket(s3.bucket)
    state.backend = backend.name
    headers = gw.backend_headers(request, None)
    if denied:
        body, md5 = xml.render_delete(allowed, quiet)
        headers = {
            k: v
            for k, v in headers.items()
            if not k.startswith("x-amz-checksum-") and k != "x-amz-sdk-checksum-algorithm"
        }
        headers["content-md5"] = md5
    headers.pop("content-encoding", None)
    headers["content-length"] = str(len(body))
    path, query = gw.backend_target(state)
    resp = await backend.send(
        "POST", path, query, headers, payload=hashlib.sha256(body).hexdigest(), now=time.time(), body=body
    )
    try:
        result = await resp.read()
        state.backend_status = resp.status
        if resp.status != 200:
            return web.Response(
                status=resp.status,
                body=result,
                content_type="application/xml",
                headers={"x-amz-request-id": state.request_id},
            )
    finally:
        resp.release()
    merged = xml.merge_delete_result(result, denied) if denied else result
    state.bytes_out = len(merged)
    return web.Response(body=merged, content_type="application/xml", headers={"x-amz-request-id": state.request_id})
