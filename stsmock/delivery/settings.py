"""Config models for credential delivery (the ``delivery:`` section).

A *binding* ties one workload identity to one role. stsmock obtains that
workload's credentials (a web-identity token → AssumeRoleWithWebIdentity through
its own STS pipeline), keeps them fresh, and hands them out through the delivery
channels the binding enables: the container credentials endpoint, an IMDS
"instance", credential files, or a web-identity token file.
"""

from __future__ import annotations

import functools
import re
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError, SchemaValidator, core_schema

#: Binding names appear in URLs, file names and audit records.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: RoleSessionName, as the STS checks it (Unicode ``\w``).
SESSION_NAME_PATTERN = r"^[\w+=,.@-]{2,64}$"


@functools.cache
def _pattern_validator(pattern: str) -> SchemaValidator:
    return SchemaValidator(core_schema.str_schema(pattern=pattern))


def _matching(pattern: str) -> AfterValidator:
    """``Field(pattern=...)`` with pydantic's own regex engine, compiled on the first value checked.

    Why: Unicode ``\\w`` under ``{2,64}`` compiles to a large automaton, 28 ms of every start-up
    when built into the config's validator, although most configs have no binding to check. Same
    engine, error type, message and JSON Schema as ``Field(pattern=...)``.
    """

    def check(value: str) -> str:
        try:
            _pattern_validator(pattern).validate_python(value)
        except ValidationError:
            raise PydanticCustomError(
                "string_pattern_mismatch", "String should match pattern '{pattern}'", {"pattern": pattern}
            ) from None
        return value

    return AfterValidator(check)


SessionName = Annotated[
    str, _matching(SESSION_NAME_PATTERN), WithJsonSchema({"pattern": SESSION_NAME_PATTERN, "type": "string"})
]


class _Strict(BaseModel):
    # defer_build: a validator per model is built on first use; the config validates through one (start-up)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class ClientCredentialsIdentity(_Strict):
    """The workload authenticates as an OAuth client (client_credentials grant)."""

    client_id: str = Field(min_length=1, max_length=256)
    client_secret: str = Field(min_length=1, max_length=1024)
    #: Token endpoint; default: the built-in issuer's (``issuer`` below).
    token_url: str | None = Field(default=None, max_length=2048)
    scope: str | None = Field(default=None, max_length=1024)


class IdentitySettings(_Strict):
    """Exactly one source of the workload's web-identity token.

    - default: a token minted by the built-in ``issuer`` with ``sub`` and ``claims``
      (audience: ``aud``, else ``client_id``'s audience);
    - ``token_file``: a file somebody else keeps fresh (a projected service-account token);
    - ``client_credentials``: a client of an OAuth token endpoint.
    """

    issuer: str = "default"
    sub: str | None = Field(default=None, max_length=1024)
    client_id: str = Field(default="stsmock-dev", max_length=256)
    aud: str | list[str] | None = None
    claims: dict[str, object] = Field(default_factory=dict)
    ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    token_file: str | None = Field(default=None, max_length=4096)
    client_credentials: ClientCredentialsIdentity | None = None

    @model_validator(mode="after")
    def _one_source(self) -> IdentitySettings:
        if self.token_file and self.client_credentials:
            raise ValueError("give token_file or client_credentials, not both")
        return self

    @property
    def kind(self) -> Literal["minted", "token_file", "client_credentials"]:
        if self.token_file:
            return "token_file"
        if self.client_credentials is not None:
            return "client_credentials"
        return "minted"


class ImdsBindingSettings(_Strict):
    """This binding's IMDS "instance" (IMDS has one role per instance, so one port per binding)."""

    #: 0 = a free port, announced in server.json and GET /admin/bindings.
    port: int = Field(default=0, ge=0, le=65535)
    #: Answer token-less GETs (IMDSv1). Off models ``HttpTokens=required``.
    v1: bool = False
    #: The role name the instance profile shows (default: the role's name).
    role_name: str | None = Field(default=None, max_length=64)
    #: ``HttpPutResponseHopLimit``: IP TTL of the token PUT response (EC2: default 1, 1..64;
    #: AL2023 uses 2 so that containers on a bridge network get tokens).
    hop_limit: int = Field(default=1, ge=1, le=64)


class FilesBindingSettings(_Strict):
    """Secret-controller pattern: files rewritten by atomic replace before the credentials expire."""

    #: Shared-credentials (INI) file; relative paths are under <data-dir>/delivery/.
    credentials: str | None = Field(default=None, max_length=4096)
    #: KEY=VALUE env file (``docker run --env-file`` / ``set -a; . file``).
    env: str | None = Field(default=None, max_length=4096)
    profile: str = Field(default="default", max_length=64)


class BindingSettings(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    role_arn: str = Field(min_length=20, max_length=2048)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    #: RoleSessionName (default: the binding name).
    session_name: SessionName | None = None
    #: DurationSeconds sent to the STS (default: none, i.e. the role's default).
    duration_seconds: int | None = Field(default=None, ge=1, le=43_200)
    #: Rotate when this much lifetime remains (default: see ``timing.rotation_margin``).
    refresh_before_expiry_seconds: int | None = Field(default=None, ge=1)
    #: Container endpoint authorization token (default: generated, kept in the data dir).
    container_token: str | None = Field(default=None, min_length=16, max_length=1024)
    #: The container endpoint answers for this binding (default on).
    container: bool = True
    imds: ImdsBindingSettings | None = None
    files: FilesBindingSettings | None = None
    #: Keep a web-identity token file for this identity (the "token file" pattern); relative → data dir.
    token_file: str | None = Field(default=None, max_length=4096)
    #: False = the binding is suspended: every channel refuses it (an "expired binding").
    enabled: bool = True


class ContainerEndpointSettings(_Strict):
    """The ECS / EKS Pod Identity style endpoint, shared by all bindings (the token picks the binding)."""

    enabled: bool = True
    #: SDKs accept plain http only on loopback, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23].
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    #: Reject requests whose Host header is not an allowed address (DNS-rebinding guard, like the EKS agent).
    check_host: bool = True


class ImdsSettings(_Strict):
    #: Address the per-binding IMDS instances bind (loopback; 169.254.169.254 needs an alias and root).
    host: str = "127.0.0.1"
    #: IMDSv2 session token lifetime bounds (AWS: 1..21600 s).
    max_token_ttl_seconds: int = Field(default=21_600, ge=1, le=21_600)


class DeliverySettings(_Strict):
    container: ContainerEndpointSettings = Field(default_factory=ContainerEndpointSettings)
    imds: ImdsSettings = Field(default_factory=ImdsSettings)
    #: Most bindings one server holds (config + created at runtime).
    max_bindings: int = Field(default=256, ge=1, le=10_000)
    bindings: list[BindingSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> DeliverySettings:
        names = [b.name for b in self.bindings]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"duplicate binding name {name!r}")
        return self


def role_name_of(role_arn: str) -> str:
    """The last path segment of a role ARN (what IMDS lists as the instance profile's role)."""
    match = re.search(r":role/(?:.*/)?([^/]+)$", role_arn)
    return match.group(1) if match else "stsmock-role"


class CreateBindingBody(BindingSettings):
    """A binding made over the admin API, plus how long it lives (then every channel refuses it).

    Files the server writes for it stay under <data-dir>/delivery/ (relative paths, no ``..``);
    absolute paths are for the operator's config file.
    """

    ttl_seconds: int | None = Field(default=None, ge=1, le=31_536_000)

    @model_validator(mode="after")
    def _paths_stay_in_the_data_dir(self) -> CreateBindingBody:
        paths = [("token_file", self.token_file)]
        if self.files is not None:
            paths += [("files.credentials", self.files.credentials), ("files.env", self.files.env)]
        for where, path in paths:
            if path is not None and not _relative_inside(path):
                raise ValueError(f"{where}: must be a relative path inside <data-dir>/delivery/")
        return self

    def binding(self) -> BindingSettings:
        return BindingSettings.model_validate(self.model_dump(exclude={"ttl_seconds"}))


def _relative_inside(path: str) -> bool:
    parts = PurePosixPath(path.replace("\\", "/")).parts
    return bool(parts) and not path.startswith(("/", "~")) and ".." not in parts and "\0" not in path
