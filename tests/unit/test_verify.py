"""Web-identity token verification: the happy paths and the negative matrix, check by check."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import warnings
from typing import Any

import pytest
from aiohttp import web
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from stsproxy.errors import ExpiredTokenException, IDPCommunicationError, InvalidIdentityToken, StsError
from stsproxy.settings import TokenValidationSettings, TrustedIssuerSettings
from stsproxy.verify import (
    HttpJwksSource,
    IdpUnreachable,
    StaticJwksSource,
    TokenVerifier,
    TrustedIssuer,
    VerifiedToken,
)

ISS = "https://idp.example.com/realms/a"
AUD = "client-a"
NOW = 1_700_000_000.0
ALL_ALGS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "ES512", "EdDSA")


class FakeClock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


KEYS = {
    "rsa1": RSAKey.generate_key(2048, parameters={"kid": "rsa1"}),
    "ec256": ECKey.generate_key("P-256", parameters={"kid": "ec256"}),
    "ec384": ECKey.generate_key("P-384", parameters={"kid": "ec384"}),
    "ec521": ECKey.generate_key("P-521", parameters={"kid": "ec521"}),
    "ed1": OKPKey.generate_key("Ed25519", parameters={"kid": "ed1"}),
}
OTHER_RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa1"})
ALG_KEY = {"RS256": "rsa1", "RS384": "rsa1", "RS512": "rsa1", "PS256": "rsa1", "ES256": "ec256",
           "ES384": "ec384", "ES512": "ec521", "EdDSA": "ed1"}  # fmt: skip


def public_jwks(*kids: str) -> dict[str, Any]:
    return {"keys": [KEYS[kid].as_dict(private=False) for kid in (kids or KEYS)]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64(json.dumps(obj).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "user-1", "iat": int(NOW) - 10, "exp": int(NOW) + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    payload: dict[str, Any], alg: str = "RS256", kid: str | None = "default", key: Any = None, **header: Any
) -> str:
    kid = ALG_KEY[alg] if kid == "default" else kid
    key = key if key is not None else KEYS[ALG_KEY[alg]]
    protected = {"alg": alg, "typ": "JWT", **header}
    if kid is not None:
        protected["kid"] = kid
    registry = jws.JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jws.serialize_compact(protected, json.dumps(payload).encode(), key, registry=registry)


class CountingJwks:
    """A JWKS provider for StaticJwksSource that counts fetches and can fail or rotate."""

    def __init__(self, jwks: dict[str, Any] | None = None) -> None:
        self.jwks = jwks if jwks is not None else public_jwks()
        self.calls = 0
        self.fail: Exception | None = None

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return self.jwks


def make_verifier(
    provider: CountingJwks | None = None,
    *,
    audiences: tuple[str, ...] = (AUD,),
    algorithms: tuple[str, ...] = ALL_ALGS,
    clock: FakeClock | None = None,
    azp_as_audience: bool = False,
    **settings: Any,
) -> tuple[TokenVerifier, CountingJwks, FakeClock]:
    provider = provider or CountingJwks()
    clock = clock or FakeClock()
    issuer = TrustedIssuer(ISS, audiences, algorithms, StaticJwksSource(provider), azp_as_audience)
    return TokenVerifier([issuer], TokenValidationSettings(**settings), clock=clock), provider, clock


async def rejected(verifier: TokenVerifier, token: str, error: type[StsError], check: str) -> StsError:
    with pytest.raises(error) as info:
        await verifier.verify(token)
    assert type(info.value) is error
    assert info.value.check == check, info.value.message
    return info.value


# --------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("alg", ALL_ALGS)
async def test_verifies_every_allowed_algorithm(alg: str) -> None:
    verifier, _, _ = make_verifier()
    token = sign(claims(), alg)
    result = await verifier.verify(token)
    assert isinstance(result, VerifiedToken)
    assert result.alg == alg
    assert result.kid == ALG_KEY[alg]
    assert result.claims["sub"] == "user-1"
    assert result.header["typ"] == "JWT"
    assert result.audience == AUD
    assert result.issuer.issuer == ISS
    assert result.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_provider_id_drops_the_scheme() -> None:
    source = StaticJwksSource(dict)
    assert TrustedIssuer("http://127.0.0.1:8400", (), (), source).provider_id == "127.0.0.1:8400"
    assert TrustedIssuer(ISS, (), (), source).provider_id == "idp.example.com/realms/a"


def test_trusted_issuer_from_settings() -> None:
    settings = TrustedIssuerSettings(issuer=ISS, audiences=["a", "b"], jwks_uri="https://idp/keys")
    issuer = TrustedIssuer.from_settings(settings, timeout=2.0)
    assert issuer.audiences == ("a", "b")
    assert "RS256" in issuer.algorithms
    assert isinstance(issuer.jwks_source, HttpJwksSource)


async def test_audience_rules() -> None:
    verifier, _, _ = make_verifier(audiences=("client-a", "client-b"))
    assert (await verifier.verify(sign(claims(aud=["other", "client-b", "client-a"])))).audience == "client-b"
    # IAM checks aud only: an azp in the list does not help, and the audit detail says why
    error = await rejected(verifier, sign(claims(aud="other", azp="client-a")), InvalidIdentityToken, "aud")
    assert error.message == "Incorrect token audience" and "IAM checks aud only" in error.detail["reason"]
    await rejected(verifier, sign(claims(aud="other", azp="stranger")), InvalidIdentityToken, "aud")
    # MinIO and SeaweedFS accept azp (TrustedIssuerSettings.azp_as_audience, the minio profile's default)
    lenient, _, _ = make_verifier(audiences=("client-a",), azp_as_audience=True)
    assert (await lenient.verify(sign(claims(aud="other", azp="client-a")))).audience == "client-a"
    await rejected(lenient, sign(claims(aud="other", azp="stranger")), InvalidIdentityToken, "aud")
    anyone, _, _ = make_verifier(audiences=())
    assert (await anyone.verify(sign(claims(aud=["x", "y"])))).audience == "x"


async def test_no_kid_uses_the_only_compatible_key() -> None:
    verifier, _, _ = make_verifier()
    assert (await verifier.verify(sign(claims(), "ES256", kid=None))).kid is None


async def test_accepts_extra_headers_and_large_headers() -> None:
    verifier, _, _ = make_verifier()
    token = sign(claims(), "RS256", x5t="x" * 2000, custom="yes")
    assert (await verifier.verify(token)).header["custom"] == "yes"


async def test_verification_reuses_the_cached_jwks() -> None:
    verifier, provider, _ = make_verifier()
    token = sign(claims(), "ES256")
    for _ in range(50):
        await verifier.verify(token)
    assert provider.calls == 1  # one fetch serves every later verification (no per-request key work)


# --------------------------------------------------------------------------- token-size, token-format


async def test_oversized_token() -> None:
    verifier, provider, _ = make_verifier(max_token_bytes=1000)
    err = await rejected(verifier, sign(claims(pad="p" * 1000)), InvalidIdentityToken, "token-size")
    assert err.message.startswith("Invalid JWT: token is ")
    assert err.message.endswith("bytes, more than the allowed 1000")
    assert provider.calls == 0


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("a.b.c.d.e", "Invalid JWT: encrypted (JWE) tokens are not supported, expected a signed JWS"),
        ("only.two", "Invalid JWT: expected 3 dot-separated parts, got 2"),
        ("not-a-jwt", "Invalid JWT: expected 3 dot-separated parts, got 1"),
        ("!!!." + b64json({}) + ".sig", "Invalid JWT: the header is not base64url"),
        (b64(b"{not json") + "." + b64json({}) + ".sig", "Invalid JWT: the header is not valid JSON"),
        (b64json({"alg": "RS256"}) + "." + b64json([1, 2]) + ".sig", "Invalid JWT: the payload is not a JSON object"),
        (b64json({"alg": "RS256"}) + "." + b64json({}) + ".s+g", "Invalid JWT: the signature is not base64url"),
        (b64json({"typ": "JWT"}) + "." + b64json({}) + ".sig", "Invalid JWT: the header has no 'alg'"),
        (b64json({"alg": "RS256", "kid": 7}) + "." + b64json({}) + ".sig", "Invalid JWT: the header's 'kid' must be"),
        (b64json({"alg": "RS256", "crit": ["b64"]}) + "." + b64json({}) + ".sig", "Invalid JWT: critical header"),
        (
            b64json({"alg": "RS256"}) + "." + b64(b'{"iss": "a", "iss": "b"}') + ".sig",
            "Invalid JWT: the payload is not valid JSON (duplicate member 'iss')",
        ),
        (b64json({"alg": "RS256"}) + "." + b64(b'{"exp": NaN}') + ".sig", "Invalid JWT: the payload is not valid JSON"),
    ],
)
async def test_malformed_tokens(token: str, message: str) -> None:
    verifier, _, _ = make_verifier()
    err = await rejected(verifier, token, InvalidIdentityToken, "token-format")
    assert err.message.startswith(message)


# --------------------------------------------------------------------------- alg-none, issuer-trusted, alg-allowed


async def test_alg_none_is_rejected() -> None:
    verifier, provider, _ = make_verifier()
    for alg in ("none", "None", "NONE"):
        token = b64json({"alg": alg, "kid": "rsa1"}) + "." + b64json(claims()) + "."
        err = await rejected(verifier, token, InvalidIdentityToken, "alg-none")
        assert err.message == "Invalid JWT: alg 'none' is not allowed; the token must be signed"
    assert provider.calls == 0


async def test_missing_and_untrusted_issuer() -> None:
    verifier, provider, _ = make_verifier()
    err = await rejected(verifier, sign(claims(iss=None)), InvalidIdentityToken, "issuer-trusted")
    assert err.message == "Missing a required claim: iss"
    err = await rejected(verifier, sign(claims(iss="https://evil.example")), InvalidIdentityToken, "issuer-trusted")
    assert err.message == "No OpenIDConnect provider found in your account for https://evil.example"
    # issuers compare exactly: no trailing-slash or case folding
    await rejected(verifier, sign(claims(iss=ISS + "/")), InvalidIdentityToken, "issuer-trusted")
    assert provider.calls == 0


async def test_hs256_key_confusion_attack_is_rejected() -> None:
    """The classic attack: HMAC-sign with the issuer's *public* RSA key as the secret."""
    verifier, provider, _ = make_verifier()
    public_pem = KEYS["rsa1"].as_pem(private=False)
    signing_input = b64json({"alg": "HS256", "kid": "rsa1", "typ": "JWT"}) + "." + b64json(claims())
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    err = await rejected(verifier, signing_input + "." + b64(mac), InvalidIdentityToken, "alg-allowed")
    assert err.message == "HS256 is not allowed: symmetric algorithms cannot be verified against public keys"
    assert provider.calls == 0


async def test_alg_outside_issuer_allowlist() -> None:
    verifier, _, _ = make_verifier(algorithms=("RS256",))
    err = await rejected(verifier, sign(claims(), "ES256"), InvalidIdentityToken, "alg-allowed")
    assert err.message == f"Algorithm ES256 is not allowed for {ISS} (allowed: RS256)"
    await rejected(verifier, sign(claims(), "PS256"), InvalidIdentityToken, "alg-allowed")


# --------------------------------------------------------------------------- jwks-fetch, caching


async def test_jwks_unreachable_is_idp_communication_error() -> None:
    provider = CountingJwks()
    provider.fail = ConnectionRefusedError("connection refused")
    verifier, _, _ = make_verifier(provider)
    err = await rejected(verifier, sign(claims()), IDPCommunicationError, "jwks-fetch")
    assert err.message == (
        f"Couldn't retrieve verification key from your identity provider {ISS}, "
        "please reference AssumeRoleWithWebIdentity documentation for requirements"
    )
    assert "connection refused" in err.detail["reason"]
    provider.fail = None
    provider.jwks = {"no": "keys"}
    err = await rejected(verifier, sign(claims()), IDPCommunicationError, "jwks-fetch")
    assert "did not return a JWKS" in err.detail["reason"]


async def test_cache_ttl_expiry_triggers_refetch() -> None:
    verifier, provider, clock = make_verifier(jwks_cache_ttl_seconds=300)
    token = sign(claims(exp=int(NOW) + 3600))
    await verifier.verify(token)
    await verifier.verify(token)
    assert provider.calls == 1
    clock.t += 299
    await verifier.verify(token)
    assert provider.calls == 1
    clock.t += 1
    await verifier.verify(token)
    assert provider.calls == 2


async def test_concurrent_cold_verifications_fetch_once() -> None:
    verifier, provider, _ = make_verifier()
    token = sign(claims())
    results = await asyncio.gather(*(verifier.verify(token) for _ in range(20)))
    assert len(results) == 20
    assert provider.calls == 1


async def test_cache_is_bounded_lru_over_issuers() -> None:
    clock = FakeClock()
    providers = {name: CountingJwks() for name in ("https://a", "https://b")}
    issuers = [TrustedIssuer(n, (AUD,), ALL_ALGS, StaticJwksSource(p)) for n, p in providers.items()]
    verifier = TokenVerifier(issuers, TokenValidationSettings(), clock=clock, max_cached_issuers=1)
    token_a, token_b = sign(claims(iss="https://a")), sign(claims(iss="https://b"))
    await verifier.verify(token_a)
    await verifier.verify(token_a)
    await verifier.verify(token_b)  # evicts a
    await verifier.verify(token_a)
    assert providers["https://a"].calls == 2
    assert providers["https://b"].calls == 1


async def test_replace_issuers_at_runtime() -> None:
    verifier, provider, clock = make_verifier()
    token = sign(claims())
    await verifier.verify(token)
    verifier.replace_issuers([])
    await rejected(verifier, token, InvalidIdentityToken, "issuer-trusted")
    fresh = CountingJwks()
    verifier.replace_issuers([TrustedIssuer(ISS, (AUD,), ALL_ALGS, StaticJwksSource(fresh))])
    await verifier.verify(token)
    assert (provider.calls, fresh.calls) == (1, 1)
    assert [i.issuer for i in verifier.issuers] == [ISS]
    await verifier.close()


async def test_async_provider_is_supported() -> None:
    async def provider() -> dict[str, Any]:
        return public_jwks()

    verifier = TokenVerifier(
        [TrustedIssuer(ISS, (AUD,), ALL_ALGS, StaticJwksSource(provider))], TokenValidationSettings(), clock=FakeClock()
    )
    assert (await verifier.verify(sign(claims()))).kid == "rsa1"


# --------------------------------------------------------------------------- kid-known, alg-key-match


async def test_unknown_kid_refetches_once_and_is_rate_limited() -> None:
    verifier, provider, clock = make_verifier(jwks_refetch_min_interval_seconds=10)
    await verifier.verify(sign(claims()))
    assert provider.calls == 1
    unknown = sign(claims(), kid="nope")
    err = await rejected(verifier, unknown, InvalidIdentityToken, "kid-known")
    assert err.message == f"No key with kid 'nope' in the JWKS of {ISS}"
    assert provider.calls == 2  # exactly one refetch
    await rejected(verifier, unknown, InvalidIdentityToken, "kid-known")
    assert provider.calls == 2  # rate-limited
    clock.t += 10
    await rejected(verifier, unknown, InvalidIdentityToken, "kid-known")
    assert provider.calls == 3


async def test_cold_cache_unknown_kid_does_not_fetch_twice() -> None:
    verifier, provider, _ = make_verifier()
    await rejected(verifier, sign(claims(), kid="nope"), InvalidIdentityToken, "kid-known")
    assert provider.calls == 1


async def test_key_rotation_is_picked_up_by_the_refetch() -> None:
    provider = CountingJwks(public_jwks("rsa1"))
    verifier, _, _ = make_verifier(provider)
    await verifier.verify(sign(claims()))
    provider.jwks = public_jwks("rsa1", "ec256")
    assert (await verifier.verify(sign(claims(), "ES256"))).kid == "ec256"
    assert provider.calls == 2


async def test_no_kid_with_several_candidate_keys() -> None:
    rsa2 = RSAKey.generate_key(2048, parameters={"kid": "rsa2"})
    jwks = public_jwks("rsa1")
    jwks["keys"].append(rsa2.as_dict(private=False))
    verifier, _, _ = make_verifier(CountingJwks(jwks))
    err = await rejected(verifier, sign(claims(), "RS256", kid=None), InvalidIdentityToken, "kid-known")
    assert err.message == f"Token has no kid and the JWKS of {ISS} has 2 keys usable with RS256"
    err = await rejected(verifier, sign(claims(), "ES256", kid=None), InvalidIdentityToken, "kid-known")
    assert err.message == f"Token has no kid and the JWKS of {ISS} has no key usable with ES256"


@pytest.mark.parametrize(
    ("alg", "kid", "key", "described"),
    [
        ("ES256", "rsa1", "ec256", "kty RSA"),  # ES256 header naming an RSA key
        ("ES384", "ec256", "ec384", "kty EC, crv P-256"),
        ("RS256", "ed1", "rsa1", "kty OKP, crv Ed25519"),
        ("EdDSA", "ec256", "ed1", "kty EC, crv P-256"),
    ],
)
async def test_alg_key_type_mismatch(alg: str, kid: str, key: str, described: str) -> None:
    verifier, _, _ = make_verifier()
    token = sign(claims(), alg, kid=kid, key=KEYS[key])
    err = await rejected(verifier, token, InvalidIdentityToken, "alg-key-match")
    assert err.message == f"Algorithm {alg} does not match the key '{kid}' of {ISS} ({described})"


async def test_jwk_alg_and_use_must_match() -> None:
    jwk = KEYS["rsa1"].as_dict(private=False)
    verifier, _, _ = make_verifier(CountingJwks({"keys": [{**jwk, "alg": "RS512"}]}))
    err = await rejected(verifier, sign(claims(), "RS256"), InvalidIdentityToken, "alg-key-match")
    assert err.message.endswith("(kty RSA, alg RS512)")
    verifier, _, _ = make_verifier(CountingJwks({"keys": [{**jwk, "use": "enc"}]}))
    await rejected(verifier, sign(claims(), "RS256"), InvalidIdentityToken, "alg-key-match")


async def test_broken_jwk_is_reported() -> None:
    verifier, _, _ = make_verifier(CountingJwks({"keys": [{"kty": "RSA", "kid": "rsa1", "n": "!!", "e": "AQAB"}]}))
    err = await rejected(verifier, sign(claims()), InvalidIdentityToken, "alg-key-match")
    assert err.message.startswith(f"The key 'rsa1' in the JWKS of {ISS} is invalid")


# --------------------------------------------------------------------------- signature


async def test_tampered_payload_fails_signature() -> None:
    verifier, _, _ = make_verifier()
    header, _, signature = sign(claims()).split(".")
    forged = header + "." + b64json(claims(sub="admin")) + "." + signature
    err = await rejected(verifier, forged, InvalidIdentityToken, "signature")
    assert err.message == "Invalid signature"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_flipped_or_missing_signature(alg: str) -> None:
    verifier, _, _ = make_verifier()
    header, payload, signature = sign(claims(), alg).split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    for sig in (flipped, ""):
        err = await rejected(verifier, f"{header}.{payload}.{sig}", InvalidIdentityToken, "signature")
        assert err.message == "Invalid signature"


def count_signature_checks(verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every RSA/EC/EdDSA verification the verifier runs (one entry per signature checked)."""
    checked: list[str] = []
    real = verifier.algorithm

    class Counting:
        def __init__(self, alg: str) -> None:
            self.model = real(alg)

        def verify(self, msg: bytes, sig: bytes, key: Any) -> bool:
            checked.append("verify")
            return bool(self.model.verify(msg, sig, key))

    monkeypatch.setattr(verifier, "algorithm", Counting)
    return checked


async def test_a_token_verified_once_is_not_verified_again_against_the_same_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifier, _, _ = make_verifier()
    checked = count_signature_checks(verifier, monkeypatch)
    token = sign(claims())
    for _ in range(5):
        assert (await verifier.verify(token)).kid == "rsa1"
    assert checked == ["verify"]  # the same bytes against the same key set: the same answer
    header, payload, signature = token.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    await rejected(verifier, f"{header}.{payload}.{flipped}", InvalidIdentityToken, "signature")
    assert len(checked) == 2  # other bytes are checked, and a failure is never remembered
    await rejected(verifier, f"{header}.{payload}.{flipped}", InvalidIdentityToken, "signature")
    assert len(checked) == 3


async def test_a_refetched_key_set_checks_remembered_tokens_again(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = CountingJwks(public_jwks("rsa1"))
    verifier, _, clock = make_verifier(provider, jwks_cache_ttl_seconds=300)
    checked = count_signature_checks(verifier, monkeypatch)
    token = sign(claims(exp=int(NOW) + 3600))
    await verifier.verify(token)
    provider.jwks = {"keys": [OTHER_RSA.as_dict(private=False)]}  # the IdP replaced rsa1's key material
    clock.t += 300
    await rejected(verifier, token, InvalidIdentityToken, "signature")
    assert provider.calls == 2 and len(checked) == 2


async def test_signed_by_another_key_with_the_same_kid() -> None:
    verifier, _, _ = make_verifier()
    await rejected(verifier, sign(claims(), "RS256", key=OTHER_RSA), InvalidIdentityToken, "signature")


# --------------------------------------------------------------------------- aud


async def test_audience_failures() -> None:
    verifier, _, _ = make_verifier()
    err = await rejected(verifier, sign(claims(aud=None)), InvalidIdentityToken, "aud")
    assert err.message == "Missing a required claim: aud"
    err = await rejected(verifier, sign(claims(aud="someone-else")), InvalidIdentityToken, "aud")
    assert err.message == "Incorrect token audience"
    await rejected(verifier, sign(claims(aud=["x"], azp="y")), InvalidIdentityToken, "aud")
    err = await rejected(verifier, sign(claims(aud=42)), InvalidIdentityToken, "aud")
    assert err.message == "Invalid claim aud: must be a string or an array of strings"


# --------------------------------------------------------------------------- time claims


async def test_expired_beyond_leeway() -> None:
    verifier, _, _ = make_verifier(leeway_seconds=300)
    exp = int(NOW) - 301
    err = await rejected(verifier, sign(claims(exp=exp)), ExpiredTokenException, "exp")
    assert err.message == f"Token expired: current date/time {int(NOW)} must be before the expiration date/time{exp}"


async def test_expired_within_leeway_is_accepted() -> None:
    verifier, _, _ = make_verifier(leeway_seconds=300)
    assert await verifier.verify(sign(claims(exp=int(NOW) - 300)))
    strict, _, _ = make_verifier(leeway_seconds=0)
    await rejected(strict, sign(claims(exp=int(NOW) - 1)), ExpiredTokenException, "exp")


async def test_exp_required_and_numeric() -> None:
    verifier, _, _ = make_verifier()
    err = await rejected(verifier, sign(claims(exp=None)), InvalidIdentityToken, "exp")
    assert err.message == "Missing a required claim: exp"
    for bad in (str(int(NOW) + 300), True, [1]):
        err = await rejected(verifier, sign(claims(exp=bad)), InvalidIdentityToken, "exp")
        assert err.message == "Invalid claim exp: must be a NumericDate"
    err = await rejected(verifier, sign(claims(nbf="soon")), InvalidIdentityToken, "nbf")
    assert err.message == "Invalid claim nbf: must be a NumericDate"
    assert await verifier.verify(sign(claims(exp=NOW + 10.5)))


async def test_not_yet_valid_and_issued_in_the_future() -> None:
    verifier, _, _ = make_verifier(leeway_seconds=60)
    assert await verifier.verify(sign(claims(nbf=int(NOW) + 60)))
    err = await rejected(verifier, sign(claims(nbf=int(NOW) + 61)), InvalidIdentityToken, "nbf")
    assert err.message == f"Token is not yet valid (nbf {int(NOW) + 61} is after {int(NOW)})"
    err = await rejected(verifier, sign(claims(iat=int(NOW) + 61)), InvalidIdentityToken, "iat")
    assert err.message == f"Token was issued in the future (iat {int(NOW) + 61} is after {int(NOW)})"


async def test_max_token_age() -> None:
    verifier, _, _ = make_verifier(max_token_age_seconds=600)
    assert await verifier.verify(sign(claims(iat=int(NOW) - 600)))
    err = await rejected(verifier, sign(claims(iat=int(NOW) - 1000)), ExpiredTokenException, "max-age")
    assert err.message == "Token too old: 1000"
    unlimited, _, _ = make_verifier()
    assert await unlimited.verify(sign(claims(iat=int(NOW) - 10**6)))


# --------------------------------------------------------------------------- sub


@pytest.mark.parametrize("sub", [None, "", 42, ["a"]])
async def test_sub_is_required(sub: Any) -> None:
    verifier, _, _ = make_verifier()
    payload = claims()
    if sub is None:
        del payload["sub"]
    else:
        payload["sub"] = sub
    err = await rejected(verifier, sign(payload), InvalidIdentityToken, "sub")
    assert err.message == "Missing a required claim: sub"


# --------------------------------------------------------------------------- over real HTTP


class FakeIdp:
    """A tiny OIDC provider (discovery + JWKS) with request counters."""

    def __init__(self) -> None:
        self.issuer = ""
        self.discovery_issuer: str | None = None
        self.jwks: dict[str, Any] = public_jwks()
        self.jwks_status = 200
        self.jwks_body: bytes | None = None
        self.chunked = False
        self.hits = {"discovery": 0, "jwks": 0}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/realms/a/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/realms/a/keys", self.keys)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        self.hits["discovery"] += 1
        issuer = self.discovery_issuer if self.discovery_issuer is not None else self.issuer
        return web.json_response({"issuer": issuer, "jwks_uri": self.issuer + "/keys"})

    async def keys(self, request: web.Request) -> web.StreamResponse:
        self.hits["jwks"] += 1
        if self.chunked:
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            body = json.dumps(self.jwks).encode()
            for start in range(0, len(body), 1000):
                await resp.write(body[start : start + 1000])
            await resp.write_eof()
            return resp
        if self.jwks_body is not None:
            return web.Response(body=self.jwks_body, content_type="application/json", status=self.jwks_status)
        return web.json_response(self.jwks, status=self.jwks_status)


@pytest.fixture
async def idp(aiohttp_server: Any) -> FakeIdp:
    fake = FakeIdp()
    server = await aiohttp_server(fake.app())
    fake.issuer = str(server.make_url("/realms/a"))
    return fake


def http_verifier(idp: FakeIdp, **kwargs: Any) -> tuple[TokenVerifier, HttpJwksSource, FakeClock]:
    source = HttpJwksSource(idp.issuer, timeout=2.0, **kwargs)
    clock = FakeClock()
    issuer = TrustedIssuer(idp.issuer, (AUD,), ALL_ALGS, source)
    settings = TokenValidationSettings(jwks_refetch_min_interval_seconds=10)
    return TokenVerifier([issuer], settings, clock=clock), source, clock


async def test_http_discovery_and_unknown_kid_refetch(idp: FakeIdp) -> None:
    verifier, source, clock = http_verifier(idp)
    try:
        result = await verifier.verify(sign(claims(iss=idp.issuer)))
        assert result.issuer.provider_id.endswith(":" + idp.issuer.rsplit(":", 1)[1])
        assert idp.hits == {"discovery": 1, "jwks": 1}
        await verifier.verify(sign(claims(iss=idp.issuer), "ES256"))
        assert idp.hits["jwks"] == 1  # cached
        unknown = sign(claims(iss=idp.issuer), kid="rotated-away")
        await rejected(verifier, unknown, InvalidIdentityToken, "kid-known")
        assert idp.hits == {"discovery": 1, "jwks": 2}  # exactly one refetch, discovery remembered
        await rejected(verifier, unknown, InvalidIdentityToken, "kid-known")
        await rejected(verifier, unknown, InvalidIdentityToken, "kid-known")
        assert idp.hits["jwks"] == 2  # rate-limited
        clock.t += 10
        await rejected(verifier, unknown, InvalidIdentityToken, "kid-known")
        assert idp.hits["jwks"] == 3
        assert source.requests == 4
    finally:
        await verifier.close()


async def test_http_configured_jwks_uri_skips_discovery(idp: FakeIdp) -> None:
    verifier, _, _ = http_verifier(idp, jwks_uri=idp.issuer + "/keys")
    try:
        await verifier.verify(sign(claims(iss=idp.issuer)))
        assert idp.hits == {"discovery": 0, "jwks": 1}
    finally:
        await verifier.close()


async def test_http_discovery_issuer_mismatch(idp: FakeIdp) -> None:
    idp.discovery_issuer = "https://impostor.example"
    verifier, source, _ = http_verifier(idp)
    try:
        err = await rejected(verifier, sign(claims(iss=idp.issuer)), IDPCommunicationError, "jwks-fetch")
        assert idp.issuer in err.message
        assert "names issuer 'https://impostor.example'" in err.detail["reason"]
        assert idp.hits["jwks"] == 0
        with pytest.raises(IdpUnreachable, match=f"expected '{idp.issuer}'"):
            await source.fetch()
    finally:
        await verifier.close()


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, None, "answered HTTP 500"),
        (200, b"<html>", "is not valid JSON"),
        (200, b'{"keys": "nope"}', "did not return a JWKS"),
    ],
)
async def test_http_jwks_failures(idp: FakeIdp, status: int, body: bytes | None, reason: str) -> None:
    idp.jwks_status, idp.jwks_body = status, body
    verifier, _, _ = http_verifier(idp)
    try:
        err = await rejected(verifier, sign(claims(iss=idp.issuer)), IDPCommunicationError, "jwks-fetch")
        assert reason in err.detail["reason"]
    finally:
        await verifier.close()


@pytest.mark.parametrize("chunked", [False, True])
async def test_http_jwks_size_limit(idp: FakeIdp, chunked: bool) -> None:
    idp.chunked = chunked
    idp.jwks = {"keys": [], "padding": "x" * 5000}
    source = HttpJwksSource(idp.issuer, max_bytes=4096)
    try:
        with pytest.raises(IdpUnreachable, match="larger than 4096 bytes"):
            await source.fetch()
        idp.jwks = public_jwks()  # ~2.3 KB, arrives in several chunks
        assert len((await source.fetch())["keys"]) == len(KEYS)
    finally:
        await source.close()


async def test_http_idp_down(unused_tcp_port: int) -> None:
    issuer = f"http://127.0.0.1:{unused_tcp_port}"
    source = HttpJwksSource(issuer, timeout=2.0)
    verifier = TokenVerifier(
        [TrustedIssuer(issuer, (AUD,), ALL_ALGS, source)], TokenValidationSettings(), clock=FakeClock()
    )
    try:
        err = await rejected(verifier, sign(claims(iss=issuer)), IDPCommunicationError, "jwks-fetch")
        assert "could not be fetched" in err.detail["reason"]
    finally:
        await verifier.close()


async def test_key_lookups_are_remembered_per_key_set_for_present_kids_only() -> None:
    verifier, provider, _ = make_verifier()
    await rejected(verifier, sign(claims(), kid="nope"), InvalidIdentityToken, "kid-known")
    await verifier.verify(sign(claims()))
    await verifier.verify(sign(claims(), "ES256"))
    await rejected(verifier, sign(claims(), "RS256", kid="ec256"), InvalidIdentityToken, "alg-key-match")
    entry, _ = await verifier.jwks.keys(ISS, verifier.trusted(ISS).jwks_source)  # type: ignore[union-attr]
    assert provider.calls == 1  # one key set throughout
    # a kid the key set lacks is never kept (tokens choose their kid: the memo must not grow with them)
    assert set(entry.chosen) == {("rsa1", "RS256"), ("ec256", "ES256"), ("ec256", "RS256")}
    assert entry.chosen[("ec256", "RS256")][1] is None  # remembered as "no usable key": still refused
    await rejected(verifier, sign(claims(), "RS256", kid="ec256"), InvalidIdentityToken, "alg-key-match")
    assert (await verifier.verify(sign(claims()))).kid == "rsa1"


async def test_a_refetched_key_set_looks_keys_up_again() -> None:
    provider = CountingJwks(public_jwks("rsa1"))
    verifier, _, clock = make_verifier(provider, jwks_refetch_min_interval_seconds=0)
    await verifier.verify(sign(claims()))
    provider.jwks = public_jwks("ec256")  # rsa1 rotated out
    clock.t += 10_000  # past the cache TTL
    await rejected(verifier, sign(claims()), InvalidIdentityToken, "kid-known")
