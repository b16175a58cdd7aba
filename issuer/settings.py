"""Typed, validated configuration of one issuer (clients, users, keys, TTLs).

Pydantic models with ``extra="forbid"`` so an unknown key fails at start with
its path, e.g. ``issuers[0].clients[1].grant_types[0]``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

SigningAlg = Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
SIGNING_ALGS: tuple[str, ...] = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_PASSWORD = "password"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
ALL_GRANTS: tuple[str, ...] = (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
    GRANT_DEVICE_CODE,
)

_GRANT_SHORT_NAMES = {"device_code": GRANT_DEVICE_CODE, "token_exchange": GRANT_TOKEN_EXCHANGE}


def _expand_grants(value: Any) -> Any:
    """Accept "all" and short names; keep order, drop duplicates."""
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for grant in value:
        names = (
            list(ALL_GRANTS)
            if grant == "all"
            else [_GRANT_SHORT_NAMES.get(grant, grant) if isinstance(grant, str) else grant]
        )
        out.extend(n for n in names if n not in out)
    return out


def _known_grant(grant: str) -> str:
    if grant not in ALL_GRANTS:
        raise ValueError(f"unknown grant '{grant}'")
    return grant


GrantType = Annotated[str, AfterValidator(_known_grant)]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class Strict(BaseModel):
    # defer_build: a validator per model is built on first use; the config validates through one (start-up)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class ClientSettings(Strict):
    """An OAuth client. ``client_secret: null`` makes a public client (PKCE required)."""

    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str | None = None
    grant_types: Annotated[list[GrantType], BeforeValidator(_expand_grants)] = Field(
        default_factory=lambda: list(ALL_GRANTS)
    )
    redirect_uris: list[str] = Field(default_factory=list)
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    #: Default audience of access and ID tokens; a string or a list. None means client_id.
    audience: str | list[str] | None = None
    #: Overrides the issuer's signing algorithm for this client's tokens.
    signing_alg: SigningAlg | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email", "offline_access"])
    #: Static claims added to every token of this client.
    claims: dict[str, Any] = Field(default_factory=dict)
    #: Claim templates filled from the request, e.g. {"tenant": "{form.tenant}"}.
    claim_templates: dict[str, str] = Field(default_factory=dict)
    require_pkce: bool | None = None
    access_token_ttl: int | None = Field(default=None, ge=1, le=31_536_000)

    @property
    def is_public(self) -> bool:
        return self.client_secret is None


class UserSettings(Strict):
    username: str = Field(min_length=1, max_length=255)
    password: str
    #: ``sub`` claim; defaults to the username.
    subject: str | None = None
    claims: dict[str, Any] = Field(default_factory=dict)

    @property
    def sub(self) -> str:
        return self.subject or self.username


class KeySettings(Strict):
    #: Seconds a retired key stays published in the JWKS.
    retire_grace_seconds: int = Field(default=86_400, ge=0)
    #: Seconds a freshly generated key is published before it starts signing.
    publish_ahead_seconds: int = Field(default=0, ge=0)


AccessTokenFormat = Literal["jwt", "opaque"]


class IssuerSettings(Strict):
    """One OIDC issuer. ``name: default`` is served at the base URL, others at /issuers/{name}.

    ``preset: NAME`` (see :mod:`issuer.presets`) fills in an IdP persona's values for every key
    the issuer leaves out, so each preset value can be overridden by writing it here.
    """

    name: str = "default"
    #: IdP persona: keycloak, authelia, dex, kubernetes, github-actions, gitlab, entra, google.
    preset: str | None = None
    #: Persona parameters (realm, namespace, repository, tenant ...), merged over the preset's.
    preset_params: dict[str, Any] = Field(default_factory=dict)
    #: Path of the issuer's mount under the base URL, with {name} and preset_params placeholders
    #: (Keycloak: "/realms/{realm}"). None: "" for the default issuer, "/issuers/{name}" otherwise.
    issuer_path: str | None = None
    #: Appended to the mount to form ``iss`` (Entra: "/v2.0"); endpoints stay under the mount.
    issuer_suffix: str = ""
    #: Endpoint paths under the mount, e.g. {"jwks": "/protocol/openid-connect/certs"}.
    endpoints: dict[str, str] = Field(default_factory=dict)
    #: Key id format: thumbprint (RFC 7638), spki-sha256, hex40, uuid, x5t, authelia.
    kid_format: Literal["thumbprint", "spki-sha256", "hex40", "uuid", "x5t", "authelia"] = "thumbprint"
    #: Publish x5c/x5t with every JWKS key (Ceph RGW needs x5c).
    jwks_x5c: bool = True
    #: Put the signing certificate's x5t in token headers (GitHub Actions).
    header_x5t: bool = False
    #: "opaque" access tokens (Authelia, Google) are random strings known only to this issuer.
    access_token_format: AccessTokenFormat = "jwt"
    opaque_token_prefix: str = Field(default="", max_length=32)
    #: JOSE header ``typ`` of access and ID tokens (None: no typ header, as Dex).
    access_token_typ: str | None = "at+jwt"
    id_token_typ: str | None = "JWT"
    signing_alg: SigningAlg = "RS256"
    #: Extra algorithms this issuer keeps keys for (clients may select them).
    algorithms: list[SigningAlg] = Field(default_factory=lambda: list[SigningAlg](["RS256"]))
    access_token_ttl: int = Field(default=3600, ge=1, le=31_536_000)
    id_token_ttl: int = Field(default=3600, ge=1, le=31_536_000)
    refresh_token_ttl: int = Field(default=86_400, ge=1)
    authorization_code_ttl: int = Field(default=60, ge=1, le=3600)
    device_code_ttl: int = Field(default=600, ge=1, le=86_400)
    device_poll_interval: int = Field(default=5, ge=0, le=60)
    require_pkce: bool = False
    #: Name the failed check in OAuth error descriptions (it is always in the audit record).
    debug: bool = False
    #: Audience ``aud`` emitted as a list even when it has one entry.
    audience_as_list: bool = False
    #: Issuers whose tokens are accepted as RFC 8693 subject_token (besides this one).
    trusted_subject_issuers: list[str] = Field(default_factory=list)
    keys: KeySettings = Field(default_factory=KeySettings)
    clients: list[ClientSettings] = Field(default_factory=list)
    users: list[UserSettings] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") is not None:
            from issuer import presets  # the personas import nothing from here

            if data["preset"] not in presets.PRESETS:
                raise ValueError(f"unknown preset {data['preset']!r}; one of: {', '.join(presets.PRESET_NAMES)}")
            return presets.apply_defaults(data)
        return data

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError("issuer name must match [A-Za-z0-9][A-Za-z0-9_.-]*")
        return value

    @field_validator("endpoints")
    @classmethod
    def _known_endpoints(cls, value: dict[str, str]) -> dict[str, str]:
        from issuer.presets.base import ENDPOINTS

        for name, path in value.items():
            if name not in ENDPOINTS:
                raise ValueError(f"unknown endpoint {name!r}; one of: {', '.join(ENDPOINTS)}")
            if not path.startswith("/"):
                raise ValueError(f"endpoint {name!r}: path must start with '/'")
        return value

    # -- URL layout -----------------------------------------------------------------------
    @property
    def mount_path(self) -> str:
        """Path under the base URL where this issuer's endpoints live ("" for the default issuer)."""
        if self.issuer_path is None:
            return "" if self.name == "default" else f"/issuers/{self.name}"
        try:
            return self.issuer_path.format(**self.resolved_params).rstrip("/")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"issuer_path {self.issuer_path!r}: no value for {exc}") from None

    @property
    def resolved_params(self) -> dict[str, Any]:
        """``preset_params`` with the name-derived defaults (realm, tenant) filled in."""
        values = {k: v for k, v in self.preset_params.items() if v is not None}
        values.setdefault("realm", self.name)
        values.setdefault("tenant", _tenant_default(self.name))
        values["name"] = self.name
        return values

    @property
    def url_path(self) -> str:
        """Path of the issuer URL (``iss``) under the base URL."""
        return self.mount_path + self.issuer_suffix.rstrip("/")

    def endpoint_path(self, endpoint: str) -> str:
        """Path of ``endpoint`` relative to the mount."""
        from issuer.presets.base import DEFAULT_ENDPOINTS

        return self.endpoints.get(endpoint) or DEFAULT_ENDPOINTS[endpoint]

    @model_validator(mode="after")
    def _consistent(self) -> IssuerSettings:
        _ = self.mount_path  # a bad issuer_path template fails at load, with its path
        if self.signing_alg not in self.algorithms:
            self.algorithms = [self.signing_alg, *self.algorithms]
        for client in self.clients:
            if client.signing_alg and client.signing_alg not in self.algorithms:
                self.algorithms = [*self.algorithms, client.signing_alg]
        ids = [c.client_id for c in self.clients]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate client_id {dupes[0]!r}")
        names = [u.username for u in self.users]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate username {dupes[0]!r}")
        return self

    def client(self, client_id: str) -> ClientSettings | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    def user(self, username: str) -> UserSettings | None:
        return next((u for u in self.users if u.username == username), None)


def _tenant_default(name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stsmock:entra-tenant:{name}"))
