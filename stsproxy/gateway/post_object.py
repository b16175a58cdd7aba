"""PostObject (browser-form upload): authenticate and authorise from the form, stream the file on.

The form is read up to the file part (bounded), its SigV4 POST signature checked against the same
credential chain as every other request, its policy document enforced, s3:PutObject (and the
ACL/tagging extras) decided by the policy engine with ``s3:authType = POST``; only then does the
file go to the backend as a re-signed PutObject, byte by byte as it arrives. A file smaller than
:data:`EXACT_BELOW` is measured before it is sent; a larger one is sent with the length its
Content-Length implies, and the last buffer is held back until the closing delimiter proved it, so
a body that does not match is aborted and never stored.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Protocol
from urllib.parse import quote, urlencode

from aiohttp import web

from .backends import BackendRouter
from .classify import Operation, classify
from .errors import S3Error, access_denied
from .model import MAX_KEY_BYTES, S3Request
from .pipeline import RequestState, authorize, request_context
from .ports import Authorizer, Clock, CredentialSource
from .post_form import FileData, PreFile, boundary_of, malformed, parse_pre_file
from .post_policy import (
    PostPolicy,
    check_length,
    check_policy,
    check_region,
    decode_policy,
    form_auth,
    object_headers,
    post_response,
    substitute_key,
    success,
    verify_signature,
)
from .settings import GatewaySettings
from .sigv4 import UNSIGNED, signing_key

#: Files up to this size are read whole before the PutObject (their exact size is then known).
EXACT_BELOW = 1024 * 1024


class Gateway(Protocol):
    """What this handler uses of :class:`stsproxy.gateway.proxy.Gateway`."""

    settings: GatewaySettings
    router: BackendRouter
    credentials: CredentialSource
    authorizer: Authorizer
    clock: Clock
    secure: bool


async def _read_pre_file(request: web.Request, state: RequestState, boundary: str) -> PreFile:
    buf = b""
    while True:
        data = await request.content.readany()
        if not data:
            found = parse_pre_file(buf, boundary)
            if found is None:
                raise malformed("truncated")
            return found
        state.bytes_in += len(data)
        buf += data
        found = parse_pre_file(buf, boundary)
        if found is not None:
            return found


def _authenticate(gw: Gateway, state: RequestState, pre: PreFile, now: float) -> None:
    auth = form_auth(pre.fields)
    if auth is None:
        raise access_denied(
            "Anonymous access is not allowed: sign the form with credentials from stsmock.", check="anonymous"
        )
    state.auth = auth
    check_region(auth, gw.settings.region)
    if auth.signed_at - now > gw.settings.max_skew_seconds:
        raise S3Error("AccessDenied", "Request is not valid yet", 403, "post-not-yet-valid")
    secret, state.principal = gw.credentials.resolve(auth.access_key, auth.session_token, now)
    state.signing_key = signing_key(secret, auth.date, auth.region, auth.service)
    verify_signature(pre.fields["policy"], state.signing_key, auth)


def _authorize(
    gw: Gateway, state: RequestState, pre: PreFile, now: float, source_ip: str | None
) -> tuple[S3Request, dict[str, str], PostPolicy]:
    """Policy document, then IAM: the PutObject this form stands for, with the form's keys."""
    s3 = state.s3
    assert s3 is not None and s3.bucket is not None and state.auth is not None and state.principal is not None
    policy = decode_policy(pre.fields["policy"])
    if "key" not in pre.fields:
        raise S3Error(
            "InvalidArgument",
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
            400,
            "post-missing-key",
            {"ArgumentName": "key", "ArgumentValue": ""},
        )
    key = substitute_key(pre.fields["key"], pre.file.filename)
    if not key:
        raise S3Error("InvalidArgument", "User key must have a length greater than 0.", 400, "post-key")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", "Your key is too long", 400, "key-length")
    fields = {**pre.fields, "key": key}
    check_policy(policy, fields, bucket=s3.bucket, now=now)
    put = S3Request("PUT", "", "", (), object_headers(fields), s3.bucket, key)
    op = classify(put)
    state.s3 = dataclasses.replace(s3, key=key)
    state.op = Operation("PostObject", op.checks, op.context)
    ctx = request_context(state, secure=gw.secure, source_ip=source_ip, now=now)
    ctx["s3:authType"] = "POST"
    ctx["s3:signatureAge"] = int(max(0.0, now - state.auth.signed_at) * 1000)
    state.context = ctx
    state.decision = authorize(op.checks, state.principal, gw.authorizer, ctx)
    if not state.decision.allowed:
        raise access_denied(check="permissions")
    return put, fields, policy


async def _file_start(request: web.Request, state: RequestState, scanner: FileData, first: bytes) -> list[bytes]:
    """Up to :data:`EXACT_BELOW` bytes of the file (all of it, if it is that small)."""
    pieces = [first]
    buffered = len(first)
    while not scanner.done and buffered < EXACT_BELOW:
        data = await request.content.readany()
        if not data:
            break
        state.bytes_in += len(data)
        piece = scanner.feed(data)
        pieces.append(piece)
        buffered += len(piece)
    return pieces


async def _drain(request: web.Request, state: RequestState, scanner: FileData) -> None:
    """Whatever follows the file (ignored fields, the epilogue): read and dropped."""
    while data := await request.content.readany():
        state.bytes_in += len(data)
        scanner.feed(data)
    scanner.finish()


async def _stream(
    request: web.Request, state: RequestState, scanner: FileData, pieces: list[bytes], size: int
) -> AsyncIterator[bytes]:
    pending: bytes | None = None
    try:
        for piece in pieces:
            if piece:
                if pending is not None:
                    yield pending
                pending = piece
        while not scanner.done:
            data = await request.content.readany()
            if not data:
                break
            state.bytes_in += len(data)
            piece = scanner.feed(data)
            if scanner.length > size:
                raise malformed("length")
            if piece:
                if pending is not None:
                    yield pending
                pending = piece
        await _drain(request, state, scanner)
        if scanner.length != size:
            raise malformed("length")
    except S3Error as exc:
        state.notes["body_error"] = exc
        raise
    if pending is not None:
        yield pending


def _location(request: web.Request, state: RequestState, secure: bool) -> str:
    s3 = state.s3
    assert s3 is not None and s3.bucket is not None and s3.key is not None
    scheme = "https" if secure else "http"
    path = quote(s3.key, safe="/~") if s3.virtual_host else f"{s3.bucket}/{quote(s3.key, safe='/~')}"
    return f"{scheme}://{request.host}/{path}"


async def post_object(gw: Gateway, request: web.Request, state: RequestState) -> web.StreamResponse:
    s3 = state.s3
    assert s3 is not None and s3.bucket is not None
    boundary = boundary_of(request.headers.get("Content-Type"))
    total = request.content_length
    if total is None:
        raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.", 411, "post-length")
    pre = await _read_pre_file(request, state, boundary)
    now = gw.clock()
    _authenticate(gw, state, pre, now)
    put, fields, policy = _authorize(gw, state, pre, now, request.remote)

    scanner = FileData(boundary)
    pieces = await _file_start(request, state, scanner, scanner.feed(pre.rest))
    if scanner.done:
        await _drain(request, state, scanner)
        size = scanner.length
    else:  # the file is the last part: the body ends with CRLF "--" boundary "--" CRLF
        size = total - pre.file.offset - len(f"\r\n--{boundary}--\r\n".encode("latin-1"))
        if size < scanner.length:
            raise malformed("length")
    check_length(policy, size)

    backend = gw.router.for_bucket(s3.bucket)
    state.backend = backend.name
    headers = {name: values[0] for name, values in put.headers.items()}
    headers.setdefault("content-type", "binary/octet-stream")
    headers["content-length"] = str(size)
    body: AsyncIterator[bytes] | bytes = (
        b"".join(pieces) if scanner.done else _stream(request, state, scanner, pieces, size)
    )
    path = quote(f"/{s3.bucket}/{put.key}".encode(), safe="/~")
    try:
        resp = await backend.send("PUT", path, "", headers, payload=UNSIGNED, now=time.time(), body=body)
    except S3Error:
        if "body_error" in state.notes:
            raise state.notes.pop("body_error") from None
        raise
    try:
        if "body_error" in state.notes:
            raise state.notes.pop("body_error")
        state.backend_status = resp.status
        answer = await resp.read()
        if resp.status != 200:
            ctype = resp.headers.get("Content-Type", "application/xml")
            return web.Response(
                status=resp.status, body=answer, headers={"Content-Type": ctype, "x-amz-request-id": state.request_id}
            )
        etag = resp.headers.get("ETag", "")
    finally:
        resp.release()
    return _success(request, state, fields, etag, gw.secure)


def _success(
    request: web.Request, state: RequestState, fields: dict[str, str], etag: str, secure: bool
) -> web.Response:
    s3 = state.s3
    assert s3 is not None and s3.bucket is not None and s3.key is not None
    location = _location(request, state, secure)
    headers = {"x-amz-request-id": state.request_id, "ETag": etag, "Location": location}
    status, redirect = success(fields)
    if redirect is not None:
        query = urlencode({"bucket": s3.bucket, "key": s3.key, "etag": etag})
        headers["Location"] = f"{redirect}{'&' if '?' in redirect else '?'}{query}"
        return web.Response(status=303, headers=headers)
    if status == 201:
        body = post_response(location, s3.bucket, s3.key, etag)
        state.bytes_out = len(body)
        return web.Response(status=201, body=body, content_type="application/xml", headers=headers)
    return web.Response(status=status, headers=headers)
