"""The token checks, in order: one function per named check.

:data:`CHECKS` is the pipeline the verifier runs, and the list the console's
decoder shows. A check reads and fills a :class:`TokenUnderTest`; the first
failure raises the mapped :mod:`stsproxy.errors` class carrying the check's
name, which the audit record and debug responses expose. The names are part
of the contract (audit fields, docs, tests): never rename one.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import import_key
from joserfc.jws import JWSAlgModel

from ..errors import ExpiredTokenException, IDPCommunicationError, InvalidIdentityToken
from ..settings import TokenValidationSettings
from .jwks import VERIFIED_MAX, IdpUnreachable, JwksCache, JwksEntry
from .keys import describe_key, key_matches_alg
from .model import TrustedIssuer
from .segments import b64_json, decode_header, is_b64url


class VerifyEnv(Protocol):
    """What the checks need from the verifier: settings, the clock, issuers, keys, algorithms."""

    settings: TokenValidationSettings
    jwks: JwksCache

    def now(self) -> float: ...

    def trusted(self, iss: str) -> TrustedIssuer | None: ...

    def algorithm(self, alg: str) -> JWSAlgModel: ...


class TokenUnderTest:
    """The token as the checks have taken it apart so far (one per verification: kept cheap to build)."""

    __slots__ = ("token", "raw", "parts", "header", "claims", "alg", "kid", "issuer", "entry", "fetched_now",
                 "candidates", "key", "audience", "_now")  # fmt: skip

    def __init__(self, token: str, raw: bytes) -> None:
        self.token, self.raw = token, raw
        self.parts: list[str] = []
        self.header: dict[str, Any] = {}
        self.claims: dict[str, Any] = {}
        self.alg = ""
        self.kid: str | None = None
        self.issuer: TrustedIssuer | None = None
        self.entry: JwksEntry | None = None
        self.fetched_now = False
        self.candidates: list[tuple[int, dict[str, Any]]] = []
        self.key: Any = None
        self.audience = ""
        self._now: float | None = None

    def now(self, env: VerifyEnv) -> float:
        """The clock, read once per verification: exp, nbf, iat and max-age judge the same instant."""
        if self._now is None:
            self._now = env.now()
        return self._now

    @property
    def iss(self) -> str:
        return self.issuer.issuer if self.issuer is not None else str(self.claims.get("iss", ""))


def fail(message: str, check: str, **detail: Any) -> InvalidIdentityToken:
    return InvalidIdentityToken(message, check=check, detail={k: v for k, v in detail.items() if v is not None})


# --------------------------------------------------------------------------- helpers


def _numeric(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(f"Invalid claim {name}: must be a NumericDate", name)
    return float(value)


def _unreachable(issuer: TrustedIssuer, exc: IdpUnreachable) -> IDPCommunicationError:
    return IDPCommunicationError(
        f"Couldn't retrieve verification key from your identity provider {issuer.issuer}, "
        "please reference AssumeRoleWithWebIdentity documentation for requirements",
        check="jwks-fetch",
        detail={"iss": issuer.issuer, "reason": str(exc)},
    )


def _candidates(entry: JwksEntry, t: TokenUnderTest) -> list[tuple[int, dict[str, Any]]]:
    """Keys the token may name: by kid, or (no kid) every key usable with its alg, which must be one."""
    if t.kid is not None:
        return [(i, k) for i, k in enumerate(entry.keys) if k.get("kid") == t.kid]
    usable = [(i, k) for i, k in enumerate(entry.keys) if key_matches_alg(k, t.alg)]
    if len(usable) > 1:
        raise fail(
            f"Token has no kid and the JWKS of {t.iss} has {len(usable)} keys usable with {t.alg}",
            "kid-known",
            iss=t.iss,
            alg=t.alg,
        )
    return usable


# --------------------------------------------------------------------------- the checks


def token_size(t: TokenUnderTest, env: VerifyEnv) -> None:
    limit = env.settings.max_token_bytes
    if len(t.raw) > limit:
        raise fail(f"Invalid JWT: token is {len(t.raw)} bytes, more than the allowed {limit}", "token-size")


def token_format(t: TokenUnderTest, env: VerifyEnv) -> None:
    parts = t.token.split(".")
    if len(parts) == 5:
        raise fail("Invalid JWT: encrypted (JWE) tokens are not supported, expected a signed JWS", "token-format")
    if len(parts) != 3:
        raise fail(f"Invalid JWT: expected 3 dot-separated parts, got {len(parts)}", "token-format")
    t.parts = parts
    header = t.header = decode_header(parts[0])
    t.claims = b64_json(parts[1], "payload")
    if not is_b64url(parts[2]):
        raise fail("Invalid JWT: the signature is not base64url", "token-format")
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise fail("Invalid JWT: the header has no 'alg'", "token-format")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise fail("Invalid JWT: the header's 'kid' must be a string", "token-format")
    if "crit" in header:
        raise fail("Invalid JWT: critical header parameters are not supported", "token-format")
    t.alg, t.kid = alg, kid


def alg_none(t: TokenUnderTest, env: VerifyEnv) -> None:
    if t.alg.lower() == "none":
        raise fail("Invalid JWT: alg 'none' is not allowed; the token must be signed", "alg-none")


def issuer_trusted(t: TokenUnderTest, env: VerifyEnv) -> None:
    iss = t.claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise fail("Missing a required claim: iss", "issuer-trusted")
    t.issuer = env.trusted(iss)
    if t.issuer is None:
        raise fail(f"No OpenIDConnect provider found in your account for {iss}", "issuer-trusted", iss=iss)


def alg_allowed(t: TokenUnderTest, env: VerifyEnv) -> None:
    alg, issuer = t.alg, t.issuer
    assert issuer is not None
    if alg.upper().startswith("HS"):
        raise fail(
            f"{alg} is not allowed: symmetric algorithms cannot be verified against public keys",
            "alg-allowed",
            iss=issuer.issuer,
            alg=alg,
        )
    if alg not in issuer.algorithms or alg not in jws.JWSRegistry.algorithms:
        raise fail(
            f"Algorithm {alg} is not allowed for {issuer.issuer} (allowed: {', '.join(issuer.algorithms)})",
            "alg-allowed",
            iss=issuer.issuer,
            alg=alg,
        )


async def jwks_fetch(t: TokenUnderTest, env: VerifyEnv) -> None:
    issuer = t.issuer
    assert issuer is not None
    try:
        t.entry, t.fetched_now = await env.jwks.keys(issuer.issuer, issuer.jwks_source)
    except IdpUnreachable as exc:
        raise _unreachable(issuer, exc) from exc


async def kid_known(t: TokenUnderTest, env: VerifyEnv) -> None:
    """The key the token names; an unknown kid earns one rate-limited refetch (keys may have rotated)."""
    issuer, entry = t.issuer, t.entry
    assert issuer is not None and entry is not None
    known = entry.chosen.get((t.kid, t.alg))
    if known is not None:  # this kid and alg were looked up in this key set before
        t.candidates = known[0]
        return
    candidates = _candidates(entry, t)
    if not candidates and not t.fetched_now:
        try:
            refetched = await env.jwks.refetch(issuer.issuer, issuer.jwks_source)
        except IdpUnreachable as exc:
            raise _unreachable(issuer, exc) from exc
        if refetched is not None:
            t.entry = refetched
            candidates = _candidates(refetched, t)
    if not candidates:
        if t.kid is None:
            raise fail(
                f"Token has no kid and the JWKS of {t.iss} has no key usable with {t.alg}",
                "kid-known",
                iss=t.iss,
                alg=t.alg,
            )
        raise fail(f"No key with kid '{t.kid}' in the JWKS of {t.iss}", "kid-known", iss=t.iss, kid=t.kid)
    t.candidates = candidates


def alg_key_match(t: TokenUnderTest, env: VerifyEnv) -> None:
    entry = t.entry
    assert entry is not None
    known = entry.chosen.get((t.kid, t.alg))
    if known is not None and known[0] is t.candidates:
        chosen = None if known[1] is None else t.candidates[known[1]]
    else:
        position = next((n for n, (_, k) in enumerate(t.candidates) if key_matches_alg(k, t.alg)), None)
        if t.candidates:  # non-empty: kids of these keys only (kid-known failed otherwise)
            entry.chosen[(t.kid, t.alg)] = (t.candidates, position)
        chosen = None if position is None else t.candidates[position]
    if chosen is None:
        raise fail(
            f"Algorithm {t.alg} does not match the key '{t.kid}' of {t.iss} ({describe_key(t.candidates[0][1])})",
            "alg-key-match",
            iss=t.iss,
            kid=t.kid,
            alg=t.alg,
        )
    index, jwk = chosen
    key = entry.parsed.get(index)
    if key is None:
        try:
            key = import_key(jwk)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise fail(
                f"The key '{t.kid}' in the JWKS of {t.iss} is invalid: {exc}", "alg-key-match", iss=t.iss, kid=t.kid
            ) from None
        entry.parsed[index] = key
    t.key = key


def signature(t: TokenUnderTest, env: VerifyEnv) -> None:
    """The signature over exactly the header and payload segments the claims were decoded from."""
    entry = t.entry
    if entry is not None and t.token in entry.verified:
        return  # this exact token verified against this exact key set before (see JwksEntry.verified)
    reason = "BadSignatureError"
    try:
        signed = t.raw[: len(t.parts[0]) + 1 + len(t.parts[1])]  # header.payload: ASCII (token-format checked)
        sig = base64.urlsafe_b64decode(t.parts[2] + "=" * (-len(t.parts[2]) % 4))
        valid = env.algorithm(t.alg).verify(signed, sig, t.key)
    except (JoseError, ValueError, TypeError) as exc:
        valid, reason = False, type(exc).__name__
    if not valid:
        raise InvalidIdentityToken(
            "Invalid signature",
            check="signature",
            detail={"iss": t.iss, "kid": t.kid, "alg": t.alg, "reason": reason},
        )
    if entry is not None:
        if len(entry.verified) >= VERIFIED_MAX:
            entry.verified.clear()
        entry.verified.add(t.token)


def aud(t: TokenUnderTest, env: VerifyEnv) -> None:
    issuer, claims = t.issuer, t.claims
    assert issuer is not None
    value = claims.get("aud")
    if value is None:
        raise fail("Missing a required claim: aud", "aud", iss=issuer.issuer)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise fail("Invalid claim aud: must be a string or an array of strings", "aud", iss=issuer.issuer)
    if not issuer.audiences:
        t.audience = values[0]
        return
    for candidate in values:
        if candidate in issuer.audiences:
            t.audience = candidate
            return
    azp = claims.get("azp")
    if isinstance(azp, str) and azp in issuer.audiences:
        if issuer.azp_as_audience:
            t.audience = azp
            return
        raise fail(
            "Incorrect token audience", "aud", iss=issuer.issuer, aud=values[:5], azp=azp,
            reason="azp is in the audience list but aud is not: IAM checks aud only "
            "(add an audience mapper at the IdP, or set azp_as_audience: true for MinIO/SeaweedFS behaviour)",
        )  # fmt: skip
    raise fail("Incorrect token audience", "aud", iss=issuer.issuer, aud=values[:5])


def exp(t: TokenUnderTest, env: VerifyEnv) -> None:
    value = _numeric(t.claims, "exp")
    if value is None:
        raise fail("Missing a required claim: exp", "exp", iss=t.iss)
    now = t.now(env)
    if now > value + env.settings.leeway_seconds:
        raise ExpiredTokenException(
            f"Token expired: current date/time {int(now)} must be before the expiration date/time{int(value)}",
            check="exp",
            detail={"iss": t.iss, "exp": value, "now": now},
        )


def nbf(t: TokenUnderTest, env: VerifyEnv) -> None:
    value = _numeric(t.claims, "nbf")
    now = t.now(env)
    if value is not None and value > now + env.settings.leeway_seconds:
        raise fail(f"Token is not yet valid (nbf {int(value)} is after {int(now)})", "nbf", iss=t.iss)


def iat(t: TokenUnderTest, env: VerifyEnv) -> None:
    value = _numeric(t.claims, "iat")
    now = t.now(env)
    if value is not None and value > now + env.settings.leeway_seconds:
        raise fail(f"Token was issued in the future (iat {int(value)} is after {int(now)})", "iat", iss=t.iss)


def max_age(t: TokenUnderTest, env: VerifyEnv) -> None:
    limit = env.settings.max_token_age_seconds
    issued = _numeric(t.claims, "iat")
    if limit is None or issued is None:
        return
    now = t.now(env)
    if now - issued > limit:
        raise ExpiredTokenException(
            f"Token too old: {int(now - issued)}", check="max-age", detail={"iss": t.iss, "iat": issued, "now": now}
        )


def sub(t: TokenUnderTest, env: VerifyEnv) -> None:
    value = t.claims.get("sub")
    if not isinstance(value, str) or not value:
        raise fail("Missing a required claim: sub", "sub", iss=t.iss)


class Check(NamedTuple):
    """One named check: the name the audit and debug messages use, a label for people, the function."""

    name: str
    label: str
    run: Callable[[TokenUnderTest, VerifyEnv], Awaitable[None] | None]
    is_async: bool = False


#: The pipeline, in order. The first failing check ends it.
CHECKS: tuple[Check, ...] = (
    Check("token-size", "token size within limit", token_size),
    Check("token-format", "well-formed compact JWS", token_format),
    Check("alg-none", "signed (alg is not none)", alg_none),
    Check("issuer-trusted", "issuer is trusted", issuer_trusted),
    Check("alg-allowed", "algorithm allowed for the issuer", alg_allowed),
    Check("jwks-fetch", "issuer keys (JWKS) available", jwks_fetch, is_async=True),
    Check("kid-known", "signing key found (kid)", kid_known, is_async=True),
    Check("alg-key-match", "key usable with the algorithm", alg_key_match),
    Check("signature", "signature valid", signature),
    Check("aud", "audience accepted", aud),
    Check("exp", "not expired", exp),
    Check("nbf", "not before (nbf)", nbf),
    Check("iat", "not issued in the future (iat)", iat),
    Check("max-age", "not too old (max token age)", max_age),
    Check("sub", "has a subject", sub),
)
