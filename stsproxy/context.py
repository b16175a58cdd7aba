"""Condition-key context for trust and permission evaluation (pure).

Builds the keys AWS exposes to a web-identity trust policy
(``<provider>:aud``, ``:sub``, ``:amr``, ``:azp`` and the other claims),
MinIO's ``jwt:<claim>`` keys, session tags and the ``sts:``/``aws:`` keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
_RESERVED = {"exp", "iat", "nbf", "jti", TAGS_CLAIM, SOURCE_IDENTITY_CLAIM}


def _claim_value(value: Any) -> Any:
    """Strings stay strings; lists of scalars become multivalued keys; the rest is skipped."""
    if type(value) is str:  # most claims: skip the union isinstance
        return value
    if isinstance(value, str | bool | int | float):
        return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [str(v) for v in value]
    return None


def claim_keys(provider_id: str, claims: Mapping[str, Any]) -> dict[str, Any]:
    """``<provider>:<claim>`` and ``jwt:<claim>`` keys for every usable claim."""
    out: dict[str, Any] = {}
    for name, raw in claims.items():
        if name in _RESERVED:
            continue
        value = _claim_value(raw)
        if value is None:
            continue
        out[f"{provider_id}:{name}"] = value
        out[f"jwt:{name}"] = value
    # IAM's :aud is the azp when present for some providers; keep aud, and expose oaud for clarity.
    if "aud" in claims:
        out[f"{provider_id}:oaud"] = _claim_value(claims["aud"])
    return out


def session_tags(claims: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Principal tags and transitive keys from the ``https://aws.amazon.com/tags`` claim.

    Raises ValueError with a message for a claim of the wrong shape.
    """
    raw = claims.get(TAGS_CLAIM)
    if raw is None:
        return {}, ()
    if not isinstance(raw, Mapping):
        raise ValueError(f"claim {TAGS_CLAIM} must be an object")
    principal = raw.get("principal_tags", {})
    if not isinstance(principal, Mapping):
        raise ValueError("principal_tags must be an object of single-element string arrays")
    tags: dict[str, str] = {}
    for key, value in principal.items():
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
            tags[str(key)] = value[0]
        elif isinstance(value, str):
            tags[str(key)] = value
        else:
            raise ValueError(
                f"principal tag {key!r} must be a single-element string array (multi-valued tags are not supported)"
            )
    transitive = raw.get("transitive_tag_keys", [])
    if not isinstance(transitive, list) or not all(isinstance(k, str) for k in transitive):
        raise ValueError("transitive_tag_keys must be an array of strings")
    return tags, tuple(transitive)


def tag_keys_context(tags: Mapping[str, str], transitive: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        out["aws:TagKeys"] = list(tags)
    if transitive:
        out["sts:TransitiveTagKeys"] = list(transitive)
    return out


def principal_tag_context(tags: Mapping[str, str]) -> dict[str, Any]:
    return {f"aws:PrincipalTag/{k}": v for k, v in tags.items()}
