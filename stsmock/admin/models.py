"""The admin API's request and response models; the OpenAPI document is generated from them.

Request bodies are validated with these models (a bad body is a 400 naming the field, never a
500). The fault rule body lives with the fault engine (it validates rules from the pytest plugin
too) and the simulation body with the simulator; both are listed here for the document.
Response models describe what the handlers return; they are documentation, so they carry no
titles or defaults in the document (see ``openapi.py``) and allow extra fields where the body
is open-ended (audit records, fault rules, role descriptions).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema

from ..delivery.settings import CreateBindingBody as CreateBindingBody
from ..faults import FaultBody as FaultBody
from ..simulate import SimulateBody as SimulateBody

#: Any JSON object, documented as just ``{"type": "object"}``.
JsonObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]

# -- request bodies ---------------------------------------------------------------------------------


class _Body(BaseModel):
    # defer_build: every admin model's validator is built on its first use, not at import (start-up time)
    model_config = ConfigDict(extra="forbid", defer_build=True)


class RawObject(BaseModel):
    """Any JSON object; validated further by the handler (e.g. a role's settings)."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class MintTokenBody(_Body):
    issuer: str = "default"
    sub: str | None = None
    aud: str | list[str] | None = None
    claims: dict[str, Any] = Field(default_factory=dict)
    ttl: int | None = Field(default=None, ge=1, le=31_536_000)
    alg: str | None = None
    client_id: str | None = None
    typ: str = "JWT"


class RotateBody(_Body):
    issuer: str = "default"
    alg: str | None = None


class RetireBody(_Body):
    issuer: str = "default"
    immediately: bool = False


class RevokeBody(_Body):
    by: Literal["jti", "sub", "client_id", "iss", "role_arn", "session", "access_key"]
    value: str = Field(min_length=1, max_length=4096)
    reason: str = Field(default="", max_length=1024)
    issued_before: float | None = Field(None, allow_inf_nan=False)


class ClockBody(_Body):
    action: Literal["freeze", "unfreeze", "advance", "set", "reset"]
    #: finite, and the clock must stay within 1970..9999 (checked by the clock)
    seconds: float | None = Field(None, allow_inf_nan=False)
    at: float | None = Field(None, allow_inf_nan=False)


class ArmBody(_Body):
    reason: str = Field(min_length=1, max_length=1024, pattern=r"\S")
    ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    armed_by: str = Field(default="admin-api", min_length=1, max_length=256)


class DisarmBody(_Body):
    reason: str = Field(default="", max_length=1024)


# -- query parameters (every one optional; the defaults are not in the document) ----------------------
# They describe the parameters; the handlers parse leniently (an out-of-range id is clamped, not a 400).


class KeysQuery(BaseModel):
    model_config = ConfigDict(defer_build=True)

    issuer: str = Field("", description="only this issuer")


class AuditQuery(BaseModel):
    model_config = ConfigDict(defer_build=True)

    subject: str = Field("", description="token subject")
    sub: str = Field("", description="alias of subject")
    role: str = Field("", description="role ARN")
    decision: Literal["allow", "deny"] = Field("allow", description="STS decision")
    event: str = Field("", description="event name or prefix (e.g. sts)")
    since: float = Field(0, description="epoch seconds (inclusive)")
    until: float = Field(0, description="epoch seconds")
    after_id: int = Field(0, ge=0, description="records with a larger id")
    limit: int = Field(100, ge=1, le=10_000, description="max records (default 100)")
    order: Literal["oldest", "newest"] = Field("oldest", description="oldest first (default) or the newest first")


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
    AnyObject,
)

#: Shared response entries.
BAD_REQUEST = ("invalid request (body, parameter or value)", Error)
NOT_FOUND = ("no such issuer / object", Error)
CONFLICT = ("exists already, or a limit is reached", Error)
DAMAGED = ("a stored record is damaged (named in the message); nothing was changed or generated", Error)
