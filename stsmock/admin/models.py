"""The admin API's request models and query parameters; the OpenAPI document is generated from them.

Request bodies are validated with these models (a bad body is a 400 naming the field, never a
500). The fault rule body lives with the fault engine (it validates rules from the pytest plugin
too) and the simulation body with the simulator; both are listed here for the document.
The response models are documentation only: they live in ``responses.py``, which the OpenAPI
document imports, and routes name them (start-up does not create their classes).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..delivery.settings import CreateBindingBody as CreateBindingBody
from ..faults import FaultBody as FaultBody
from ..simulate import SimulateBody as SimulateBody

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


#: Shared response entries (the response model by its name in ``responses.py``).
BAD_REQUEST = ("invalid request (body, parameter or value)", "Error")
NOT_FOUND = ("no such issuer / object", "Error")
CONFLICT = ("exists already, or a limit is reached", "Error")
DAMAGED = ("a stored record is damaged (named in the message); nothing was changed or generated", "Error")
