"""Credential minting and the sealed session token."""

from __future__ import annotations

import base64
import random
import re

import pytest

from stsproxy.credentials import (
    MAX_TOKEN_CHARS,
    RAW_MAX_BYTES,
    RAW_TOKEN_VERSION,
    TOKEN_VERSION,
    MintedCredentials,
    SessionTokenCodec,
    generate_key,
    mint,
    new_access_key_id,
    new_secret_access_key,
    role_id,
)
from stsproxy.errors import InvalidClientTokenId

ROLE_ARN = "arn:aws:iam::123456789012:role/ci/deployer"
SESSION = {
    "sid": "3f1c2b8e-9d7a-4e0b-8c1d-2a3b4c5d6e7f",
    "role_arn": ROLE_ARN,
    "session_name": "gha-run-1234",
    "sub": "repo:example/app:ref:refs/heads/main",
    "aud": "sts.amazonaws.com",
    "iss": "https://token.actions.githubusercontent.com",
    "account": "123456789012",
    "tags": {"team": "platform", "env": "prod"},
    "policy": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",'
    '"Resource":"arn:aws:s3:::example-bucket/*"}]}',
}


@pytest.fixture
def codec() -> SessionTokenCodec:
    return SessionTokenCodec(generate_key())


def test_access_key_id_format() -> None:
    for _ in range(50):
        assert re.fullmatch(r"ASIA[A-Z2-7]{16}", new_access_key_id())


def test_access_key_id_accepts_rng() -> None:
    assert new_access_key_id(random.Random(7)) == new_access_key_id(random.Random(7))


def test_secret_access_key_format() -> None:
    keys = {new_secret_access_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9+/]{40}", k) for k in keys)


def test_role_id_format_and_determinism() -> None:
    rid = role_id(ROLE_ARN)
    assert re.fullmatch(r"AROA[A-Z0-9]{17}", rid)
    assert len(rid) == 21
    assert role_id(ROLE_ARN) == rid
    assert role_id(ROLE_ARN + "x") != rid


def test_generate_key() -> None:
    assert len(generate_key()) == 32
    assert generate_key() != generate_key()


@pytest.mark.parametrize("bad", [b"", b"x" * 16, b"x" * 31, b"x" * 33])
def test_codec_rejects_bad_key_sizes(bad: bytes) -> None:
    with pytest.raises(ValueError):
        SessionTokenCodec(bad)
    with pytest.raises(ValueError):
        SessionTokenCodec(generate_key(), previous_keys=[bad])


def test_seal_open_round_trip(codec: SessionTokenCodec) -> None:
    payload = {**SESSION, "n": 1, "f": 1.5, "none": None, "list": [1, "two"], "uni": "ünïcødé ☃"}
    token = codec.seal(payload)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert codec.open(token) == payload


def test_seal_is_randomised(codec: SessionTokenCodec) -> None:
    assert codec.seal(SESSION) != codec.seal(SESSION)


def test_token_does_not_leak_plaintext(codec: SessionTokenCodec) -> None:
    raw = base64.urlsafe_b64decode(codec.seal({"sk": "TOPSECRETVALUE"}) + "==")
    assert b"TOPSECRETVALUE" not in raw


def _flip(token: str, i: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    c = token[i]
    replacement = alphabet[(alphabet.index(c) + 1) % len(alphabet)]
    return token[:i] + replacement + token[i + 1 :]


def test_flipping_any_character_is_detected(codec: SessionTokenCodec) -> None:
    """Covers the version byte, key id, nonce, ciphertext, tag and the final (partial) base64 character."""
    token = codec.seal(SESSION)
    for i in range(len(token)):
        with pytest.raises(InvalidClientTokenId) as exc:
            codec.open(_flip(token, i))
        assert exc.value.check == "session-token-integrity"


def test_last_char_low_bits_are_not_ignored(codec: SessionTokenCodec) -> None:
    """Base64 decoders ignore the unused bits of the last char; the codec must not."""
    for _ in range(8):
        token = codec.seal({"k": "v" * _})
        if len(token) % 4 != 0:
            break
    last = token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    idx = alphabet.index(last)
    # Change only the lowest bit of the last sextet, which is padding-bits territory when len % 4 != 0.
    twin = token[:-1] + alphabet[idx ^ 1]
    with pytest.raises(InvalidClientTokenId):
        codec.open(twin)


@pytest.mark.parametrize(
    "garbage",
    ["", "x", "!!!!", "AAAA", "A" * 100, "not a token at all", "ФЫВА", "A" * (MAX_TOKEN_CHARS + 1)],
)
def test_garbage_is_rejected(codec: SessionTokenCodec, garbage: str) -> None:
    with pytest.raises(InvalidClientTokenId):
        codec.open(garbage)


def test_truncation_and_extension_are_rejected(codec: SessionTokenCodec) -> None:
    token = codec.seal(SESSION)
    for bad in (token[:-1], token[:-4], token[:20], token + "A", token + "AAAA", token + "=="):
        with pytest.raises(InvalidClientTokenId):
            codec.open(bad)


def test_wrong_version_byte_is_rejected(codec: SessionTokenCodec) -> None:
    raw = bytearray(base64.urlsafe_b64decode(codec.seal(SESSION) + "=="))
    raw[0] = 2
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(InvalidClientTokenId):
        codec.open(forged)


def test_wrong_key_is_rejected(codec: SessionTokenCodec) -> None:
    token = codec.seal(SESSION)
    with pytest.raises(InvalidClientTokenId):
        SessionTokenCodec(generate_key()).open(token)


def test_key_rotation_via_previous_keys() -> None:
    old_key, new_key = generate_key(), generate_key()
    old = SessionTokenCodec(old_key)
    old_token = old.seal(SESSION)
    rotated = SessionTokenCodec(new_key, previous_keys=[old_key])
    assert rotated.open(old_token) == SESSION
    new_token = rotated.seal(SESSION)
    assert rotated.open(new_token) == SESSION
    # New tokens are sealed with the new key only: the old codec cannot open them.
    with pytest.raises(InvalidClientTokenId):
        old.open(new_token)
    # Once the old key is retired, its tokens stop working.
    with pytest.raises(InvalidClientTokenId):
        SessionTokenCodec(new_key).open(old_token)


def test_non_dict_payload_is_rejected(codec: SessionTokenCodec) -> None:
    # A validly sealed non-object must still be refused by open().
    with pytest.raises(InvalidClientTokenId):
        codec.open(codec.seal([1, 2, 3]))  # type: ignore[arg-type]


def test_seal_refuses_oversize(codec: SessionTokenCodec) -> None:
    with pytest.raises(ValueError):
        codec.seal({"blob": base64.b64encode(bytes(random.Random(1).randbytes(8000))).decode()})


def test_mint(codec: SessionTokenCodec) -> None:
    creds = mint(codec, now=1_700_000_000.75, duration=3600, session=SESSION)
    assert isinstance(creds, MintedCredentials)
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", creds.secret_access_key)
    assert creds.expiration == 1_700_003_600.0
    assert creds.expiration.is_integer()
    payload = codec.open(creds.session_token)
    assert payload == {
        **SESSION,
        "ak": creds.access_key_id,
        "sk": creds.secret_access_key,
        "exp": 1_700_003_600,
        "iat": 1_700_000_000,
    }


def test_mint_reserved_keys_win(codec: SessionTokenCodec) -> None:
    creds = mint(codec, now=100.0, duration=900, session={"ak": "evil", "exp": 10**12})
    payload = codec.open(creds.session_token)
    assert payload["ak"] == creds.access_key_id
    assert payload["exp"] == 1000


def test_mint_rejects_non_positive_duration(codec: SessionTokenCodec) -> None:
    with pytest.raises(ValueError):
        mint(codec, now=100.0, duration=0, session={})


def test_mint_fresh_keys_each_time(codec: SessionTokenCodec) -> None:
    a = mint(codec, now=100.0, duration=900, session=SESSION)
    b = mint(codec, now=100.0, duration=900, session=SESSION)
    assert a.access_key_id != b.access_key_id
    assert a.secret_access_key != b.secret_access_key


def test_token_size_is_compact(codec: SessionTokenCodec) -> None:
    creds = mint(codec, now=1_700_000_000, duration=43200, session=SESSION)
    assert len(creds.session_token) < 1500


def _old_seal(codec: SessionTokenCodec, key: bytes, payload: dict[str, object]) -> str:
    """A token exactly as sealed before uncompressed tokens existed: version 1, zlib(JSON)."""
    import json
    import os
    import zlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from stsproxy.credentials import _key_id

    aad = bytes([TOKEN_VERSION]) + _key_id(key)
    deflater = zlib.compressobj(6, zlib.DEFLATED, 11, 4)
    data = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, deflater.compress(data) + deflater.flush(), aad)
    return base64.urlsafe_b64encode(aad + nonce + sealed).rstrip(b"=").decode()


def test_small_sessions_are_sealed_uncompressed_and_old_tokens_still_open() -> None:
    key = generate_key()
    codec = SessionTokenCodec(key)
    token = codec.seal(SESSION)
    assert base64.urlsafe_b64decode(token + "==")[0] == RAW_TOKEN_VERSION
    old = _old_seal(codec, key, SESSION)
    assert base64.urlsafe_b64decode(old + "==")[0] == TOKEN_VERSION
    assert codec.open(old) == SESSION  # tokens handed out before the change keep working
    assert SessionTokenCodec(generate_key(), previous_keys=[key]).open(old) == SESSION


def test_large_sessions_are_still_compressed() -> None:
    codec = SessionTokenCodec(generate_key())
    payload = {"policy": ['{"Version":"2012-10-17","Statement":[]}' * 40]}
    token = codec.seal(payload)
    raw = base64.urlsafe_b64decode(token + "==")
    assert raw[0] == TOKEN_VERSION and len(raw) < RAW_MAX_BYTES  # 1,640 bytes of JSON deflate well
    assert codec.open(token) == payload


def test_swapping_the_two_versions_is_detected() -> None:
    codec = SessionTokenCodec(generate_key())
    for payload in (SESSION, {"policy": ["x" * 2000]}):
        raw = bytearray(base64.urlsafe_b64decode(codec.seal(payload) + "=="))
        raw[0] = TOKEN_VERSION if raw[0] == RAW_TOKEN_VERSION else RAW_TOKEN_VERSION
        with pytest.raises(InvalidClientTokenId):  # the version byte is authenticated data
            codec.open(base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())
