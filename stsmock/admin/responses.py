"""The admin API's response models: documentation for ``/admin/openapi.json``, never validation.

They describe what the handlers return, so they carry no titles or defaults in the document (see
``openapi.py``) and allow extra fields where the body is open-ended (audit records, fault rules,
role descriptions). Routes name them (``responses={200: ("...", "AuditPage")}``); only the OpenAPI
document imports this module, so start-up does not create these classes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema

#: Any JSON object, documented as just ``{"type": "object"}``.
JsonObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]

# -- responses (no docstrings: a model's docstring becomes its description) ------------------------------


class _Doc(BaseModel):
    # Built on first use (the OpenAPI document), not at import: start-up does not pay for them.
    model_config = ConfigDict(defer_build=True)


class Error(_Doc):
    error: str
    error_description: str


class ClockState(_Doc):
    now: float = Field(description="virtual epoch seconds")
    frozen: bool
    offset_seconds: float


class Info(_Doc):
    base_url: str
    issuers: dict[str, str]
    profile: Literal["aws", "minio"]
    account_id: str
    clock: ClockState


class MintedToken(_Doc):
    token: str = Field(description="a signed JWT")
    issuer: str


class KeyMeta(_Doc):
    kid: str
    alg: str
    kty: str
    state: str = Field(description="e.g. active, next, retired, expired")
    published: bool
    created_at: float
    activated_at: float
    retired_at: float | None = None
    expires_at: float | None = None


class KeysByIssuer(RootModel[dict[str, list[KeyMeta]]]):
    """issuer name -> its keys (published and unpublished)"""

    model_config = ConfigDict(defer_build=True)


class AuditRecord(_Doc):
    model_config = ConfigDict(extra="allow")

    id: int
    ts: float
    event: str
    severity: str


class AuditPage(_Doc):
    records: list[AuditRecord]


class Revocation(_Doc):
    id: int
    created_at: float
    by: str
    value: str
    issued_before: float | None = Field(None, allow_inf_nan=False)
    reason: str | None = None
    source: str | None = None


class RevocationList(_Doc):
    revocations: list[Revocation]


class FaultRule(_Doc):
    model_config = ConfigDict(extra="allow")

    id: str
    seq: int = 0
    match: JsonObject
    effect: JsonObject
    count: int | None = None
    remaining: int | None = None
    probability: float | None = None
    description: str = ""


class FaultList(_Doc):
    faults: list[FaultRule]


class FaultsCleared(_Doc):
    removed: int


class BreakGlassState(_Doc):
    model_config = ConfigDict(extra="allow")

    role: str
    armed: bool
    uses: int = 0
    armed_until: float | None = None
    reason: str | None = None
    armed_by: str | None = None


class BreakGlassList(_Doc):
    roles: list[BreakGlassState]


class PolicyDecision(_Doc):
    model_config = ConfigDict(extra="allow")

    decision: str
    allowed: bool
    reason: str
    statements: list[JsonObject]


class Simulation(_Doc):
    role_arn: str
    action: str
    resource: str
    token: JsonObject = Field(description="verification outcome (valid/check/message) or synthetic")
    trust: PolicyDecision
    permissions: PolicyDecision | None = None
    session_policies: bool = False
    break_glass: JsonObject = Field(default_factory=dict)
    allowed: bool


class Role(_Doc):
    model_config = ConfigDict(extra="allow")

    arn: str
    role_id: str
    profile: str
    name: str
    path: str = ""
    trust_policy: JsonObject
    policies: JsonObject = Field(default_factory=dict)


class RoleList(_Doc):
    roles: list[Role]


class BindingIdentity(BaseModel):
    model_config = ConfigDict(defer_build=True)

    kind: Literal["minted", "token_file", "client_credentials"]
    issuer: str
    sub: str


class BindingCredentials(BaseModel):
    model_config = ConfigDict(defer_build=True)

    access_key_id: str
    expiration: str


class Binding(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str
    role_arn: str
    identity: BindingIdentity
    expires_at: float | None = None
    container: JsonObject = Field(description="{url, enabled}: the container credentials endpoint")
    imds: JsonObject | None = Field(default=None, description="{url, v1}: the binding's IMDS instance")
    files: JsonObject | None = None
    token_file: str | None = None
    credentials: BindingCredentials | None = None
    rotations: int
    served: int
    last_error: str | None = None
    container_token: str | None = Field(default=None, description="the container endpoint's Authorization value")


class BindingList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    container_url: str | None
    region: str
    bindings: list[Binding]


class AnyObject(RootModel[dict[str, Any]]):
    model_config = ConfigDict(defer_build=True)


#: Every response model, always in the document (undocumented routes answer AnyObject).
RESPONSES: tuple[type[BaseModel], ...] = (
    Error,
    ClockState,
    Info,
    MintedToken,
    KeyMeta,
    KeysByIssuer,
    AuditRecord,
    AuditPage,
    Revocation,
    RevocationList,
    FaultRule,
    FaultList,
    FaultsCleared,
    BreakGlassState,
    BreakGlassList,
    PolicyDecision,
    Simulation,
    Role,
    RoleList,
    Binding,
    BindingList,
    AnyObject,
)
