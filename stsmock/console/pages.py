"""The data behind each console page: plain values for the templates, computed from collaborators.

Nothing here renders HTML; the templates do, autoescaped. The decoder runs the STS's own token
steps (``stsproxy.steps.token_verdict``: every verification check, then ``revoked``) and the
simulator the STS's decision steps (through ``stsmock.simulate``), so what the console shows is
what the STS would do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from issuer.service import IssuerService
from stsproxy import steps
from stsproxy.roles import Role
from stsproxy.service import StsService

from ..audit import AuditLog
from ..clock import VirtualClock

AUDIT_PAGE_SIZE = 200

TIME_CLAIMS = ("iat", "nbf", "exp", "auth_time")
DECISIONS = (("", "any decision"), ("allow", "allow"), ("deny", "deny"))


# -- overview ---------------------------------------------------------------------------------------


def overview(*, clock: VirtualClock, issuers: Mapping[str, IssuerService], roles: list[Role]) -> dict[str, Any]:
    state = clock.state()
    return {
        "clock": state,
        "offset": round(state["offset_seconds"]),
        "now": clock.now(),
        "issuers": [
            {"name": name, "service": service, "settings": service.settings, "keys": service.keys.list()}
            for name, service in issuers.items()
        ],
        "roles": roles,
    }


def audience_text(audience: str | list[str] | None) -> str:
    if audience is None:
        return ""
    return audience if isinstance(audience, str) else ", ".join(audience)


# -- audit timeline ---------------------------------------------------------------------------------


def audit_page(audit: AuditLog, clock: VirtualClock, query: Mapping[str, str]) -> dict[str, Any]:
    """The most recent matching records, newest first (one indexed query)."""
    filters = {
        name: value
        for name, value in ((n, query.get(n, "").strip()) for n in ("event", "decision", "subject"))
        if value
    }
    records = audit.query(limit=AUDIT_PAGE_SIZE, newest_first=True, **filters)
    rows = []
    for r in records:
        decision = r.get("decision")
        outcome = r.get("allowed")
        if decision is None and isinstance(outcome, bool):
            decision = "allow" if outcome else "deny"
        rows.append(
            {
                "ts": r.get("ts") or 0,
                "event": r.get("event"),
                "action": r.get("action"),
                "decision": decision,
                "check": r.get("check"),
                "subject": r.get("sub") or r.get("subject") or "",
                "role": r.get("role_arn") or r.get("role") or "",
                "detail": str(r.get("message") or r.get("reason") or r.get("grant") or "")[:200],
            }
        )
    return {"filters": filters, "rows": rows, "now": clock.now(), "page_size": AUDIT_PAGE_SIZE, "decisions": DECISIONS}


# -- JWT decoder ------------------------------------------------------------------------------------


@dataclass
class Segment:
    label: str
    value: Any = None
    error: str = ""


def decode_segment(segment: str) -> Any:
    """Bounded like every other JWT parser (a 1000-deep header used to be a 500 here)."""
    from boundedjson import loads_bounded

    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return loads_bounded(raw, max_bytes=64 * 1024, what="the segment")


def segments(token: str) -> tuple[list[Segment], dict[str, Any]]:
    """The decoded header and claims (whatever decodes), and the claims as a dict."""
    parts = token.split(".")
    out: list[Segment] = []
    claims: dict[str, Any] = {}
    for label, index in (("Header", 0), ("Claims", 1)):
        try:
            value = decode_segment(parts[index]) if len(parts) > index else None
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            limit = getattr(exc, "limit", "syntax")
            out.append(Segment(label, error="not base64url-encoded JSON" if limit == "syntax" else str(exc)))
            continue
        if label == "Claims" and isinstance(value, dict):
            claims = value
        out.append(Segment(label, value=value, error="" if value is not None else "missing"))
    return out, claims


async def decode(token: str, *, sts: StsService, clock: VirtualClock) -> dict[str, Any] | None:
    token = token.strip()
    if not token:
        return None
    decoded, claims = segments(token)
    return {
        "segments": decoded,
        "times": [(name, claims[name]) for name in TIME_CLAIMS if name in claims],
        "now": clock.now(),
        "verdict": await steps.token_verdict(sts.plane.verifier, sts.plane.revocations, token),
    }


# -- simulator --------------------------------------------------------------------------------------

Simulate = Callable[[Any], Awaitable[dict[str, Any]]]


async def simulate(form: Mapping[str, Any], run: Simulate) -> dict[str, Any]:
    """The simulator's result for the form: ``error`` (bad input) or the decision to show."""
    from pydantic import ValidationError

    from ..config import format_validation_error
    from ..simulate import SimulateBody, SimulationError

    action = str(form.get("action", "")).strip()
    resource = str(form.get("resource", "")).strip() or "*"
    try:
        body = SimulateBody(
            role_arn=str(form.get("role_arn", "")),
            token=str(form.get("token", "")).strip() or None,
            action=action or "sts:AssumeRoleWithWebIdentity",
            resource=resource,
            session_name=str(form.get("session_name", "")).strip() or "simulation",
        )
        result = await run(body)
    except ValidationError as exc:
        return {"error": f"Invalid input: {format_validation_error(exc)}"}
    except SimulationError as exc:
        return {"error": str(exc)}
    token = result.get("token") or {}
    trust = result.get("trust") or {}
    assume_ok = bool(token.get("valid", True)) and bool(trust.get("allowed"))
    permissions = result.get("permissions") if action else None
    allowed = assume_ok and (permissions is None or bool(permissions.get("allowed")))
    return {
        "error": "",
        "allowed": allowed,
        "what": f"AssumeRoleWithWebIdentity{' + ' + action + ' on ' + resource if action else ''}",
        "token": token,
        "decisions": [("Trust policy", trust)]
        + ([(f"Permissions: {action} on {resource}", permissions)] if permissions is not None else []),
        "break_glass": result.get("break_glass"),
    }
