"""Forwarding AssumeRoleWithWebIdentity to a real upstream STS (MinIO, Ceph RGW, AWS).

* :mod:`.forwarder` – the :class:`UpstreamForwarder` (HTTP sessions, retries, audit);
* :mod:`.wire` – pure parsing of upstream answers and rendering of what goes out;
* :mod:`.minio_admin` – MinIO's admin side channel (best-effort revocation).

A new upstream kind adds its wire quirks to ``wire`` and its choices (RoleArn,
DurationSeconds, side channels) where the forwarder branches on ``upstream.kind``.
"""

from __future__ import annotations

from .forwarder import USER_AGENT, MintBrokerToken, UpstreamForwarder
from .minio_admin import minio_revoke_url, sign_admin_request
from .wire import (
    RAW_LIMIT,
    STATUS_CODES,
    assumed_role_arn_fallback,
    compact_json,
    normalize_expiration,
    parse_error,
    parse_success,
    render_claims,
)

__all__ = [
    "RAW_LIMIT",
    "STATUS_CODES",
    "USER_AGENT",
    "MintBrokerToken",
    "UpstreamForwarder",
    "assumed_role_arn_fallback",
    "compact_json",
    "minio_revoke_url",
    "normalize_expiration",
    "parse_error",
    "parse_success",
    "render_claims",
    "sign_admin_request",
]
