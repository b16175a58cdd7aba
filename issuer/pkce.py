"""PKCE (RFC 7636) helpers shared by /authorize and the code grant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

METHODS = ("S256", "plain")
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def valid_challenge(challenge: str) -> bool:
    return bool(_VERIFIER.match(challenge))


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def verify(verifier: str, challenge: str, method: str) -> bool:
    if not _VERIFIER.match(verifier):
        return False
    computed = s256(verifier) if method == "S256" else verifier
    return hmac.compare_digest(computed.encode(), challenge.encode())
