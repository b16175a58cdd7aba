"""Typed, validated configuration of the STS plane: roles, trust, upstreams.

Trust and permission policies stay plain IAM JSON (dicts); their grammar is
checked by :mod:`stsproxy.policy` when the config is loaded.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Profile = Literal["aws", "minio"]
UpstreamKind = Literal["minio", "ceph-rgw", "aws", "seaweedfs"]
UpstreamMode = Literal["passthrough", "broker"]

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrustedIssuerSettings(Strict):
    """An external OIDC issuer whose tokens the STS accepts."""

    issuer: str = Field(min_length=1)
    #: Skip discovery and fetch keys here.
    jwks_uri: str | None = None
    #: Allowed ``aud`` values (IAM's ClientIDList). Empty means any.
    audiences: list[str] = Field(default_factory=list)
    #: Also accept a token whose ``azp`` (not its ``aud``) is in ``audiences``, as MinIO and
    #: SeaweedFS do. None: as the STS profile does (``minio``: yes; ``aws``: no, IAM requires
    #: ``aud`` to be in the ClientIDList, so a Keycloak access token with ``aud: account`` fails).
    azp_as_audience: bool | None = None
    algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"]
    )
    ca_bundle: str | None = None
    insecure_tls: bool = False

    @field_validator("algorithms")
    @classmethod
    def _no_symmetric(cls, value: list[str]) -> list[str]:
        for alg in value:
            if alg == "none" or alg.startswith("HS"):
                raise ValueError(f"algorithm '{alg}' cannot be trusted for web identity")
        return value


class TokenValidationSettings(Strict):
    #: Seconds of clock skew allowed on exp/nbf/iat (AWS allows 5 minutes past exp).
    leeway_seconds: int = Field(default=300, ge=0, le=3600)
    #: Reject tokens whose iat is older than this (seconds). None disables the check.
    max_token_age_seconds: int | None = Field(default=None, ge=1)
    max_token_bytes: int = Field(default=20_000, ge=4, le=1_000_000)
    jwks_cache_ttl_seconds: int = Field(default=300, ge=0)
    #: Minimum seconds between two refetches caused by an unknown kid.
    jwks_refetch_min_interval_seconds: float = Field(default=10.0, ge=0)
    fetch_timeout_seconds: float = Field(default=5.0, gt=0)


class UpstreamSettings(Strict):
    name: str = Field(min_length=1)
    kind: UpstreamKind
    endpoint: str = Field(min_length=1)
    region: str = "us-east-1"
    ca_bundle: str | None = None
    insecure_tls: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0)
    retries: int = Field(default=0, ge=0, le=10)
    #: Admin credentials (MinIO revoke-tokens, RGW IAM); optional.
    admin_access_key: str | None = None
    admin_secret_key: str | None = None
    #: MinIO revoke-tokens ``{userProvider}``: MinIO accepts admin revocation for
    #: ``builtin`` and ``ldap`` users only (``openid`` is refused; see docs/upstream.md).
    revoke_user_provider: Literal["builtin", "ldap", "openid"] = "builtin"


class BrokerSettings(Strict):
    """How a built-in issuer mints the token that goes upstream in broker mode."""

    issuer: str = "default"
    audience: str
    ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    #: Claims for the upstream token; values may reference request claims as
    #: ``{claims.sub}`` or role facts as ``{role.name}``.
    claims: dict[str, Any] = Field(default_factory=dict)


class RoleUpstreamSettings(Strict):
    name: str
    mode: UpstreamMode = "passthrough"
    #: The RoleArn sent upstream (defaults to the caller's RoleArn).
    role_arn: str | None = None
    broker: BrokerSettings | None = None
    #: A narrowing session policy added to the upstream request.
    session_policy: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _broker_needs_settings(self) -> RoleUpstreamSettings:
        if self.mode == "broker" and self.broker is None:
            raise ValueError("mode 'broker' needs a 'broker' block (issuer, audience, claims)")
        return self


class BreakGlassSettings(Strict):
    #: Claim (in the web-identity token) or session tag that carries the reason.
    reason_claim: str = "reason"
    max_session_seconds: int = Field(default=900, ge=900, le=3600)
    single_use: bool = False
    webhook: str | None = None
    require_reason: bool = True


class RoleSettings(Strict):
    name: str
    path: str = "/"
    description: str = ""
    trust_policy: dict[str, Any]
    #: Inline permission policies, by name.
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Names of entries in ``sts.managed_policies``.
    managed_policies: list[str] = Field(default_factory=list)
    max_session_duration: int = Field(default=3600, ge=900, le=31_536_000)
    #: Duration when the request has no DurationSeconds (AWS: 3600). A short value (e.g. 900)
    #: makes SDKs refresh on every use, which is handy for testing refresh logic.
    default_session_duration: int | None = Field(default=None, ge=900, le=31_536_000)
    #: DRILL ONLY, not AWS behaviour: every session of this role lasts exactly this many seconds
    #: (AWS's minimum is 900), whatever DurationSeconds says. `stsmock drill refresh` uses it to
    #: compress time.
    drill_session_seconds: int | None = Field(default=None, ge=5, le=899)
    tags: dict[str, str] = Field(default_factory=dict)
    profile: Profile | None = None
    upstream: RoleUpstreamSettings | None = None
    break_glass: BreakGlassSettings | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _ROLE_NAME_RE.match(value):
            raise ValueError("role name must be 1-64 characters of [\\w+=,.@-]")
        return value

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        if not (value.startswith("/") and value.endswith("/")):
            raise ValueError("role path must start and end with '/'")
        return value


class StsSettings(Strict):
    profile: Profile = "aws"
    account_id: str = "000000000000"
    partition: str = "aws"
    region: str = "us-east-1"
    #: Put the failed check's details into error messages (always in the audit record).
    debug: bool = False
    validation: TokenValidationSettings = Field(default_factory=TokenValidationSettings)
    trusted_issuers: list[TrustedIssuerSettings] = Field(default_factory=list)
    managed_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    roles: list[RoleSettings] = Field(default_factory=list)
    upstreams: list[UpstreamSettings] = Field(default_factory=list)
    #: Static IAM-user keys allowed to sign AssumeRole/GetSessionToken (access_key -> secret, arn).
    users: list[dict[str, str]] = Field(default_factory=list)

    @field_validator("account_id")
    @classmethod
    def _valid_account(cls, value: str) -> str:
        if not _ACCOUNT_RE.match(value):
            raise ValueError("account_id must be 12 digits")
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> StsSettings:
        upstream_names = {u.name for u in self.upstreams}
        seen: set[str] = set()
        for role in self.roles:
            if role.name in seen:
                raise ValueError(f"duplicate role name {role.name!r}")
            seen.add(role.name)
            for managed in role.managed_policies:
                if managed not in self.managed_policies:
                    raise ValueError(f"role {role.name!r}: unknown managed policy {managed!r}")
            if role.upstream and role.upstream.name not in upstream_names:
                raise ValueError(f"role {role.name!r}: unknown upstream {role.upstream.name!r}")
        return self

    def role_arn(self, role: RoleSettings) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role{role.path}{role.name}"
