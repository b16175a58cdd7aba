"""Text, JSON and the Markdown table (docs/identity-providers.md) of ``stsmock check`` verdicts."""

from __future__ import annotations

import json
from dataclasses import asdict

from issuer.presets import PRESET_NAMES, PRESETS
from stsmock.idpcheck.facts import from_preset
from stsmock.idpcheck.rules import PROFILES, Verdict, check

STATUS_WORDS = {"works": "works", "works-with-setting": "works with a setting", "cannot": "cannot"}
PROFILE_TITLES = {"aws": "AWS STS", "minio": "MinIO", "ceph-rgw": "Ceph RGW 16.2", "seaweedfs": "SeaweedFS 4.48"}
#: Cells that a test also runs against the real servers (not only against the preset).
TESTED_WITH_REAL_SERVERS: dict[tuple[str, str], str] = {
    ("keycloak", "seaweedfs"): "real Keycloak 26.4.7 and preset → real SeaweedFS 4.48",
    ("keycloak", "ceph-rgw"): "real Keycloak 26.4.7 and preset → real Ceph RGW 16.2.15",
    **{(p, "seaweedfs"): "preset → real SeaweedFS 4.48" for p in PRESET_NAMES if p != "keycloak"},
    **{
        (p, "ceph-rgw"): "preset → real Ceph RGW 16.2.15"
        for p in PRESET_NAMES
        if p not in ("keycloak", "github-actions", "entra")
    },
}


def text(verdict: Verdict) -> str:
    lines = [f"{verdict.idp} -> {verdict.profile}: {STATUS_WORDS[verdict.status]}"]
    lines += [f"  cannot: {r}" for r in verdict.reasons]
    lines += [f"  set: {s}" for s in verdict.settings]
    if verdict.condition_keys:
        lines.append("  condition keys: " + ", ".join(verdict.condition_keys))
    lines += [f"  note: {n}" for n in verdict.notes]
    return "\n".join(lines)


def as_json(verdicts: list[Verdict]) -> str:
    return json.dumps([asdict(v) for v in verdicts], indent=2)


def matrix() -> dict[tuple[str, str], Verdict]:
    return {(p, r): check(from_preset(p), r) for p in PRESET_NAMES for r in PROFILES}


def _cell(verdict: Verdict) -> str:
    word = STATUS_WORDS[verdict.status]
    if verdict.status == "cannot":
        detail = verdict.reasons[0]
    elif verdict.status == "works-with-setting":
        detail = verdict.settings[0]
    else:
        detail = ""
    tested = TESTED_WITH_REAL_SERVERS.get((verdict.idp, verdict.profile))
    out = f"**{word}**" + (f": {detail}" if detail else "")
    return out + (f" *(tested: {tested})*" if tested else "")


def markdown_table() -> str:
    """One row per preset, one column per relying party; the first setting or reason in each cell."""
    cells = matrix()
    head = "| IdP | " + " | ".join(PROFILE_TITLES[r] for r in PROFILES) + " |"
    rule = "|---" * (len(PROFILES) + 1) + "|"
    rows = [
        f"| {PRESETS[p].title} (`{p}`) | " + " | ".join(_cell(cells[(p, r)]) for r in PROFILES) + " |"
        for p in PRESET_NAMES
    ]
    return "\n".join([head, rule, *rows])
