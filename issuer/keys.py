"""Signing keys: generation, persistence, rotation and the public JWKS.

One record per key (private JWK + self-signed certificate + lifecycle timestamps; a store record or
a JSON file) so a token minted before a restart still verifies afterwards. The JWKS lists the default
algorithm's active key FIRST because Ceph RGW only ever looks at the first key, and every key carries
``x5c`` because RGW verifies against the certificate, not ``n``/``e``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from joserfc import jwk

from issuer.keyrecord import Key as _Key
from issuer.ports import AuditSink, Clock, KeyRecordError, KeyRepository
from issuer.presets.kids import make_kid
from issuer.settings import KeySettings

#: alg -> (joserfc key type, size or curve)
KEY_SPECS: dict[str, tuple[str, Any]] = {
    "RS256": ("RSA", 2048),
    "RS384": ("RSA", 2048),
    "RS512": ("RSA", 2048),
    "PS256": ("RSA", 2048),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "EdDSA": ("OKP", "Ed25519"),
}
CERT_VALIDITY_DAYS = 3650


class KeyFileError(ValueError):
    """A persisted key file that cannot be loaded. Never silently replaced: tokens signed by it would die."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


_KeyList = list[_Key]
_Meta = list[dict[str, Any]]


class KeyManager:
    """Owns the signing keys of one issuer (a directory of JSON files)."""

    def __init__(
        self,
        directory: Path,
        *,
        algorithms: Sequence[str],
        default_alg: str,
        clock: Clock,
        settings: KeySettings,
        audit: AuditSink,
        common_name: str | None = None,
        kid_format: str = "thumbprint",
        x5c: bool = True,
        header_x5t: bool = False,
        repository: KeyRepository | None = None,
    ) -> None:
        self.directory = Path(directory)
        #: How new keys are named (an IdP persona's format; existing keys keep their kid).
        self.kid_format = kid_format
        self.x5c = x5c
        self.header_x5t = header_x5t
        #: Shared key records (the store); without one, the JSON files in ``directory``.
        self.repository = repository
        #: Records written by the current serialised update (repository mode), by kid.
        self._pending: dict[str, dict[str, Any]] | None = None
        self.algorithms = list(dict.fromkeys([default_alg, *algorithms]))
        self.default_alg = default_alg
        self.clock = clock
        self.settings = settings
        self.audit = audit
        self.common_name = common_name or self.directory.name or "stsmock"
        self._keys: dict[str, _Key] = {}
        #: Called after the key set changed (here or, via the directory, in another worker).
        self.on_change: list[Callable[[], None]] = []
        #: (document, valid from, valid until) of the last JWKS built.
        self._jwks_cache: tuple[dict[str, Any], float, float] | None = None
        self._dir_mtime = 0
        #: A stored key record that does not load (reported by /healthz; never replaced by a new key).
        self.problem: KeyRecordError | None = None

    def _changed(self) -> None:
        self._dir_mtime = self._directory_mtime()
        self._jwks_cache = None
        for callback in self.on_change:
            callback()

    def _directory_mtime(self) -> int:
        try:
            return os.stat(self.directory).st_mtime_ns
        except OSError:
            return 0

    def reload(self) -> None:
        """Adopt the repository's records (another process changed them); fires ``on_change``. A damaged
        record is reported and its last good copy kept; nothing is generated in its place."""
        if self.repository is not None:
            try:
                self._adopt(self.repository.load(), strict=False)
            except KeyRecordError as exc:  # the set cannot be read at all: keep serving what we hold
                self._report(exc)
                return
            self._changed()

    def _adopt(self, records: list[dict[str, Any]], *, strict: bool = True) -> None:
        """Take ``records`` as the key set; ``strict``: refuse (raise) on a damaged one, before any change."""
        loaded, damaged = {}, None
        for record in records:
            try:
                key = _Key(record)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                kid, why = str(record.get("kid")), f"not a valid signing-key record ({type(exc).__name__})"
                damaged = self.repository.damaged(kid, why) if self.repository else KeyRecordError(kid, why)
                if kid in self._keys:  # keep the last good copy; never replace it
                    loaded[kid] = self._keys[kid]
                continue
            loaded[key.kid] = key
        if damaged is not None and strict:
            raise damaged  # reported by the caller, once its transaction is over (the audit is in it)
        if damaged is not None:
            self._report(damaged)  # reported until fixed (/healthz, audit)
        self.problem = damaged
        self._keys = loaded

    def _report(self, exc: KeyRecordError) -> None:
        if str(self.problem) != str(exc):
            self.audit.record("key.load_failed", severity="high", record=exc.name, error=exc.reason[:200])
        self.problem = exc

    def _serialised(self, change: Callable[[], Any]) -> Any:
        """Run ``change`` on the latest records, alone among all processes, and store what it wrote.
        Without a repository the files are the state (one process, or ``--workers`` on the file lock)."""
        if self.repository is None:
            return change()
        try:
            with self.repository.update() as (records, save):
                self._adopt(records)  # a damaged record refuses the change: nothing is generated or written
                self._pending = {}
                try:
                    result = change()
                    save(list(self._pending.values()))
                finally:
                    self._pending = None
        except KeyRecordError as exc:
            self._report(exc)
            raise
        self._changed()
        return result

    def reload_if_changed(self) -> None:
        """Pick up keys written by another process sharing the data dir (``--workers``)."""
        if self.repository is None and self._directory_mtime() != self._dir_mtime:
            try:
                self.ensure()
            except KeyFileError as exc:  # keep serving with the keys already loaded
                self.audit.record("key.load_failed", severity="high", file=exc.path.name, error=exc.reason)

    # -- lifecycle -----------------------------------------------------------------
    def ensure(self) -> None:
        """Load persisted keys, then make sure every algorithm has a signing key. A key file (or store
        record) that does not load raises :class:`KeyFileError` (:class:`KeyRecordError`), never replaced."""
        if self.repository is not None:
            self._serialised(self._ensure_usable)
            return
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        loaded: dict[str, _Key] = {}
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith("."):
                continue  # another process's temporary file, about to be renamed
            try:
                key = _Key(json.loads(path.read_text()))
            except OSError as exc:
                raise KeyFileError(path, f"cannot be read ({exc.strerror})") from None
            except (ValueError, KeyError, TypeError) as exc:
                raise KeyFileError(path, f"is not a valid key file ({type(exc).__name__})") from None
            loaded[key.kid] = key
        self._keys = loaded
        self._ensure_usable()
        self._changed()

    def _ensure_usable(self) -> None:
        for alg in self.algorithms:
            if not self._usable(alg):
                self._generate(alg, activate_at=self.clock.now())

    def _usable(self, alg: str) -> _KeyList:
        """Keys of ``alg`` that sign now or will (active or next), newest activation first."""
        now = self.clock.now()
        keys = [k for k in self._keys.values() if k.alg == alg and k.state(now) in ("active", "next")]
        return sorted(keys, key=lambda k: k.record["activated_at"], reverse=True)

    def _generate(self, alg: str, *, activate_at: float) -> _Key:
        if alg not in KEY_SPECS:
            raise ValueError(f"unsupported algorithm {alg!r}")
        kty, size = KEY_SPECS[alg]
        key = jwk.generate_key(kty, size, private=True)  # type: ignore[call-overload]
        now = self.clock.now()
        cert_pem = self._certificate(key.private_key, now)
        cert_der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
        kid = make_kid(self.kid_format, key, cert_der, alg)
        record = {
            "kid": kid,
            "alg": alg,
            "kty": kty,
            "jwk": key.as_dict(private=True),
            "cert_pem": cert_pem,
            "created_at": now,
            "activated_at": activate_at,
            "retired_at": None,
            "expires_at": None,
        }
        created = _Key(record)
        self._keys[kid] = created
        self._persist(created)
        self.audit.record("key.created", kid=kid, alg=alg, activated_at=activate_at)
        return created

    def _certificate(self, private_key: Any, now: float) -> str:
        """Self-signed X.509 over the same key (for JWKS ``x5c``; RGW needs it)."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.common_name)])
        start = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(days=1)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private_key.public_key())
            .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=CERT_VALIDITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        digest = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        cert = builder.sign(private_key, digest)
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def _persist(self, key: _Key) -> None:
        """Atomic write: temp file (0600) in the same directory, then ``os.replace``."""
        if self._pending is not None:  # inside a serialised repository update
            self._pending[key.kid] = key.record
            return
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(key.record, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / f"{key.kid}.json")
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # -- admin operations -------------------------------------------------------------
    def list(self) -> _Meta:
        self.reload_if_changed()
        now = self.clock.now()
        out = []
        for key in self._ordered(now, include_unpublished=True):
            r = key.record
            out.append(
                {
                    "kid": key.kid,
                    "alg": key.alg,
                    "kty": r["kty"],
                    "state": key.state(now),
                    "published": key.published(now),
                    "created_at": r["created_at"],
                    "activated_at": r["activated_at"],
                    "retired_at": r.get("retired_at"),
                    "expires_at": r.get("expires_at"),
                }
            )
        return out

    def rotate(self, alg: str | None = None) -> dict[str, Any]:
        """Publish a new key now; it signs after ``publish_ahead_seconds``; the old one retires then."""
        alg = alg or self.default_alg
        if alg not in self.algorithms:
            raise ValueError(f"algorithm {alg!r} is not configured for this issuer")
        kid: str = self._serialised(lambda: self._rotate(alg))
        return self._meta(kid)

    def _rotate(self, alg: str) -> str:
        now = self.clock.now()
        activate_at = now + self.settings.publish_ahead_seconds
        previous = [k for k in self._keys.values() if k.alg == alg and k.state(now) in ("active", "next")]
        new = self._generate(alg, activate_at=activate_at)
        for old in previous:
            old.record["retired_at"] = activate_at
            old.record["expires_at"] = activate_at + self.settings.retire_grace_seconds
            self._persist(old)
            self.audit.record("key.retired", kid=old.kid, alg=alg, expires_at=old.record["expires_at"])
        self.audit.record("key.rotated", kid=new.kid, alg=alg, activated_at=activate_at)
        if self.repository is None:
            self._changed()
        return str(new.kid)

    def retire(self, kid: str, *, immediately: bool = False) -> dict[str, Any]:
        """Retire a key (still published for the grace period, or removed at once)."""
        self._serialised(lambda: self._retire(kid, immediately))
        return self._meta(kid)

    def _retire(self, kid: str, immediately: bool) -> None:
        key = self._keys.get(kid)
        if key is None:
            raise KeyError(kid)
        now = self.clock.now()
        if key.record.get("retired_at") is None or key.record["retired_at"] > now:
            key.record["retired_at"] = now
        key.record["expires_at"] = now if immediately else key.record["retired_at"] + self.settings.retire_grace_seconds
        self._persist(key)
        self.audit.record("key.retired", kid=kid, alg=key.alg, immediately=immediately)
        if not self._usable(key.alg):
            self._generate(key.alg, activate_at=now)
        if self.repository is None:
            self._changed()

    def _meta(self, kid: str) -> dict[str, Any]:
        return next(m for m in self.list() if m["kid"] == kid)

    # -- use ---------------------------------------------------------------------------
    def signing_key(self, alg: str) -> tuple[str, Any]:
        """The key that signs ``alg`` now: newest active; a pending next key if none is active."""
        self.reload_if_changed()
        now = self.clock.now()
        usable = self._usable(alg)
        active = [k for k in usable if k.state(now) == "active"]
        if active:
            chosen = active[0]
        elif usable:
            chosen = usable[-1]
        elif alg in KEY_SPECS:
            kid = self._serialised(lambda: (self._usable(alg) or [self._generate(alg, activate_at=now)])[0].kid)
            chosen = self._keys[kid]
            if alg not in self.algorithms:
                self.algorithms.append(alg)
        else:
            raise ValueError(f"unsupported algorithm {alg!r}")
        return chosen.kid, chosen.key

    def header_extras(self, kid: str) -> dict[str, Any]:
        """Extra JOSE header fields for a token signed by ``kid`` (``x5t`` for GitHub-style issuers)."""
        key = self._keys.get(kid) if self.header_x5t else None
        return {"x5t": key.x5t()} if key is not None else {}

    def verification_key(self, kid: str) -> tuple[str, Any] | None:
        """(alg, key) for a still-published kid, else None."""
        self.reload_if_changed()
        key = self._keys.get(kid)
        if key is None or not key.published(self.clock.now()):
            return None
        return key.alg, key.key

    def _ordered(self, now: float, *, include_unpublished: bool = False) -> _KeyList:
        keys = [k for k in self._keys.values() if include_unpublished or k.published(now)]
        rank_state = {"active": 0, "next": 1, "retired": 2}

        def rank(k: _Key) -> tuple[int, int, int, float]:
            state = k.state(now)
            first = 0 if (state == "active" and k.alg == self.default_alg) else 1
            alg_rank = self.algorithms.index(k.alg) if k.alg in self.algorithms else len(self.algorithms)
            return (first, rank_state[state], alg_rank, -k.record["activated_at"])

        return sorted(keys, key=rank)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS; rebuilt only when the key set changes or a key changes state."""
        self.reload_if_changed()
        now = self.clock.now()
        cached = self._jwks_cache
        if cached is not None and cached[1] <= now < cached[2]:
            return cached[0]
        doc = {"keys": [k.public_jwk(x5c=self.x5c) for k in self._ordered(now)]}
        # Valid until the next activation, retirement or expiry (and never for an earlier "now":
        # the virtual clock may be set back).
        moments = [
            t
            for k in self._keys.values()
            for t in (k.record.get("activated_at"), k.record.get("retired_at"), k.record.get("expires_at"))
            if t is not None and t > now
        ]
        self._jwks_cache = (doc, now, min(moments, default=float("inf")))
        return doc
