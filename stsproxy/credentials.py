"""Minting temporary credentials and the self-contained session token.

The session token carries everything needed to verify a SigV4 call made with
the credentials (access key, secret, expiry, session claims), sealed with
AES-256-GCM. That keeps SigV4 verification stateless: the server needs only the
sealing key, not a credential database. Revocation is layered on top by the
caller (look the ``sid`` up in a store).

Token layout (before base64url without padding)::

    version (1 byte) | key id (4 bytes) | nonce (12 bytes) | AES-GCM(payload) + tag (16 bytes)

Version 3: the payload is the JSON itself (every session up to :data:`RAW_MAX_BYTES`); version 1:
zlib(JSON), still written for larger sessions and always accepted. Deflating a few hundred bytes
saves ~40 % of the token but cost ~35 µs per mint in the serving process (its set-up and a cold
cache dominate), more than the rest of the seal. The version byte and key id are authenticated as
associated data, so any change anywhere in the token makes :meth:`SessionTokenCodec.open` fail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stsproxy.errors import InvalidClientTokenId

#: Version of tokens with a compressed payload (written for sessions over RAW_MAX_BYTES).
TOKEN_VERSION = 1
#: Version of tokens whose payload is the JSON as is.
RAW_TOKEN_VERSION = 3  # (2 was never written; an unknown version fails before decryption)
#: Largest JSON sealed uncompressed: such a token stays under ~1,410 characters.
RAW_MAX_BYTES = 1024
KEY_SIZE = 32
_NONCE_SIZE = 12
_KID_SIZE = 4
_HEADER_SIZE = 1 + _KID_SIZE + _NONCE_SIZE
_TAG_SIZE = 16
#: Longest token accepted or produced (characters). AWS says tokens are "typically under 4096".
MAX_TOKEN_CHARS = 8192
#: Cap on the decompressed payload; tokens are ours, but never trust a length blindly.
MAX_PAYLOAD_BYTES = 64 * 1024

_BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: Base64 character i -> base32 character i % 32: 16 uniform base64 characters (6 random bits each) become
#: 16 uniform base32 characters in one C call (base64.b32encode is a Python loop, ~4 µs per key).
_B64_TO_B32 = bytes.maketrans(_BASE64_ALPHABET.encode(), (_BASE32_ALPHABET * 2).encode())
#: One encoder for every seal (json.dumps builds one per call); keys in insertion order (open() does not care).
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."


class _Chooser(Protocol):
    def choice(self, seq: Sequence[str], /) -> str: ...


@dataclass(frozen=True)
class MintedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    #: Epoch seconds, always a whole number (AWS renders Expiration with whole seconds).
    expiration: float


def _key_id(key: bytes) -> bytes:
    """Short, non-secret fingerprint so :meth:`open` picks the right key without trial decryption."""
    return hashlib.sha256(b"stsmock-session-token-kid\x00" + key).digest()[:_KID_SIZE]


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise ValueError(f"session token key must be {KEY_SIZE} bytes")
    return bytes(key)


class SessionTokenCodec:
    """Self-contained, encrypted+authenticated session token (AES-256-GCM with a persisted 32-byte key).

    ``key`` seals new tokens; ``previous_keys`` are accepted when opening, so the
    key can be rotated without invalidating credentials already handed out.
    """

    def __init__(self, key: bytes, *, previous_keys: Sequence[bytes] = ()) -> None:
        self._key = _check_key(key)
        self._kid = _key_id(self._key)
        self._aead = AESGCM(self._key)
        self._aad = {v: bytes([v]) + self._kid for v in (TOKEN_VERSION, RAW_TOKEN_VERSION)}
        self._openers: dict[bytes, list[AESGCM]] = {}
        for k in (self._key, *(_check_key(p) for p in previous_keys)):
            self._openers.setdefault(_key_id(k), []).append(AESGCM(k))

    def seal(self, payload: dict[str, Any]) -> str:
        """Encrypt ``payload`` (JSON-serialisable) into an opaque urlsafe string."""
        data = _COMPACT_JSON.encode(payload).encode()
        if len(data) <= RAW_MAX_BYTES:
            aad, plaintext = self._aad[RAW_TOKEN_VERSION], data
        else:
            # A small window and hash table: zlib's default 32 KiB window costs more to set up than to compress.
            deflater = zlib.compressobj(6, zlib.DEFLATED, 11, 4)
            aad, plaintext = self._aad[TOKEN_VERSION], deflater.compress(data) + deflater.flush()
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, plaintext, aad)
        token = base64.urlsafe_b64encode(aad + nonce + sealed).rstrip(b"=").decode("ascii")
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError(f"session token would be {len(token)} chars (max {MAX_TOKEN_CHARS})")
        return token

    def open(self, token: str) -> dict[str, Any]:
        """Decrypt and authenticate ``token``; any tamper, garbage or oversize is InvalidClientTokenId."""

        def invalid(reason: str) -> InvalidClientTokenId:
            return InvalidClientTokenId(
                _INVALID_TOKEN_MESSAGE, check="session-token-integrity", detail={"reason": reason}
            )

        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise invalid("length")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise invalid("encoding") from exc
        # Base64 ignores the unused low bits of the last character; re-encoding
        # makes the *text* canonical so that flipping any character is detected.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
            raise invalid("encoding")
        if len(raw) < _HEADER_SIZE + _TAG_SIZE or raw[0] not in (TOKEN_VERSION, RAW_TOKEN_VERSION):
            raise invalid("version")
        aad, nonce, sealed = raw[: 1 + _KID_SIZE], raw[1 + _KID_SIZE : _HEADER_SIZE], raw[_HEADER_SIZE:]
        plaintext: bytes | None = None
        for aead in self._openers.get(aad[1:], []):
            try:
                plaintext = aead.decrypt(nonce, sealed, aad)
                break
            except InvalidTag:
                continue
        if plaintext is None:
            raise invalid("authentication")
        try:
            data = plaintext
            if raw[0] == TOKEN_VERSION:
                inflater = zlib.decompressobj()
                data = inflater.decompress(plaintext, MAX_PAYLOAD_BYTES)
                if inflater.unconsumed_tail or not inflater.eof:
                    raise invalid("payload-size")
            payload = json.loads(data)
        except (zlib.error, ValueError) as exc:
            raise invalid("payload") from exc
        if not isinstance(payload, dict):
            raise invalid("payload")
        return payload


def new_access_key_id(rng: _Chooser = secrets) -> str:
    """``ASIA`` + 16 base32 chars: the shape of a real temporary access key (20 chars)."""
    if rng is secrets:  # 16 uniform base64 characters folded onto the base32 alphabet (see _B64_TO_B32)
        return "ASIA" + base64.b64encode(secrets.token_bytes(12)).translate(_B64_TO_B32).decode("ascii")
    return "ASIA" + "".join(rng.choice(_BASE32_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    """40 chars of standard base64 (30 random bytes), like a real secret access key."""
    return base64.b64encode(secrets.token_bytes(30)).decode("ascii")


def role_id(role_arn: str) -> str:
    """``AROA`` + 17 chars, stable per ARN, so GetCallerIdentity's UserId does not change between sessions."""
    digest = base64.b32encode(hashlib.sha256(role_arn.encode("utf-8")).digest()).decode("ascii")
    return "AROA" + digest[:17]


def mint(codec: SessionTokenCodec, *, now: float, duration: int, session: dict[str, Any]) -> MintedCredentials:
    """Mint fresh keys and seal them with ``session`` into the session token.

    The sealed payload is ``session`` plus ``ak``, ``sk``, ``exp`` and ``iat``
    (ours win over same-named keys in ``session``).
    """
    if duration <= 0:
        raise ValueError("duration must be positive")
    issued = math.floor(now)
    expiration = issued + int(duration)
    random = os.urandom(42)  # one system call for both: 12 bytes -> 16 key chars, 30 -> 40 base64 chars
    access_key = "ASIA" + base64.b64encode(random[:12]).translate(_B64_TO_B32).decode("ascii")
    secret = base64.b64encode(random[12:]).decode("ascii")
    payload = {**session, "ak": access_key, "sk": secret, "exp": expiration, "iat": issued}
    return MintedCredentials(access_key, secret, codec.seal(payload), float(expiration))


def generate_key() -> bytes:
    """A fresh 32-byte AES-256-GCM key for :class:`SessionTokenCodec`."""
    return secrets.token_bytes(KEY_SIZE)
