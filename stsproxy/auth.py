"""The credential chain: who an access key belongs to, and whether it may still be used.

Built once (botocore-style, a named list of providers tried in order) and
shared by every caller that receives AWS credentials — SigV4 verification of
signed STS calls and the S3 gateway::

    static keys      configured long-term users (``sts.users``)
    sealed sessions  credentials we minted: the session token decrypts to the session
    known            a minted session must still have its store record (data dir reset?)
    not revoked      no revocation covers the session (by key, subject, role, issuer cut-off...)

:meth:`CredentialChain.principal` is the public entry: access key id (+ session
token) → :class:`Principal`, or an :class:`~stsproxy.errors.StsError` whose
``check`` names the failing link (``sigv4-unknown-key``, ``sigv4-session-token``,
``sigv4-expired``, ``sigv4-static-key-token``, ``session-known``, ``revoked``).
The chain does not verify signatures (that is :mod:`stsproxy.sigv4`'s job, or the
gateway's streaming verifier) and imports no HTTP or crypto framework.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from .credentials import SessionTokenCodec
from .errors import ExpiredToken, InvalidClientTokenId
from .ports import Revocations, StateStore
from .sessions import MINTED_KINDS, SESSION_KIND, Session, user_session
from .settings import StsSettings

INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
EXPIRED_TOKEN_MESSAGE = "The security token included in the request is expired"


class CredentialResolver(Protocol):
    """Maps an access key (+ session token) to its secret and session, or raises an StsError."""

    def resolve(self, access_key: str, session_token: str | None, now: float) -> tuple[str, dict[str, Any]]: ...


class CredentialProvider(Protocol):
    """One link that may own an access key: (secret, session), or None when the key is not its kind."""

    name: str

    def find(self, access_key: str, session_token: str | None, now: float) -> tuple[str, Session] | None: ...


class SessionCheck(Protocol):
    """A condition every resolved session must meet; raises an StsError naming itself."""

    name: str

    def __call__(self, access_key: str, session: Session) -> None: ...


@dataclass(frozen=True)
class Principal:
    """A resolved credential: whose it is and what it was issued for (never the token)."""

    access_key: str
    secret_key: str
    session: Session
    #: The chain link that recognised the key ("static-keys" | "sealed-sessions").
    source: str

    @property
    def arn(self) -> str:
        return str(self.session.get("arn", ""))

    @property
    def kind(self) -> str:
        return str(self.session.get("kind", ""))


class StaticKeys:
    name = "static-keys"

    def __init__(self, keys: Mapping[str, tuple[str, Session]]) -> None:
        self._keys = dict(keys)

    def find(self, access_key: str, session_token: str | None, now: float) -> tuple[str, Session] | None:
        static = self._keys.get(access_key)
        if static is None:
            return None
        if session_token:
            raise InvalidClientTokenId(INVALID_TOKEN_MESSAGE, check="sigv4-static-key-token")
        secret, session = static
        return secret, cast(Session, dict(session))


class SealedSessions:
    """Keys we minted (``ASIA…``): the session token decrypts to the session and its secret."""

    name = "sealed-sessions"

    def __init__(self, codec: SessionTokenCodec) -> None:
        self._codec = codec

    def find(self, access_key: str, session_token: str | None, now: float) -> tuple[str, Session] | None:
        if not access_key.startswith("ASIA"):
            return None
        if not session_token:
            raise InvalidClientTokenId(INVALID_TOKEN_MESSAGE, check="sigv4-session-token")
        payload = self._codec.open(session_token)
        secret = payload.pop("sk", None)
        exp = payload.get("exp")
        if payload.get("ak") != access_key or not isinstance(secret, str):
            raise InvalidClientTokenId(INVALID_TOKEN_MESSAGE, check="sigv4-session-token")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidClientTokenId(INVALID_TOKEN_MESSAGE, check="sigv4-session-token")
        if exp <= now:
            raise ExpiredToken(EXPIRED_TOKEN_MESSAGE, check="sigv4-expired", detail={"exp": exp})
        return secret, cast(Session, payload)


class Known:
    """A minted session is honoured only while the store holds its record."""

    name = "known"

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def __call__(self, access_key: str, session: Session) -> None:
        if session.get("kind") in MINTED_KINDS and self._store.get(SESSION_KIND, access_key) is None:
            raise InvalidClientTokenId(
                INVALID_TOKEN_MESSAGE,
                check="session-known",
                detail={"reason": "no session record for this access key (data dir reset?)"},
            )


def describe_revocation(record: Mapping[str, Any]) -> str:
    text = f"revocation #{record.get('id')} by {record.get('by')}={record.get('value')}"
    if record.get("reason"):
        text += f" ({record['reason']})"
    return text


class NotRevoked:
    """No revocation covers the minted session (access key, subject, role session, issuer cut-off...)."""

    name = "not-revoked"

    def __init__(self, revocations: Revocations) -> None:
        self._revocations = revocations

    def __call__(self, access_key: str, session: Session) -> None:
        if session.get("kind") not in MINTED_KINDS:
            return
        facts = {
            "access_key": access_key,
            "sub": session.get("sub"),
            "iss": session.get("iss"),
            "jti": session.get("jti"),
            "client_id": session.get("client_id"),
            "role_arn": session.get("role_arn"),
            "session_name": session.get("session_name"),
            "iat": session.get("iat"),
        }
        revoked = self._revocations.check(facts)
        if revoked is not None:
            raise InvalidClientTokenId(
                f"{INVALID_TOKEN_MESSAGE[:-1]}: {describe_revocation(revoked)}",
                check="revoked",
                detail={"revocation_id": revoked.get("id")},
            )


class CredentialChain:
    """Providers tried in order (the first that owns the key wins), then every session check."""

    def __init__(self, providers: Sequence[CredentialProvider], checks: Sequence[SessionCheck] = ()) -> None:
        self.providers = tuple(providers)
        self.checks = tuple(checks)

    def principal(self, access_key: str, session_token: str | None, now: float) -> Principal:
        for provider in self.providers:
            found = provider.find(access_key, session_token, now)
            if found is not None:
                secret, session = found
                for check in self.checks:
                    check(access_key, session)
                return Principal(access_key, secret, session, provider.name)
        raise InvalidClientTokenId(INVALID_TOKEN_MESSAGE, check="sigv4-unknown-key")

    def resolve(self, access_key: str, session_token: str | None, now: float) -> tuple[str, dict[str, Any]]:
        """:class:`CredentialResolver` for SigV4: the secret and the session (without the secret)."""
        found = self.principal(access_key, session_token, now)
        return found.secret_key, cast(dict[str, Any], found.session)


def static_keys(settings: StsSettings) -> dict[str, tuple[str, Session]]:
    """Access key → (secret, session) for the configured long-term users."""
    return {u["access_key"]: (u["secret_key"], user_session(settings, u)) for u in settings.users if "access_key" in u}


def build_chain(
    settings: StsSettings, codec: SessionTokenCodec, store: StateStore, revocations: Revocations
) -> CredentialChain:
    """The one chain of a running STS: static keys → sealed sessions → known → not revoked."""
    return CredentialChain(
        [StaticKeys(static_keys(settings)), SealedSessions(codec)],
        [Known(store), NotRevoked(revocations)],
    )


def session_credential_resolver(
    codec: SessionTokenCodec, *, static_keys: Mapping[str, tuple[str, dict[str, Any]]] | None = None
) -> CredentialResolver:
    """Resolver for credentials we minted (stateless, via the sealed token) plus static long-term keys.

    The first two links of the chain, without the store and
    revocation checks (a running STS uses :func:`build_chain`). The
    returned session dict is the token payload *without* the secret (``sk``).
    """
    keys = {k: (secret, cast(Session, session)) for k, (secret, session) in (static_keys or {}).items()}
    return CredentialChain([StaticKeys(keys), SealedSessions(codec)])
