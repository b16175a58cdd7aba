"""Claim building: protocol claims, audiences, user/client claims and templates.

Protocol claims (iss, sub, aud, exp, ...) are set last so configured or
user-supplied claims can never forge them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from issuer.errors import invalid_request
from issuer.settings import ClientSettings

PROTOCOL_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "azp",
        "client_id",
        "scope",
        "auth_time",
        "nonce",
        "act",
        "may_act",
        "at_hash",
        "c_hash",
        "typ",
        "sid",
        "cnf",
    }
)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\.([A-Za-z0-9_.:-]+)\}")


def audience_value(audiences: list[str], *, as_list: bool) -> str | list[str]:
    """``aud`` as a string unless several values or ``audience_as_list``."""
    unique = list(dict.fromkeys(audiences))
    return unique if (as_list or len(unique) != 1) else unique[0]


def client_audience(client: ClientSettings) -> list[str]:
    aud = client.audience
    if aud is None:
        return [client.client_id]
    return [aud] if isinstance(aud, str) else list(aud)


def render_templates(
    templates: Mapping[str, str], *, form: Mapping[str, str], user: Mapping[str, Any], client: ClientSettings
) -> dict[str, Any]:
    """Fill ``{form.X}``, ``{user.X}``, ``{client.X}``; a whole-value placeholder keeps its type.

    Unknown namespaces or missing values raise ``invalid_request``: a silently
    empty tenant claim is worse than a clear error.
    """
    sources: dict[str, Mapping[str, Any]] = {
        "form": form,
        "user": user,
        "client": {"client_id": client.client_id, **client.claims},
    }

    def lookup(ns: str, name: str) -> Any:
        source = sources.get(ns)
        if source is None:
            raise invalid_request(f"claim template: unknown namespace '{ns}'", check="claim_templates")
        if name not in source or source[name] is None:
            raise invalid_request(f"claim template: no value for '{ns}.{name}'", check="claim_templates")
        return source[name]

    out: dict[str, Any] = {}
    for claim, template in templates.items():
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            out[claim] = lookup(whole.group(1), whole.group(2))
            continue
        if "{" in _PLACEHOLDER.sub("", template):
            raise invalid_request(f"claim template for '{claim}' is malformed", check="claim_templates")
        out[claim] = _PLACEHOLDER.sub(lambda m: str(lookup(m.group(1), m.group(2))), template)
    return out


def extra_claims(
    *, client: ClientSettings, user_claims: Mapping[str, Any], form: Mapping[str, str], user_view: Mapping[str, Any]
) -> dict[str, Any]:
    """User claims, then client static claims, then templates; protocol claims filtered out."""
    merged: dict[str, Any] = {}
    merged.update(user_claims)
    merged.update(client.claims)
    merged.update(render_templates(client.claim_templates, form=form, user=user_view, client=client))
    return {k: v for k, v in merged.items() if k not in PROTOCOL_CLAIMS}
