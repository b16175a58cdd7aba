"""MinIO's admin side channel: best-effort revocation of upstream STS sessions.

MinIO lets an admin revoke another user's STS tokens only for ``builtin`` and
``ldap`` users; for ``openid`` users it refuses (only a self-revoke with the STS
credential itself works). Every attempt is one ``upstream.revoke`` audit event,
whatever the answer. See docs/upstream.md for the limits.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from ..ports import AuditSink
from ..settings import UpstreamSettings
from .wire import RAW_LIMIT, parse_error

#: The forwarder's retrying POST: (upstream, url, data=, headers=) -> (status, body, attempts, request id).
Post = Callable[..., Awaitable[tuple[int, bytes, int, str | None]]]


def revoke_targets(upstreams: Mapping[str, UpstreamSettings]) -> list[UpstreamSettings]:
    """The MinIO upstreams with admin credentials configured (the only ones we can ask)."""
    return [u for u in upstreams.values() if u.kind == "minio" and u.admin_access_key and u.admin_secret_key]


def minio_revoke_url(upstream: UpstreamSettings, user: str) -> str:
    query = urlencode({"user": user, "fullRevoke": "true"}, quote_via=quote)
    provider = quote(upstream.revoke_user_provider, safe="")
    return f"{upstream.endpoint.rstrip('/')}/minio/admin/v3/revoke-tokens/{provider}?{query}"


def sign_admin_request(upstream: UpstreamSettings, method: str, url: str, body: bytes) -> dict[str, str]:
    """Headers of a MinIO admin call signed with SigV4, service ``s3``, the upstream's region."""
    from botocore.auth import SigV4Auth  # botocore is heavy: load it on the first revocation only
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials(str(upstream.admin_access_key), str(upstream.admin_secret_key))
    request = AWSRequest(
        method=method, url=url, data=body, headers={"X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()}
    )
    SigV4Auth(credentials, "s3", upstream.region).add_auth(request)
    return {k: v for k, v in request.headers.items()}


async def revoke_tokens(
    post: Post, audit: AuditSink, upstream: UpstreamSettings, revocation: Mapping[str, Any]
) -> dict[str, Any]:
    """``POST /minio/admin/v3/revoke-tokens/{provider}?user=X&fullRevoke=true``, SigV4 (service s3)."""
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
        status, answer, _, _ = await post(upstream, url, data=b"", headers=headers)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        latency = round((time.perf_counter() - started) * 1000, 3)
        outcome = {"outcome": "error", "status": None, "latency_ms": latency, "error": str(exc)[:RAW_LIMIT]}
        audit.record("upstream.revoke", **event, **outcome)
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
    audit.record("upstream.revoke", **event, **outcome)
    return outcome
