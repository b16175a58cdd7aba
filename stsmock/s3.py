"""A small S3 stand-in at ``/s3/`` that *enforces* what the STS minted.

Its point is not storage (objects live in memory and vanish on restart) but
proof: a request signed with minted credentials is verified with SigV4
(service ``s3``), checked against revocation and expiry, and authorised by the
role's permission policies intersected with the session policy — the same
evaluation ``stsmock policy simulate`` shows. Point boto3's S3 client at
``http://127.0.0.1:8400/s3`` with path-style addressing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

from aiohttp import web

from stsproxy.errors import StsError

if TYPE_CHECKING:
    from .runtime import Runtime

PREFIX = "/s3"
_S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_AUTH_CODES = {
    "InvalidClientTokenId": "InvalidAccessKeyId",
    "SignatureDoesNotMatch": "SignatureDoesNotMatch",
    "ExpiredToken": "ExpiredToken",
    "IncompleteSignature": "AuthorizationHeaderMalformed",
    "MissingAuthenticationToken": "AccessDenied",
    "RequestExpired": "RequestTimeTooSkewed",
}


@dataclass
class _Object:
    body: bytes
    etag: str
    modified: float
    content_type: str


@dataclass
class Buckets:
    data: dict[str, dict[str, _Object]] = field(default_factory=dict)


def _error(status: int, code: str, message: str, resource: str, request_id: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    )
    return web.Response(
        status=status, text=body, content_type="application/xml", headers={"x-amz-request-id": request_id}
    )


def _action(method: str, key: str | None, query: dict[str, str]) -> str:
    if key is None:
        return {"PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket", "HEAD": "s3:ListBucket"}.get(
            method, "s3:ListBucket"
        )
    return {"PUT": "s3:PutObject", "DELETE": "s3:DeleteObject"}.get(method, "s3:GetObject")


def install(app: web.Application, runtime: Runtime) -> None:
    buckets = Buckets()

    async def handle(request: web.Request) -> web.StreamResponse:
        from stsproxy.sigv4 import SignedRequest, authenticate

        request_id = hashlib.sha1(f"{time.time_ns()}".encode()).hexdigest()[:16].upper()  # noqa: S324 - an id
        raw_path, _, raw_query = request.raw_path.partition("?")
        rest = unquote(raw_path[len(PREFIX) :]).lstrip("/")
        bucket, _, key = rest.partition("/")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        resource = f"/{rest}"
        body = await request.read()
        try:
            signed = SignedRequest(
                method=request.method,
                path=raw_path,
                query=parse_qsl(raw_query, keep_blank_values=True),
                headers=dict(request.headers),
                body=body,
            )
            _auth, session = authenticate(signed, runtime.sts, now=runtime.clock.now(), expected_service="s3")
        except StsError as exc:
            runtime.audit.record("s3.denied", check=exc.check, code=exc.code, resource=resource, decision="deny")
            return _error(403, _AUTH_CODES.get(exc.code, "AccessDenied"), exc.message, resource, request_id)
        if not bucket:
            action, arn = "s3:ListAllMyBuckets", "*"
        else:
            action = _action(request.method, key or None, query)
            arn = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key else "")
        decision = runtime.sts.caller_permissions(session, action, arn, {"aws:SourceIp": request.remote or ""})
        if decision is not None and not decision.allowed:
            runtime.audit.record(
                "s3.denied",
                decision="deny",
                check="permissions",
                action=action,
                resource=arn,
                sub=session.get("sub"),
                role_arn=session.get("role_arn"),
                reason=decision.reason,
            )
            return _error(
                403,
                "AccessDenied",
                f"Access Denied ({decision.reason})" if runtime.sts.settings.debug else "Access Denied",
                resource,
                request_id,
            )
        headers = {"x-amz-request-id": request_id}
        if not bucket:
            names = "".join(
                f"<Bucket><Name>{escape(n)}</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>"
                for n in sorted(buckets.data)
            )
            return web.Response(
                text=f'<ListAllMyBucketsResult xmlns="{_S3_NS}"><Buckets>{names}</Buckets></ListAllMyBucketsResult>',
                content_type="application/xml",
                headers=headers,
            )
        if not key:
            if request.method == "PUT":
                buckets.data.setdefault(bucket, {})
                return web.Response(status=200, headers=headers)
            if bucket not in buckets.data:
                return _error(404, "NoSuchBucket", "The specified bucket does not exist", resource, request_id)
            if request.method == "DELETE":
                if buckets.data[bucket]:
                    return _error(
                        409, "BucketNotEmpty", "The bucket you tried to delete is not empty", resource, request_id
                    )
                del buckets.data[bucket]
                return web.Response(status=204, headers=headers)
            if request.method == "HEAD":
                return web.Response(status=200, headers=headers)
            prefix = query.get("prefix", "")
            items = "".join(
                f"<Contents><Key>{escape(k)}</Key><Size>{len(o.body)}</Size><ETag>&quot;{o.etag}&quot;</ETag>"
                f"<LastModified>{time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime(o.modified))}</LastModified>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
                for k, o in sorted(buckets.data[bucket].items())
                if k.startswith(prefix)
            )
            count = sum(1 for k in buckets.data[bucket] if k.startswith(prefix))
            return web.Response(
                text=f'<ListBucketResult xmlns="{_S3_NS}"><Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>'
                f"<KeyCount>{count}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{items}</ListBucketResult>",
                content_type="application/xml",
                headers=headers,
            )
        objects = buckets.data.get(bucket)
        if objects is None:
            return _error(404, "NoSuchBucket", "The specified bucket does not exist", resource, request_id)
        if request.method == "PUT":
            etag = hashlib.md5(body).hexdigest()  # noqa: S324 - S3's ETag is an MD5
            objects[key] = _Object(
                body, etag, runtime.clock.now(), request.headers.get("Content-Type", "binary/octet-stream")
            )
            return web.Response(status=200, headers={**headers, "ETag": f'"{etag}"'})
        if request.method == "DELETE":
            objects.pop(key, None)
            return web.Response(status=204, headers=headers)
        obj = objects.get(key)
        if obj is None:
            return _error(404, "NoSuchKey", "The specified key does not exist.", resource, request_id)
        meta = {
            **headers,
            "ETag": f'"{obj.etag}"',
            "Content-Length": str(len(obj.body)),
            "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(obj.modified)),
        }
        if request.method == "HEAD":
            return web.Response(status=200, headers=meta)
        return web.Response(body=obj.body, headers=meta, content_type=obj.content_type)

    for path in (PREFIX, PREFIX + "/", PREFIX + "/{tail:.*}"):
        for method in ("GET", "PUT", "HEAD", "DELETE"):
            app.router.add_route(method, path, handle)
