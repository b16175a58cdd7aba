"""IdP personas: ``preset: keycloak`` on an issuer makes it issue what that IdP issues.

Each module holds one persona (URL layout, key type, kid format, lifetimes, token types, claim
shapes); :data:`PRESETS` maps the config names to them. :func:`apply_defaults` merges a
preset's settings under an issuer's raw config, so every preset value can be overridden by
writing the same key on the issuer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from issuer.presets import authelia, dex, entra, github_actions, gitlab, google, keycloak, kubernetes
from issuer.presets.base import DEFAULT_ENDPOINTS, DISCOVERY_FIELDS, ENDPOINTS, Preset, RelyingPartyFacts, ShapeContext

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        keycloak.PRESET,
        authelia.PRESET,
        dex.PRESET,
        kubernetes.PRESET,
        github_actions.PRESET,
        gitlab.PRESET,
        entra.PRESET,
        google.PRESET,
    )
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
#: The generic persona (stsmock's own shapes), for code that always calls a preset.
STSMOCK = Preset(
    name="stsmock",
    title="stsmock (no preset)",
    settings={},
    facts=RelyingPartyFacts(jwks_x5c=True, jwks_several_keys=False, access_token_jwt=True, public_https=False),
)

#: Settings whose value is a mapping merged key by key (issuer keys win).
_MERGED = ("endpoints", "preset_params")


def get(name: str | None) -> Preset:
    if name is None:
        return STSMOCK
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; one of: {', '.join(PRESET_NAMES)}") from None


def apply_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """Raw issuer config with the preset's defaults filled in where the issuer says nothing."""
    out = dict(data)
    name = out.get("preset")
    if not isinstance(name, str):
        return out
    preset = get(name)
    defaults = {**preset.settings, "preset_params": dict(preset.params)}
    for key, value in defaults.items():
        if key in _MERGED:
            given = out.get(key)
            out[key] = {**value, **(given if isinstance(given, Mapping) else {})}
        else:
            out.setdefault(key, value)
    return out


__all__ = [
    "DEFAULT_ENDPOINTS",
    "DISCOVERY_FIELDS",
    "ENDPOINTS",
    "PRESETS",
    "PRESET_NAMES",
    "STSMOCK",
    "Preset",
    "RelyingPartyFacts",
    "ShapeContext",
    "apply_defaults",
    "get",
]
