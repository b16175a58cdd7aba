"""The configuration: one YAML file validated into typed models.

The plane-specific models live in the planes (``issuer.settings``,
``stsproxy.settings``); this module composes them, loads YAML, reports errors
by the path of the bad field, and expands the ``{issuer:NAME}`` /
``{provider:NAME}`` placeholders once the public URL is known.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from issuer.settings import IssuerSettings
from stsproxy.gateway.settings import GatewaySettings
from stsproxy.settings import StsSettings

from .delivery.settings import DeliverySettings

LogLevel = Literal["debug", "info", "warning", "error"]


class Strict(BaseModel):
    # defer_build: a validator per model is built on first use; the config validates through one (start-up)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class TlsSettings(Strict):
    """https for every listener (``serve --tls``): a local CA in the data dir, or your own cert and key."""

    enabled: bool = False
    #: PEM certificate chain (leaf first) and its key; default: a leaf issued by the data dir's local CA.
    cert: str | None = None
    key: str | None = None
    #: How often the cert/key files are checked for replacement (reloaded without a restart).
    reload_seconds: float = Field(default=2.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        return self


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=0, le=65535)
    #: Base URL when behind Docker or a proxy; default http://HOST:PORT.
    public_url: str | None = None
    log_level: LogLevel = "info"
    log_format: Literal["text", "json"] = "text"
    workers: int = Field(default=1, ge=1, le=64)
    #: Largest request body accepted (bytes); bigger requests get the protocol's error.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: Open connections per listener and process; more get one 503 and are closed (lowered to fit ulimit -n).
    max_connections: int = Field(default=512, ge=1, le=1_000_000)
    #: Seconds each request (also later ones on a keep-alive connection) has to send complete headers (408, close).
    header_timeout: float = Field(default=10.0, gt=0, le=3600)
    #: Seconds an idle keep-alive connection stays open.
    idle_timeout: float = Field(default=30.0, gt=0, le=86_400)
    #: Seconds to receive a whole request body (then 408).
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    #: Refuse to start with less free space than this on the data dir's file system.
    min_free_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    tls: TlsSettings = Field(default_factory=TlsSettings)


class AdminSettings(Strict):
    #: Fixed admin token; default: generated into <data-dir>/admin-token.
    token: str | None = Field(default=None, min_length=16)


class AuditSettings(Strict):
    #: JSON Lines file, relative to the data dir; null disables the file (the store keeps records).
    file: str | None = "audit.jsonl"
    #: Records older than this are pruned from the store (and age out of rotated files); null keeps forever.
    max_age_seconds: int | None = Field(default=30 * 86_400, ge=60)
    #: At most this many records are kept in the store (the oldest go first).
    max_records: int | None = Field(default=1_000_000, ge=100)
    #: The file is rotated (audit.jsonl -> audit.jsonl.1 ...) when it grows beyond this.
    file_max_bytes: int = Field(default=64 * 1024 * 1024, ge=4096)
    #: Rotated files kept (audit.jsonl.1 .. audit.jsonl.N).
    file_backups: int = Field(default=3, ge=0, le=100)


class StoreSettings(Strict):
    """Where shared state lives. Default: SQLite in the data dir (one machine, ``--workers``)."""

    #: ``postgresql://user:pass@host/db`` for N replicas sharing one PostgreSQL; ``sqlite`` (default).
    url: str | None = Field(default=None, max_length=4096, pattern=r"^(sqlite(:.*)?|postgres(ql)?://.+)$")


class TokenFileSettings(Strict):
    """Keep a web-identity token file fresh, as Kubernetes does for projected tokens."""

    path: str
    refresh_seconds: int = Field(default=300, ge=1)
    issuer: str = "default"
    client_id: str = "stsmock-dev"
    sub: str = "system:serviceaccount:default:stsmock"
    ttl_seconds: int = Field(default=3600, ge=60)


def _absent() -> Any:
    """A section left out of the file: ``{}`` validated by the config's own validator (the section
    model's defaults), so start-up builds no separate validator for it (gateway + delivery: ~14 ms)."""
    return Field(default_factory=dict, validate_default=True)


class Config(Strict):
    server: ServerSettings = _absent()
    admin: AdminSettings = _absent()
    audit: AuditSettings = _absent()
    store: StoreSettings = _absent()
    issuers: list[IssuerSettings] = Field(default_factory=lambda: [{}], validate_default=True)
    sts: StsSettings = _absent()
    token_files: list[TokenFileSettings] = Field(default_factory=list)
    gateway: GatewaySettings = _absent()
    #: Credential delivery: workload bindings, container endpoint, IMDS, files (stsmock/delivery/).
    delivery: DeliverySettings = _absent()

    @model_validator(mode="after")
    def _unique_issuers(self) -> Config:
        names = [i.name for i in self.issuers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"duplicate issuer name {name!r}")
        paths = [i.url_path for i in self.issuers]
        for index, path in enumerate(paths):
            if paths.count(path) > 1:
                raise ValueError(f"issuers[{index}]: issuer path {path or '/'!r} is used by another issuer")
        return self

    def issuer(self, name: str) -> IssuerSettings | None:
        return next((i for i in self.issuers if i.name == name), None)


class ConfigError(ValueError):
    """A config problem, already phrased as ``path: message`` lines."""


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{_format_loc(tuple(item['loc']))}: {message}")
    return "\n".join(lines)


def parse_config(data: Any, *, source: str = "config") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (root): expected a mapping, got {type(data).__name__}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    _check_policies(config)
    return config


def _check_policies(config: Config) -> None:
    """Policies are IAM JSON; check their grammar at load time, with the path."""
    try:
        from stsproxy.policy import parse_policy
    except ImportError:  # pragma: no cover - during bootstrap
        return
    from stsproxy.errors import StsError

    def check(doc: dict[str, Any], kind: str, path: str) -> None:
        try:
            parse_policy(expand_placeholders(doc, {}), kind=kind, name=path)  # type: ignore[arg-type]
        except StsError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None

    for name, doc in config.sts.managed_policies.items():
        check(doc, "identity", f"sts.managed_policies.{name}")
    for index, role in enumerate(config.sts.roles):
        check(role.trust_policy, "trust", f"sts.roles[{index}].trust_policy")
        for name, doc in role.policies.items():
            check(doc, "identity", f"sts.roles[{index}].policies.{name}")
        if role.upstream and role.upstream.session_policy:
            check(role.upstream.session_policy, "session", f"sts.roles[{index}].upstream.session_policy")


def load_yaml_text(text: str, *, source: str) -> Any:
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{source}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def default_config_text() -> str:
    return (Path(__file__).parent / "default-config.yaml").read_text(encoding="utf-8")


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate ``path``, or the embedded default when None."""
    if path is None:
        return parse_config(load_yaml_text(default_config_text(), source="default config"), source="default config")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    return parse_config(load_yaml_text(text, source=str(file)), source=str(file))


def config_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stsmock configuration"
    return schema


_PLACEHOLDER = re.compile(r"\{(issuer|provider):([A-Za-z0-9_.-]+)\}")


def expand_placeholders(value: Any, issuer_urls: dict[str, str]) -> Any:
    """Replace {issuer:NAME} and {provider:NAME} inside strings (keys and values).

    Unknown names are left untouched when ``issuer_urls`` is empty (grammar
    checks at load time), so the check sees a plausible document.
    """

    def sub(text: str) -> str:
        def repl(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2)
            url = issuer_urls.get(name)
            if url is None:
                url = f"http://issuer.invalid/{name}" if not issuer_urls else None
                if url is None:
                    raise ConfigError(f"placeholder {match.group(0)} names an unknown issuer '{name}'")
            return url if kind == "issuer" else re.sub(r"^https?://", "", url)

        return _PLACEHOLDER.sub(repl, text)

    if isinstance(value, str):
        return sub(value)
    if isinstance(value, list):
        return [expand_placeholders(v, issuer_urls) for v in value]
    if isinstance(value, dict):
        return {sub(k): expand_placeholders(v, issuer_urls) for k, v in value.items()}
    return value


def dump_json(config: Config) -> str:
    return json.dumps(config.model_dump(mode="json"), indent=2)
