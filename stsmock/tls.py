"""https for every listener: a local CA in the data dir (or the user's files) and one live SSLContext.

Why a local CA rather than a self-signed leaf: clients are told to trust *one* file
(``stsmock ca path``; ``AWS_CA_BUNDLE``, ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``,
``NODE_EXTRA_CA_CERTS``), and the leaf can be re-issued (new names, renewal) without
anyone re-trusting anything. The CA key never leaves the data dir (0600).

The server builds one :class:`TlsContext` and hands its ``ssl.SSLContext`` to every
listener (issuer/STS/admin/console and the S3 gateway). :meth:`TlsContext.watch` polls the
certificate and key files and reloads the chain into the *same* context, so a replaced
certificate is presented on the next handshake without a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .datadir import DataDirError, write_private

log = logging.getLogger("stsmock.tls")

TLS_DIR = "tls"
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
LEAF_CERT = "cert.pem"
LEAF_KEY = "key.pem"
#: A leaf is re-issued when it expires within this many days (the CA is never replaced).
RENEW_DAYS = 30
LEAF_DAYS = 397
CA_DAYS = 3650
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    #: The CA clients should trust; None when the user brought their own certificate.
    ca: Path | None


def ca_path(data_dir: Path) -> Path:
    return data_dir / TLS_DIR / CA_CERT


def _load_pem_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise DataDirError(path, f"cannot read: {exc.strerror}", "fix its permissions") from None
    except ValueError:
        raise DataDirError(
            path, "is not a PEM certificate", "restore it from a backup or move the tls/ directory away"
        ) from None


def _load_pem_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise DataDirError(path, f"cannot read: {exc.strerror}", "fix its permissions") from None
    except (ValueError, TypeError):
        raise DataDirError(
            path, "is not a PEM private key", "restore it from a backup or move the tls/ directory away"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DataDirError(path, "is not an EC private key", "move the tls/ directory away to start a new CA")
    return key


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure_ca(data_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Load the local CA, creating it only when neither of its files exists (never over existing material)."""
    directory = data_dir / TLS_DIR
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.exists() or key_path.exists():
        for path in (cert_path, key_path):
            if not path.exists():
                raise DataDirError(path, "is missing while its pair exists", "restore it or move tls/ away")
        cert, key = _load_pem_cert(cert_path), _load_pem_key(key_path)
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
            raise DataDirError(key_path, "does not match ca.pem", "restore the pair or move tls/ away")
        return cert, key
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stsmock local CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"stsmock local CA {os.urandom(4).hex()}"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _pem_key(key))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    log.info("created a local CA at %s", cert_path)
    return cert, key


def _san(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _leaf_names(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {str(v) for v in ext.get_values_for_type(x509.IPAddress)}
    return names | set(ext.get_values_for_type(x509.DNSName))


def _leaf_ok(cert_path: Path, ca: x509.Certificate, names: list[str]) -> bool:
    cert = _load_pem_cert(cert_path)
    fresh = cert.not_valid_after_utc - _now() > dt.timedelta(days=RENEW_DAYS)
    return fresh and cert.issuer == ca.subject and set(names) <= _leaf_names(cert)


def ensure_local_certificate(data_dir: Path, names: list[str]) -> TlsFiles:
    """The data dir's CA and a leaf for ``names`` (re-issued when names are missing or it nears expiry)."""
    ca, ca_key = ensure_ca(data_dir)
    write_bundle(data_dir)
    directory = data_dir / TLS_DIR
    cert_path, key_path = directory / LEAF_CERT, directory / LEAF_KEY
    wanted = list(dict.fromkeys([*DEFAULT_NAMES, *names]))
    if cert_path.exists() and key_path.exists():
        _load_pem_key(key_path)
        if _leaf_ok(cert_path, ca, wanted):
            return TlsFiles(cert_path, key_path, directory / CA_CERT)
        wanted = sorted(set(wanted) | _leaf_names(_load_pem_cert(cert_path)))  # keep names it had
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_san(wanted)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(key_path, _pem_key(key))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    log.info("issued a TLS certificate for %s", ", ".join(wanted))
    return TlsFiles(cert_path, key_path, directory / CA_CERT)


def write_bundle(data_dir: Path) -> Path:
    """``tls/bundle.pem``: the system's public roots plus the local CA.

    ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` and ``AWS_CA_BUNDLE`` *replace* a client's
    default roots, so pointing them at the CA alone would break every other https call.
    """
    directory = data_dir / TLS_DIR
    ca = (directory / CA_CERT).read_bytes()
    roots = b""
    system = ssl.get_default_verify_paths().openssl_cafile
    for candidate in (system, "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        try:
            roots = Path(candidate).read_bytes()
            break
        except OSError:
            continue
    bundle = directory / "bundle.pem"
    content = roots.rstrip(b"\n") + b"\n" + ca if roots else ca
    if not bundle.exists() or bundle.read_bytes() != content:
        write_private(bundle, content, mode=0o644)
    return bundle


def names_for(host: str, public_url: str | None) -> list[str]:
    """Names the leaf must cover: the bind host (unless a wildcard) and the public URL's host."""
    from urllib.parse import urlsplit

    names = []
    if host not in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard bind is not a name
        names.append(host)
    if public_url:
        public_host = urlsplit(public_url).hostname
        if public_host:
            names.append(public_host)
    return names


class TlsContext:
    """One server-side SSLContext for every listener, reloaded in place when its files change."""

    def __init__(self, files: TlsFiles, *, reload_seconds: float = 2.0) -> None:
        self.files = files
        self.reload_seconds = reload_seconds
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_alpn_protocols(["http/1.1"])  # aiohttp's server speaks HTTP/1.x only
        self._stamp = self._file_stamp()
        self._load()

    def _file_stamp(self) -> tuple[int, ...]:
        try:
            a, b = self.files.cert.stat(), self.files.key.stat()
        except OSError:
            return ()
        return (a.st_mtime_ns, a.st_size, a.st_ino, b.st_mtime_ns, b.st_size, b.st_ino)

    def _load(self) -> None:
        try:
            self.context.load_cert_chain(self.files.cert, self.files.key)
        except FileNotFoundError as exc:
            raise DataDirError(
                Path(exc.filename or self.files.cert), "does not exist", "check --tls-cert/--tls-key"
            ) from None
        except PermissionError as exc:
            raise DataDirError(Path(exc.filename or self.files.cert), "cannot be read", "fix its permissions") from None
        except ssl.SSLError as exc:
            raise DataDirError(
                self.files.cert,
                f"and {self.files.key.name} are not a usable certificate/key pair ({exc.reason or exc})",
                "give a PEM certificate chain and its private key",
            ) from None

    def reload_if_changed(self) -> bool:
        """Load the chain again when either file changed; a broken new pair keeps the old one."""
        stamp = self._file_stamp()
        if not stamp or stamp == self._stamp:
            return False
        try:
            self._load()
        except DataDirError as exc:
            log.warning("TLS reload skipped: %s (the previous certificate stays in use)", exc)
            return False
        self._stamp = stamp
        log.info("TLS certificate reloaded from %s", self.files.cert)
        return True

    async def watch(self) -> None:
        """Poll the files (cheap stat calls); a background task of each serving process."""
        while True:
            await asyncio.sleep(self.reload_seconds)
            self.reload_if_changed()


def client_context(ca_file: str | Path | None) -> ssl.SSLContext | None:
    """A client context trusting ``ca_file`` (for the CLI talking to an https server); None for system trust."""
    if not ca_file:
        return None
    return ssl.create_default_context(cafile=str(ca_file))
