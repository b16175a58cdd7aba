"""Facts about an issuer for the rules: from a preset (the fact sheet) or from live documents.

:func:`from_documents` is pure: the caller fetched the discovery document and the JWKS.
"""

from __future__ import annotations

from typing import Any

from issuer.presets import PRESETS
from stsmock.idpcheck.rules import IdpFacts

#: Example issuer URL of each real IdP (for condition-key names in the output).
EXAMPLE_ISSUERS: dict[str, str] = {
    "keycloak": "https://kc.example.com/realms/demo",
    "authelia": "https://auth.example.com",
    "dex": "https://dex.example.com/dex",
    "kubernetes": "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
    "github-actions": "https://token.actions.githubusercontent.com",
    "gitlab": "https://gitlab.com",
    "entra": "https://login.microsoftonline.com/TENANT/v2.0",
    "google": "https://accounts.google.com",
}


def from_preset(name: str, issuer: str | None = None) -> IdpFacts:
    try:
        preset = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; one of: {', '.join(PRESETS)}") from None
    f = preset.facts
    return IdpFacts(
        name=name,
        issuer=issuer or EXAMPLE_ISSUERS[name],
        algorithm=str(preset.settings.get("signing_alg", "RS256")),
        jwks_x5c=f.jwks_x5c,
        jwks_several_keys=f.jwks_several_keys,
        signing_key_first=f.signing_key_first,
        access_token_jwt=f.access_token_jwt,
        access_token_aud=f.access_token_aud,
        aud_always_list=f.aud_always_list,
        public_https=f.public_https,
        rotates_keys=f.rotates_keys,
        policy_claim_setting=f.policy_claim_setting,
        x5c_setting=f.x5c_setting,
        aws_extra_condition_keys=f.aws_extra_condition_keys,
        notes=f.notes,
    )


def from_documents(issuer: str, discovery: dict[str, Any], jwks: dict[str, Any]) -> IdpFacts:
    """Facts of a live issuer; what the documents cannot tell (token types) becomes a note."""
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict)]
    signing = [k for k in keys if k.get("use", "sig") == "sig"]
    algs = discovery.get("id_token_signing_alg_values_supported") or []
    algorithm = str((signing[0].get("alg") if signing else None) or (algs[0] if algs else "RS256"))
    first_is_signing = bool(keys) and keys[0].get("use", "sig") == "sig"
    notes = ["facts read from the live discovery document and JWKS; token shapes were not inspected"]
    if discovery.get("issuer") != issuer:
        notes.append(f"discovery 'issuer' is {discovery.get('issuer')!r}, not the URL asked for")
    return IdpFacts(
        name=issuer,
        issuer=issuer,
        algorithm=algorithm,
        jwks_x5c=bool(signing) and all("x5c" in k for k in signing),
        jwks_several_keys=len(keys) > 1,
        signing_key_first=first_is_signing and len(signing) == 1,
        public_https=issuer.startswith("https://") and ":" not in issuer.split("://", 1)[1].split("/", 1)[0],
        notes=tuple(notes),
    )
