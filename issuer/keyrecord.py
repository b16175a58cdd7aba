"""One signing key as persisted: its record (private JWK, certificate, lifecycle timestamps), its
state at an instant, and its public JWK. Pure: no I/O, no clock of its own."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwk


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _import_private(data: dict[str, Any]) -> Any:
    """Load a persisted key. Our own RSA keys skip OpenSSL's slow consistency check (~30 ms per key
    at every start); they were generated and written by us, atomically, with mode 0600."""
    if data.get("kty") == "RSA" and "p" in data:
        public = rsa.RSAPublicNumbers(_int(data["e"]), _int(data["n"]))
        numbers = rsa.RSAPrivateNumbers(
            _int(data["p"]),
            _int(data["q"]),
            _int(data["d"]),
            _int(data["dp"]),
            _int(data["dq"]),
            _int(data["qi"]),
            public,
        )
        private = numbers.private_key(unsafe_skip_rsa_key_validation=True)
        return jwk.RSAKey(private, private)
    return jwk.import_key(data)


class Key:
    """One persisted key and its lifecycle timestamps."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.key = _import_private(record["jwk"])
        self.cert = x509.load_pem_x509_certificate(record["cert_pem"].encode())

    kid = property(lambda self: self.record["kid"])
    alg = property(lambda self: self.record["alg"])

    def state(self, now: float) -> str:
        r = self.record
        if r.get("retired_at") is not None and r["retired_at"] <= now:
            return "retired"
        if r["activated_at"] > now:
            return "next"
        return "active"

    def published(self, now: float) -> bool:
        exp = self.record.get("expires_at")
        return exp is None or exp > now

    def x5t(self) -> str:
        """base64url SHA-1 of the certificate (the legacy ``x5t`` of Keycloak, GitHub, Entra)."""
        der = self.cert.public_bytes(serialization.Encoding.DER)
        return _b64(hashlib.sha1(der).digest())  # noqa: S324 - a certificate thumbprint, not a MAC

    def public_jwk(self, *, x5c: bool = True) -> dict[str, Any]:
        der = self.cert.public_bytes(serialization.Encoding.DER)
        out = dict(self.key.as_dict(private=False))
        out.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        if x5c:
            out["x5c"] = [base64.b64encode(der).decode()]
            out["x5t"] = self.x5t()
            out["x5t#S256"] = _b64(hashlib.sha256(der).digest())
        return out
