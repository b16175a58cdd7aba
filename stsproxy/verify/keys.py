"""Which JWK may verify which JWS algorithm (RFC 7518 key types and curves, ``alg`` and ``use``)."""

from __future__ import annotations

from typing import Any

_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}
_OKP_CURVES = {"EdDSA": ("Ed25519", "Ed448"), "Ed25519": ("Ed25519",), "Ed448": ("Ed448",)}


def key_matches_alg(jwk: dict[str, Any], alg: str) -> bool:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if alg in _RSA_ALGS:
        family_ok = kty == "RSA"
    elif alg in _EC_CURVES:
        family_ok = kty == "EC" and crv == _EC_CURVES[alg]
    elif alg in _OKP_CURVES:
        family_ok = kty == "OKP" and crv in _OKP_CURVES[alg]
    else:
        family_ok = False
    if not family_ok:
        return False
    if "alg" in jwk and jwk["alg"] != alg:
        return False
    return jwk.get("use", "sig") == "sig"


def describe_key(jwk: dict[str, Any]) -> str:
    parts = [f"kty {jwk.get('kty')}"]
    for name in ("crv", "alg", "use"):
        if name in jwk:
            parts.append(f"{name} {jwk[name]}")
    return ", ".join(parts)
