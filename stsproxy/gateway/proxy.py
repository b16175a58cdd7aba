"""The aiohttp edge of the gateway: decide before 100 Continue, stream both ways, audit every request.

A body is forwarded as it arrives, decoded (aws-chunked framing removed) with Content-Length set to
the decoded length, while its hash, chunk signatures, trailer checksum and Content-MD5 are checked.
The last buffer is held back until every check passed: when one fails, the upstream request is
aborted one short of its Content-Length, so the backend never completes (never stores) the object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote_from_bytes, unquote_to_bytes

from aiohttp import web

from . import owned
from .backends import RECV_SIZE, BackendRouter
from .classify import bucket_arn, not_implemented
from .errors import S3Error, access_denied, render
from .existing_tags import decide_with_tags
from .http1 import LARGE_BODY
from .payload import BodyPlan
from .pipeline import RequestState, prepare
from .ports import AuditSink, Authorizer, Clock, CredentialSource
from .post_object import post_object
from .settings import GatewaySettings
from .sigv4 import EMPTY_SHA256, canonical_query, is_presign_param
from .stream import read_verified

log = logging.getLogger("stsmock.gateway")
_STATE: web.RequestKey[RequestState] = web.RequestKey("stsmock.gateway.state", RequestState)
HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED = HOP | {
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "expect",
    "content-length",
}
#: Reads whose 404 becomes 403 unless the caller may list the bucket (AWS's rule).
_READS = frozenset({"GetObject", "HeadObject", "GetObjectAttributes", "GetObjectAcl", "GetObjectTagging"})
MAX_OWNED_BODY = 2 * 1024 * 1024


@contextlib.contextmanager
def _larger_reads(transport: object, length: int) -> Iterator[None]:
    """While a large request body streams in, read up to RECV_SIZE per recv (asyncio reads 256 KiB):
    each read is one event-loop turn and a pass through aiohttp's parser, so an 8 MiB body costs
    about 15 % less gateway CPU. Put back afterwards: every read allocates its full size first,
    which small requests on the same keep-alive connection must not pay."""
    if length <= LARGE_BODY or not hasattr(transport, "max_size"):
        yield
        return
    before = transport.max_size
    transport.max_size = RECV_SIZE
    try:
        yield
    finally:
        transport.max_size = before


def _encode_path(raw: str) -> str:
    return quote_from_bytes(unquote_to_bytes(raw), safe="/~")


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        router: BackendRouter,
        credentials: CredentialSource,
        authorizer: Authorizer,
        audit: AuditSink,
        clock: Clock,
        *,
        secure: bool = False,
    ) -> None:
        self.settings = settings
        self.router = router
        self.credentials = credentials
        self.authorizer = authorizer
        self.audit = audit
        self.clock = clock
        self.secure = secure

    def add_routes(self, app: web.Application) -> None:
        # [\s\S]: a key may hold a newline (%0A); ".*" would leave it to aiohttp's plain-text 404
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.handle, expect_handler=self.expect)

    # ------------------------------------------------------------------ decision

    def _prepare(self, request: web.Request) -> RequestState:
        state = RequestState(request_id=secrets.token_hex(8).upper())
        try:
            prepare(
                state,
                method=request.method,
                raw_target=request.raw_path,
                headers=request.headers.items(),
                settings=self.settings,
                credentials=self.credentials,
                authorizer=self.authorizer,
                now=self.clock(),
                secure=self.secure,
                source_ip=request.remote,
            )
        except S3Error as exc:
            state.error = exc
        request[_STATE] = state
        return state

    async def _decide(self, request: web.Request) -> RequestState:
        state = self._prepare(request)
        if state.error is None and state.tag_checks:  # a policy reads s3:ExistingObjectTag/*: fetch, then decide
            try:
                await decide_with_tags(self.router, self.authorizer, state)
            except S3Error as exc:
                state.error = exc
        return state

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        """Authenticate and authorise on the headers, so a refusal goes out instead of 100 Continue."""
        state = await self._decide(request)
        if state.error is not None:
            return await self._finish(request, state, self._error(request, state, state.error))
        if request.version >= (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state: RequestState = request.get(_STATE) or await self._decide(request)
        response: web.StreamResponse | None = None
        try:
            if state.error is not None:
                response = self._error(request, state, state.error)
            else:
                assert state.op is not None
                if state.op.name == "ListBuckets":
                    response = await owned.list_buckets(self, request, state)
                elif state.op.name == "DeleteObjects":
                    response = await owned.delete_objects(self, request, state)
                elif state.op.name == "PostObject":
                    response = await post_object(self, request, state)
                else:
                    response = await self._forward(request, state)
        except S3Error as exc:
            state.error = exc
            if response is not None and response.prepared:
                raise
            response = self._error(request, state, exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise  # the client went away: nothing to answer
        except Exception as exc:  # a bug must still answer in S3's words, never with a traceback
            log.exception("gateway: unexpected error on %s %s", request.method, request.path)
            state.error = S3Error(
                "InternalError", "We encountered an internal error. Please try again.", 500, type(exc).__name__
            )
            response = self._error(request, state, state.error)
        return await self._finish(request, state, response)

    async def _finish(
        self, request: web.Request, state: RequestState, response: web.StreamResponse
    ) -> web.StreamResponse:
        state.status = response.status
        try:
            await self.audit(state.audit_record())
        except Exception:  # the audit must never turn an answer into a 500
            log.exception("gateway audit failed")
        return response

    def _error(self, request: web.Request, state: RequestState, error: S3Error) -> web.Response:
        resource = state.s3.resource if state.s3 else request.path
        headers = {"x-amz-request-id": state.request_id, **error.headers}
        if request.method == "HEAD":
            return web.Response(status=error.status, headers=headers)
        return web.Response(
            status=error.status,
            body=render(error, resource=resource, request_id=state.request_id),
            content_type="application/xml",
            headers=headers,
        )

    def may(self, state: RequestState, action: str, resource: str) -> bool:
        assert state.principal is not None
        return self.authorizer.decide(state.principal, action, resource, state.context).allowed

    # ------------------------------------------------------------------ forwarding

    def backend_headers(self, request: web.Request, plan: BodyPlan | None) -> dict[str, str]:
        trailer = plan is not None and plan.decoder is not None and plan.verifier.trailer_algorithm is not None
        out: dict[str, str] = {}
        for name, value in request.headers.items():
            lower = name.lower()
            if lower in _NOT_FORWARDED or (trailer and lower in ("x-amz-trailer", "x-amz-sdk-checksum-algorithm")):
                continue
            if lower == "content-encoding":
                value = ",".join(v.strip() for v in value.split(",") if v.strip().lower() != "aws-chunked")
                if not value:
                    continue
            out[lower] = f"{out[lower]},{value}" if lower in out else value
        return out

    def backend_target(self, state: RequestState) -> tuple[str, str]:
        assert state.s3 is not None
        query = canonical_query([(k, v) for k, v in state.s3.query if not is_presign_param(k)])
        return _encode_path(state.s3.backend_path), query

    async def _forward(self, request: web.Request, state: RequestState) -> web.StreamResponse:
        s3, op, plan = state.s3, state.op, state.plan
        assert s3 is not None and op is not None
        backend = self.router.for_bucket(s3.bucket)
        state.backend = backend.name
        if op.copy_source is not None and self.router.for_bucket(op.copy_source.bucket) is not backend:
            raise not_implemented("copying between buckets that live on different backends")
        headers = self.backend_headers(request, plan)
        path, query = self.backend_target(state)
        body: AsyncIterator[bytes] | bytes | None = None
        payload = EMPTY_SHA256
        if plan is not None and plan.length is not None:
            headers["content-length"] = str(plan.length)
            payload = plan.backend_payload
            if plan.length == 0:
                await read_verified(request, state, plan, limit=64 * 1024)
                body = b""
            else:
                body = self._stream(request, state, plan)
        try:
            resp = await backend.send(s3.method, path, query, headers, payload=payload, now=time.time(), body=body)
        except S3Error:
            if "body_error" in state.notes:
                raise state.notes.pop("body_error") from None
            raise
        if "body_error" in state.notes:
            resp.close()
            raise state.notes.pop("body_error")
        state.backend_status = resp.status
        try:
            if (
                resp.status == 404
                and op.name in _READS
                and not self.may(state, "s3:ListBucket", bucket_arn(s3.bucket or ""))
            ):
                raise access_denied(check="no-such-key-without-list-bucket")
            out = web.StreamResponse(status=resp.status, reason=resp.reason)
            for name, value in resp.headers.items():
                lower = name.lower()
                if lower not in HOP and lower not in ("content-length", "x-amz-request-id", "server", "date"):
                    out.headers.add(name, value)
            out.headers["x-amz-request-id"] = state.request_id
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit():
                out.content_length = int(length)
            await out.prepare(request)
            if s3.method != "HEAD":
                async for chunk in resp.content.iter_any():
                    state.bytes_out += len(chunk)
                    await out.write(chunk)
            await out.write_eof()
            return out
        finally:
            resp.release()

    async def _stream(self, request: web.Request, state: RequestState, plan: BodyPlan) -> AsyncIterator[bytes]:
        decoder, verifier = plan.decoder, plan.verifier
        pending: bytes | None = None
        try:
            with _larger_reads(request.transport, plan.length or 0):
                async for data in request.content.iter_any():
                    state.bytes_in += len(data)
                    pieces = decoder.feed(data) if decoder is not None else (data,)
                    for piece in pieces:
                        if not piece:
                            continue
                        verifier.update(piece)
                        if verifier.length > (plan.length or 0):
                            raise S3Error(
                                "IncompleteBody",
                                "The request body is longer than its declared length.",
                                400,
                                "body-length",
                            )
                        if pending is not None:
                            yield pending
                        pending = piece
            verifier.finish(decoder.finish() if decoder is not None else None)
        except S3Error as exc:
            state.notes["body_error"] = exc
            raise
        if pending is not None:
            yield pending
