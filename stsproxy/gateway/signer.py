"""Signing toward a backend: every request the gateway sends is SigV4-signed with the backend's key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from .sigv4 import ALGORITHM, format_timestamp, sign, signing_key


def sign_backend(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    *,
    access_key: str,
    secret: str,
    region: str,
    now: float,
    session_token: str | None = None,
) -> dict[str, str]:
    """Authorization and its companion headers for a path-style request; ``headers`` must hold
    ``host`` and ``x-amz-content-sha256``. Every header given is signed; ``path`` is already encoded
    and ``query`` is already canonical."""
    timestamp = format_timestamp(now)
    out = {"x-amz-date": timestamp}
    if session_token:
        out["x-amz-security-token"] = session_token
    signed = {k.lower(): " ".join(str(v).split()) for k, v in {**headers, **out}.items()}
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            path,
            query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            signed["x-amz-content-sha256"],
        ]
    )
    scope = f"{timestamp[:8]}/{region}/s3/aws4_request"
    to_sign = (
        f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8', 'surrogateescape')).hexdigest()}"
    )
    signature = sign(signing_key(secret, timestamp[:8], region, "s3"), to_sign)
    out["Authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out
