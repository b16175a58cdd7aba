"""KeyManager and IssuerService key lifecycle: persistence, rotation, retirement, JWKS shape."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
import warnings
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from issuer.keys import KeyManager
from issuer.service import IssuerService
from issuer.settings import IssuerSettings, KeySettings

ALGS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


class Clock:
    def __init__(self) -> None:
        self.t = float(int(time.time()))

    def now(self) -> float:
        return self.t


class Audit:
    def __init__(self) -> None:
        self.events: list[str] = []

    def record(self, event: str, **fields: Any) -> None:
        self.events.append(event)


class Store:
    def __init__(self) -> None:
        self.d: dict[tuple[str, str], dict] = {}

    def put(self, kind, key, value, expires_at=None):
        self.d[(kind, key)] = value

    def get(self, kind, key):
        return self.d.get((kind, key))

    def take(self, kind, key):
        return self.d.pop((kind, key), None)

    def delete(self, kind, key):
        return self.d.pop((kind, key), None) is not None

    def items(self, kind):
        return [(k, v) for (kd, k), v in self.d.items() if kd == kind]


class Revocations:
    def check(self, facts):
        return None

    def revoke(self, by, value, **kw):
        return {}


def verifies(jwks: dict, token: str) -> bool:
    """True when both PyJWT and joserfc accept the token against this JWKS."""
    header = pyjwt.get_unverified_header(token)
    try:
        key = pyjwt.PyJWKSet.from_dict(jwks)[header["kid"]]
        pyjwt.decode(token, key.key, algorithms=[header["alg"]], options={"verify_aud": False})
    except (KeyError, pyjwt.PyJWTError):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[header["alg"]])
    return True


def make_service(data_dir: Path, clock: Clock, **settings: Any) -> IssuerService:
    s = IssuerSettings.model_validate({"name": "unit", "algorithms": ALGS, **settings})
    return IssuerService(
        s,
        issuer_url="http://127.0.0.1:1",
        data_dir=data_dir,
        clock=clock,
        store=Store(),
        audit=Audit(),
        revocations=Revocations(),
    )


def test_restart_keeps_keys_and_tokens_verify(tmp_path):
    clock = Clock()
    svc = make_service(tmp_path, clock)
    tokens = {alg: svc.mint({"sub": "s"}, alg=alg) for alg in ALGS}
    kids = [k["kid"] for k in svc.keys.list()]
    files = sorted((tmp_path / "keys" / "unit").glob("*.json"))
    assert len(files) == len(ALGS)
    for f in files:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
        record = json.loads(f.read_text())
        assert {"jwk", "cert_pem", "kid", "alg", "created_at", "activated_at"} <= set(record)
    restarted = make_service(tmp_path, clock)
    assert [k["kid"] for k in restarted.keys.list()] == kids
    for alg, token in tokens.items():
        assert verifies(restarted.jwks(), token), alg
        assert restarted.introspect(token)["active"] is True


def test_rotate_then_retire(tmp_path):
    clock = Clock()
    svc = make_service(tmp_path, clock, keys={"retire_grace_seconds": 100})
    old_token = svc.mint({"sub": "s"})
    old_kid = pyjwt.get_unverified_header(old_token)["kid"]
    meta = svc.keys.rotate()
    assert meta["state"] == "active" and meta["alg"] == "RS256"
    new_token = svc.mint({"sub": "s"})
    assert pyjwt.get_unverified_header(new_token)["kid"] == meta["kid"] != old_kid
    jwks = svc.jwks()
    assert jwks["keys"][0]["kid"] == meta["kid"]  # active key first
    assert verifies(jwks, old_token) and verifies(jwks, new_token)
    states = {k["kid"]: k for k in svc.keys.list()}
    assert states[old_kid]["state"] == "retired" and states[old_kid]["expires_at"] == clock.t + 100
    # still published through a restart, until the grace period ends
    clock.t += 50
    assert verifies(make_service(tmp_path, clock).jwks(), old_token)
    clock.t += 51
    assert not verifies(svc.jwks(), old_token)
    assert verifies(svc.jwks(), new_token)
    assert svc.introspect(old_token) == {"active": False}


def test_publish_ahead_and_retire_immediately(tmp_path):
    clock = Clock()
    keys = KeyManager(
        tmp_path,
        algorithms=["ES256"],
        default_alg="ES256",
        clock=clock,
        settings=KeySettings(publish_ahead_seconds=60, retire_grace_seconds=600),
        audit=Audit(),
    )
    keys.ensure()
    first_kid = keys.signing_key("ES256")[0]
    nxt = keys.rotate("ES256")
    assert nxt["state"] == "next"
    assert keys.signing_key("ES256")[0] == first_kid  # old key signs until the new one activates
    assert [k["kid"] for k in keys.jwks()["keys"]] == [first_kid, nxt["kid"]]
    clock.t += 61
    assert keys.signing_key("ES256")[0] == nxt["kid"]
    assert keys.jwks()["keys"][0]["kid"] == nxt["kid"]
    keys.retire(first_kid, immediately=True)
    assert [k["kid"] for k in keys.jwks()["keys"]] == [nxt["kid"]]
    # retiring the only signing key generates a replacement
    keys.retire(nxt["kid"], immediately=True)
    assert keys.signing_key("ES256")[0] not in (first_kid, nxt["kid"])
    with pytest.raises(KeyError):
        keys.retire("nope")
    with pytest.raises(ValueError):
        keys.rotate("RS256")


@pytest.mark.parametrize("alg", ALGS)
def test_jwks_entries_and_certificates(tmp_path, alg):
    clock = Clock()
    keys = KeyManager(
        tmp_path,
        algorithms=[alg],
        default_alg=alg,
        clock=clock,
        settings=KeySettings(),
        audit=Audit(),
        common_name="realm-a",
    )
    keys.ensure()
    (entry,) = keys.jwks()["keys"]
    assert entry["alg"] == alg and entry["use"] == "sig" and entry["kid"]
    assert entry["kty"] == {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}[alg[:2]]
    cert = x509.load_der_x509_certificate(base64.b64decode(entry["x5c"][0]))
    assert cert.subject.rfc4514_string() == "CN=realm-a"
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 3649
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    jwk_pub = pyjwt.PyJWK.from_dict(entry).key
    jwk_pub = getattr(jwk_pub, "public_key", lambda: jwk_pub)() if not hasattr(jwk_pub, "public_bytes") else jwk_pub
    assert cert.public_key().public_bytes(der, spki) == jwk_pub.public_bytes(der, spki)


def test_corrupt_key_file_is_an_error_never_regenerated(tmp_path):
    """A truncated key file stops the start (naming the file) instead of being replaced by a new key."""
    from issuer.keys import KeyFileError

    clock, audit = Clock(), Audit()
    keys = KeyManager(
        tmp_path, algorithms=["RS256"], default_alg="RS256", clock=clock, settings=KeySettings(), audit=audit
    )
    keys.ensure()
    (kid,) = [k["kid"] for k in keys.jwks()["keys"]]
    path = tmp_path / f"{kid}.json"
    (tmp_path / "cut").write_bytes(path.read_bytes()[:100])  # truncated, as after a full disk
    os.replace(tmp_path / "cut", path)
    fresh = KeyManager(
        tmp_path, algorithms=["RS256"], default_alg="RS256", clock=clock, settings=KeySettings(), audit=audit
    )
    with pytest.raises(KeyFileError) as info:
        fresh.ensure()
    assert info.value.path == path
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [path.name]  # nothing generated next to it
    keys.reload_if_changed()  # a running server keeps the keys it has
    assert [k["kid"] for k in keys.jwks()["keys"]] == [kid]
    assert "key.load_failed" in audit.events


def test_jwks_cache_follows_rotation_and_time(tmp_path):
    """The JWKS is cached, but a rotation, a retirement deadline or the clock moving back rebuilds it."""
    from issuer.keys import KeyManager
    from issuer.settings import KeySettings

    class Clock:
        t = 1_000_000.0

        def now(self) -> float:
            return self.t

    class Audit:
        def record(self, event: str, **fields: object) -> None:
            pass

    clock = Clock()
    keys = KeyManager(
        tmp_path,
        algorithms=["ES256"],
        default_alg="ES256",
        clock=clock,
        settings=KeySettings(retire_grace_seconds=100),
        audit=Audit(),
    )
    keys.ensure()
    first = keys.jwks()
    assert keys.jwks() is first  # cached
    old_kid = first["keys"][0]["kid"]
    new_kid = keys.rotate()["kid"]
    rotated = keys.jwks()
    assert [k["kid"] for k in rotated["keys"]] == [new_kid, old_kid]
    clock.t += 101  # past the retired key's grace period
    assert [k["kid"] for k in keys.jwks()["keys"]] == [new_kid]
    clock.t -= 101  # the virtual clock set back: the old key is published again
    assert [k["kid"] for k in keys.jwks()["keys"]] == [new_kid, old_kid]
