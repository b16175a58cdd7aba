"""Helpers for interop tests against a real Ceph RGW (16.2.x) acting as an OIDC relying party.

RGW quirks these helpers encode (see /work/shared/reference/real-servers.md section 2):
- policies must be *compact* JSON (``json.dumps(..., separators=(",", ":"))``), else 400 MalformedPolicyDocument;
- role names must be ``[A-Za-z0-9]`` (``_`` rejected);
- boto3 cannot parse RGW's IAM/STS error bodies (``Error.Code`` is None) -> we surface the HTTP status;
- provider ARN is ``arn:aws:iam:::oidc-provider/<issuer without scheme>``, trust condition keys are
  ``<host:port>:app_id`` (= aud) and ``<host:port>:sub``;
- RGW fetches ``{iss}/.well-known/openid-configuration`` and the JWKS on *every* AssumeRoleWithWebIdentity,
  uses only the FIRST key of the JWKS (kid ignored) and requires ``x5c`` on it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey

REGION = "us-east-1"
_ALNUM = re.compile(r"[A-Za-z0-9]{1,64}")


@dataclass(frozen=True)
class CephRGW:
    """What the ``ceph_rgw`` fixture yields."""

    endpoint: str  # e.g. http://127.0.0.1:7480 (IAM, STS and S3 all live here)
    access_key: str  # admin user with caps oidc-provider=*;roles=*;users=*;buckets=*
    secret_key: str
    ceph_dir: str | None  # cluster dir (logs in <ceph_dir>/log); None for an externally managed RGW
    #: a stsmock data dir whose local CA (tls/ca.pem) this RGW trusts for https issuers; None if not set up
    trusted_data_dir: str | None = None

    @property
    def rgw_log(self) -> str | None:
        return f"{self.ceph_dir}/log/client.rgw.a.log" if self.ceph_dir else None


class RGWRequestError(Exception):
    """An IAM/STS/S3 call to RGW failed. ``status`` is the HTTP status (always set; ``code`` often is None)."""

    def __init__(self, operation: str, status: int, code: str | None, message: str | None, hint: str | None = None):
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        text = f"RGW {operation} failed: HTTP {status} code={code!r} message={message!r}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)

    @classmethod
    def from_client_error(cls, operation: str, err: ClientError, rgw: CephRGW | None = None) -> RGWRequestError:
        resp = err.response or {}
        status = int(resp.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        error = resp.get("Error") or {}
        hint = f"see {rgw.rgw_log}" if rgw is not None and rgw.rgw_log else None
        return cls(operation, status, error.get("Code") or None, error.get("Message") or None, hint)


def http_status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def unique_name(prefix: str = "t") -> str:
    """Alnum-only, lowercase, unique: valid as both an RGW role name and an S3 bucket name."""
    name = f"{prefix}{uuid.uuid4().hex[:20]}".lower()
    assert _ALNUM.fullmatch(name), name
    return name


def compact_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def provider_host(issuer_url: str) -> str:
    """RGW's provider identity: the issuer URL without scheme and trailing slash (``127.0.0.1:8091``)."""
    return re.sub(r"^https?://", "", issuer_url).rstrip("/")


def provider_arn(issuer_url_or_host: str) -> str:
    return f"arn:aws:iam:::oidc-provider/{provider_host(issuer_url_or_host)}"


def role_arn(role_name: str) -> str:
    return f"arn:aws:iam:::role/{role_name}"


# ----------------------------------------------------------------------------------------- clients


def _config(**kw: Any) -> Config:
    return Config(
        region_name=REGION,
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 2, "mode": "standard"},
        s3={"addressing_style": "path"},
        **kw,
    )


def iam_client(rgw: CephRGW):
    return boto3.client(
        "iam",
        endpoint_url=rgw.endpoint,
        region_name=REGION,
        aws_access_key_id=rgw.access_key,
        aws_secret_access_key=rgw.secret_key,
        config=_config(),
    )


def sts_client(rgw: CephRGW):
    """Unsigned STS client (AssumeRoleWithWebIdentity needs no AWS credentials)."""
    return boto3.client(
        "sts",
        endpoint_url=rgw.endpoint,
        region_name=REGION,
        config=_config(signature_version=botocore.UNSIGNED),
    )


def s3_client_from_credentials(rgw: CephRGW, creds: Mapping[str, Any]):
    """S3 client from an STS ``Credentials`` dict (AccessKeyId/SecretAccessKey/SessionToken)."""
    return boto3.client(
        "s3",
        endpoint_url=rgw.endpoint,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=_config(),
    )


# ----------------------------------------------------------------------------------------- IAM setup


def register_oidc_provider(
    rgw: CephRGW, issuer_url: str, client_ids: Iterable[str], thumbprint: str | None = None
) -> str:
    """CreateOpenIDConnectProvider; idempotent (409 / EntityAlreadyExists ignored). Returns the provider ARN.

    RGW 16.2 does not enforce the thumbprint, so a dummy 40-hex value is used when none is given.
    """
    if thumbprint is None:
        thumbprint = hashlib.sha1(issuer_url.encode()).hexdigest()  # noqa: S324 - dummy, not security
    try:
        resp = iam_client(rgw).create_open_id_connect_provider(
            Url=issuer_url, ClientIDList=list(client_ids), ThumbprintList=[thumbprint]
        )
        return resp.get("OpenIDConnectProviderArn") or provider_arn(issuer_url)
    except ClientError as e:
        if http_status(e) == 409 or e.response.get("Error", {}).get("Code") == "EntityAlreadyExists":
            return provider_arn(issuer_url)
        raise RGWRequestError.from_client_error("CreateOpenIDConnectProvider", e, rgw) from e


def trust_policy(provider_host_: str, conditions: Mapping[str, Any]) -> dict:
    """Web-identity trust policy for ``provider_host_`` (``127.0.0.1:PORT``).

    ``conditions`` is either ``{key: value}`` (put under StringEquals) or ``{Operator: {key: value}}``.
    Keys without ``:`` are prefixed with ``<provider_host>:``, so ``{"app_id": "c1", "sub": "alice"}`` becomes
    ``{"StringEquals": {"127.0.0.1:PORT:app_id": "c1", "127.0.0.1:PORT:sub": "alice"}}``.
    """

    def expand(d: Mapping[str, Any]) -> dict:
        return {(k if ":" in k else f"{provider_host_}:{k}"): v for k, v in d.items()}

    if conditions and all(isinstance(v, Mapping) for v in conditions.values()):
        cond = {op: expand(kv) for op, kv in conditions.items()}
    else:
        cond = {"StringEquals": expand(conditions)} if conditions else {}
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": [provider_arn(provider_host_)]},
        "Action": ["sts:AssumeRoleWithWebIdentity"],
    }
    if cond:
        stmt["Condition"] = cond
    return {"Version": "2012-10-17", "Statement": [stmt]}


def create_web_identity_role(
    rgw: CephRGW,
    role_name: str,
    provider_host: str,  # "127.0.0.1:PORT" (shadows the module function on purpose: documented name)
    conditions: Mapping[str, Any],
    policy_actions: Iterable[str] = ("s3:*",),
) -> str:
    """CreateRole with a web-identity trust policy + PutRolePolicy allowing ``policy_actions`` on all of S3.

    Returns the role ARN (``arn:aws:iam:::role/<name>``). ``role_name`` must be ``[A-Za-z0-9]{1,64}``.
    """
    if not _ALNUM.fullmatch(role_name):
        raise ValueError(f"RGW role names must match [A-Za-z0-9]{{1,64}}, got {role_name!r}")
    iam = iam_client(rgw)
    try:
        resp = iam.create_role(
            RoleName=role_name,
            Path="/",
            AssumeRolePolicyDocument=compact_json(trust_policy(provider_host, conditions)),
        )
    except ClientError as e:
        raise RGWRequestError.from_client_error("CreateRole", e, rgw) from e
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(policy_actions), "Resource": "arn:aws:s3:::*"}],
    }
    try:
        iam.put_role_policy(RoleName=role_name, PolicyName="p1", PolicyDocument=compact_json(policy))
    except ClientError as e:
        raise RGWRequestError.from_client_error("PutRolePolicy", e, rgw) from e
    return resp.get("Role", {}).get("Arn") or role_arn(role_name)


def delete_role(rgw: CephRGW, role_name: str) -> None:
    """Best-effort cleanup."""
    iam = iam_client(rgw)
    for call in (
        lambda: iam.delete_role_policy(RoleName=role_name, PolicyName="p1"),
        lambda: iam.delete_role(RoleName=role_name),
    ):
        try:
            call()
        except ClientError:
            pass


# ----------------------------------------------------------------------------------------- STS + S3


def assume_at_rgw(rgw: CephRGW, role_name: str, token: str, session_name: str = "s1", duration: int = 3600) -> dict:
    """AssumeRoleWithWebIdentity at RGW. Returns the ``Credentials`` dict (AccessKeyId, SecretAccessKey,
    SessionToken, Expiration) plus ``SubjectFromWebIdentityToken`` and ``AssumedRoleUser`` from the response.
    Raises :class:`RGWRequestError` (with ``.status``) on failure.
    """
    arn = role_name if role_name.startswith("arn:") else role_arn(role_name)
    try:
        resp = sts_client(rgw).assume_role_with_web_identity(
            RoleArn=arn, RoleSessionName=session_name, WebIdentityToken=token, DurationSeconds=duration
        )
    except ClientError as e:
        raise RGWRequestError.from_client_error("AssumeRoleWithWebIdentity", e, rgw) from e
    creds = dict(resp["Credentials"])
    creds["SubjectFromWebIdentityToken"] = resp.get("SubjectFromWebIdentityToken")
    creds["AssumedRoleUser"] = resp.get("AssumedRoleUser")
    return creds


def put_and_get_object(rgw: CephRGW, creds: Mapping[str, Any], bucket: str, key: str, data: bytes) -> bytes:
    """With session ``creds``: CreateBucket (if needed), PutObject, GetObject; returns the body read back."""
    s3 = s3_client_from_credentials(rgw, creds)
    op = "CreateBucket"
    try:
        try:
            s3.create_bucket(Bucket=bucket)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",):
                raise
        op = "PutObject"
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        op = "GetObject"
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        raise RGWRequestError.from_client_error(op, e, rgw) from e


# ----------------------------------------------------------------------------------------- mini issuer


class _SigningKey:
    def __init__(self, kid: str):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mini-issuer {kid}")])
        now = _dt.datetime.now(_dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=30))
            .sign(self.private, hashes.SHA256())
        )
        der = self.cert.public_bytes(serialization.Encoding.DER)
        self.thumbprint = hashlib.sha1(der).hexdigest()  # noqa: S324 - what AWS/RGW call the thumbprint
        self.jose = RSAKey.import_key(self.private)
        self._x5c = base64.b64encode(der).decode()

    def public_jwk(self, include_x5c: bool = True) -> dict:
        jwk = dict(self.jose.as_dict(private=False))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        if include_x5c:
            jwk["x5c"] = [self._x5c]
        return jwk


class MiniIssuer:
    """A tiny OIDC issuer for RGW tests, served by aiohttp on 127.0.0.1 in a background thread (own loop), so
    blocking boto3 calls in the test can't starve it while RGW fetches discovery + JWKS.

        with MiniIssuer() as idp:
            register_oidc_provider(rgw, idp.url, ["sts-client"])
            tok = idp.token(sub="alice", aud="sts-client")

    Knobs (mutable at runtime; RGW re-fetches the JWKS on every call):
      ``signing_key_first`` - False puts an unrelated decoy key before the signing key in the JWKS;
      ``include_x5c``       - False omits ``x5c`` from the published keys.
    ``requests`` records the paths fetched (e.g. by RGW).
    Interface shared with the real stsmock issuer later: ``url``, ``provider_host``, ``thumbprint``, ``token()``.
    """

    def __init__(self, *, signing_key_first: bool = True, include_x5c: bool = True, bind_host: str = "127.0.0.1"):
        self.signing_key_first = signing_key_first
        self.include_x5c = include_x5c
        self.bind_host = bind_host
        self.signing_key = _SigningKey("sig-" + uuid.uuid4().hex[:8])
        self._decoy: _SigningKey | None = None
        self.requests: list[str] = []
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- public surface
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("MiniIssuer not started")
        return f"http://{self.bind_host}:{self.port}"

    @property
    def provider_host(self) -> str:
        return provider_host(self.url)

    @property
    def thumbprint(self) -> str:
        return self.signing_key.thumbprint

    def jwks(self) -> dict:
        keys = [self.signing_key.public_jwk(self.include_x5c)]
        if not self.signing_key_first:
            if self._decoy is None:
                self._decoy = _SigningKey("decoy-" + uuid.uuid4().hex[:8])
            keys.insert(0, self._decoy.public_jwk(self.include_x5c))
        return {"keys": keys}

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["code", "id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def token(
        self,
        sub: str = "alice",
        aud: str | list[str] = "sts-client",
        *,
        expires_in: int = 600,
        issued_at: int | None = None,
        iss: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """RS256 JWT signed with the signing key (header carries its kid). Negative ``expires_in`` -> expired."""
        now = int(time.time())
        iat = now if issued_at is None else issued_at
        if expires_in < 0 and issued_at is None:
            iat = now + expires_in - 300
        claims: dict[str, Any] = {
            "iss": iss or self.url,
            "sub": sub,
            "aud": aud,
            "iat": iat,
            "nbf": iat,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
        }
        claims.update(extra or {})
        return jwt.encode(
            {"alg": "RS256", "kid": self.signing_key.kid, "typ": "JWT"},
            claims,
            self.signing_key.jose,
            algorithms=["RS256"],
        )

    def fetched(self, path: str) -> int:
        return sum(1 for p in self.requests if p == path)

    # -- lifecycle
    def start(self) -> MiniIssuer:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._h_discovery)
        app.router.add_get("/jwks", self._h_jwks)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, self.bind_host, 0)
                self._loop.run_until_complete(site.start())
                self.port = self._runner.addresses[0][1]
            except BaseException as e:
                errors.append(e)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="mini-issuer", daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError(f"MiniIssuer failed to start: {errors}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> MiniIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handlers
    async def _h_discovery(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return web.json_response(self.discovery())

    async def _h_jwks(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return web.json_response(self.jwks())
