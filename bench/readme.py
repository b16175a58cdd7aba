"""Regenerate the README's performance section from bench/results/latest.json.

`bench/run.py` calls this after every run, so the README never shows figures the harness did not
produce. Run it by hand with `.venv/bin/python bench/readme.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

FLOOR = "aiohttp floor"
#: AssumeRoleWithWebIdentity at c=16, relative to the bare aiohttp floor and to moto, measured in the same run.
ARWWI_FLOOR_SHARE, ARWWI_VS_MOTO, ARWWI_P99_MS = 0.10, 6.0, 15.0
#: Startup to ready, relative to the floor's (same interpreter, same aiohttp).
STARTUP_VS_FLOOR = 1.5
TARGETS = [
    # (scenario, server, concurrency, what, target req/s, target p99 ms)
    ("token-alg", "stsmock-ES256", 16, "Token endpoint, client_credentials, ES256", 2500, None),
    ("token-alg", "stsmock-RS256", 16, "Token endpoint, client_credentials, RS256", 850, None),
    ("jwks", "stsmock", 16, "JWKS", 8000, None),
]
PEERS = [
    ("sts-arwwi", "stsmock", "moto"),
    ("sts-arwwi", "stsmock", FLOOR),
    ("token", "stsmock-RS256", "oauth2-mock-server"),
    ("jwks", "stsmock", "oauth2-mock-server"),
]


def _cell(res: dict[str, Any], scenario: str, server: str, c: int) -> dict[str, Any] | None:
    cells = res["scenarios"].get(scenario, {}).get("cells", [])
    return next((x for x in cells if x["server"] == server and x["concurrency"] == c), None)


def section(res: dict[str, Any]) -> str:
    meta = res["meta"]
    out = [
        f"Latest run: {meta.get('finished', '?')}, {meta.get('mode')} mode, load generator "
        f"{meta.get('load_generator', 'python aiohttp client')}, pinned: {meta.get('pinned')}, "
        f"{meta.get('cpus')} CPUs, load average at start {meta.get('loadavg_start')}. "
        "Full tables: [bench/results/latest.md](bench/results/latest.md).",
        "",
        "| target | measured (c=16) | goal | met |",
        "|---|---|---|---|",
    ]
    arwwi, floor, moto = (_cell(res, "sts-arwwi", name, 16) for name in ("stsmock", FLOOR, "moto"))
    if arwwi and floor and moto and floor["rps"] and moto["rps"]:
        share, vs_moto = arwwi["rps"] / floor["rps"], arwwi["rps"] / moto["rps"]
        ok = share >= ARWWI_FLOOR_SHARE and vs_moto >= ARWWI_VS_MOTO and arwwi["p99_ms"] <= ARWWI_P99_MS
        cpu = ""
        if all(x["server_cpu_pct"] for x in (arwwi, floor, moto)):
            per = {k: x["rps"] / x["server_cpu_pct"] for k, x in (("a", arwwi), ("f", floor), ("m", moto))}
            cpu = f" (per server CPU-second: {per['a'] / per['f']:.3f} of the floor, {per['a'] / per['m']:.2f}× moto)"
        out.append(
            f"| AssumeRoleWithWebIdentity (mint, RS256 tokens) | {arwwi['rps']:,.0f}/s = {share:.3f} of the floor "
            f"({floor['rps']:,.0f}/s), {vs_moto:.2f}× moto ({moto['rps']:,.0f}/s), p99 {arwwi['p99_ms']:.1f} ms{cpu} "
            f"| ≥ {ARWWI_FLOOR_SHARE:g} of the floor, ≥ {ARWWI_VS_MOTO:g}× moto, p99 ≤ {ARWWI_P99_MS:g} ms "
            f"| {'yes' if ok else 'no'} |"
        )
    for scenario, server, c, what, goal_rps, goal_p99 in TARGETS:
        cell = _cell(res, scenario, server, c)
        if cell is None:
            continue
        ok = cell["rps"] >= goal_rps and (goal_p99 is None or cell["p99_ms"] <= goal_p99)
        goal = f"≥ {goal_rps:,}/s" + (f", p99 ≤ {goal_p99:g} ms" if goal_p99 else "")
        out.append(f"| {what} | {cell['rps']:,.0f}/s, p99 {cell['p99_ms']:.1f} ms | {goal} | {'yes' if ok else 'no'} |")
    startup = res.get("startup_ms", {})
    warm, bare = startup.get("stsmock (warm data dir)"), startup.get(FLOOR)
    if warm and bare:
        median, floor_ms = statistics.median(warm), statistics.median(bare)
        ratio = median / floor_ms
        out.append(
            f"| `stsmock serve` ready (median of {len(warm)}) | {median:.0f} ms = {ratio:.2f}× the floor's "
            f"{floor_ms:.0f} ms | ≤ {STARTUP_VS_FLOOR:g}× the floor's | {'yes' if ratio <= STARTUP_VS_FLOOR else 'no'} |"
        )
    one, two = _cell(res, "workers", "stsmock", 16), _cell(res, "workers", "stsmock --workers 2", 16)
    if one and two and one["rps"]:
        ratio = two["rps"] / one["rps"]
        out.append(
            f"| `--workers 2` speed-up, AssumeRoleWithWebIdentity | {ratio:.2f}× ({two['rps']:,.0f}/s) "
            f"| ≥ 1.7× | {'yes' if ratio >= 1.7 else 'no'} |"
        )
    flat, scaled = _cell(res, "scale", "stsmock", 16), _cell(res, "scale", "stsmock, 10k roles + 100 issuers", 16)
    if flat and scaled and flat["rps"]:
        ratio = scaled["rps"] / flat["rps"]
        out.append(
            f"| 10,000 roles + 100 trusted issuers vs default config | {ratio:.2f}× the req/s "
            f"| flat (≈ 1×) | {'yes' if ratio >= 0.9 else 'no'} |"
        )
    fixture = res.get("fixture_ms")
    if fixture:
        median = statistics.median(fixture)
        out.append(
            f"| pytest fixture `stsmock_server`, per test | {median:.1f} ms | ≤ 50 ms | {'yes' if median <= 50 else 'no'} |"
        )
    rss = res.get("rss_mb", {}).get("stsmock")
    if rss:
        out.append(f"| idle RSS | {rss['idle']:.1f} MB | ≤ 60 MB | {'yes' if rss['idle'] <= 60 else 'no'} |")
    out += ["", "Side by side with the peers (req/s ratio stsmock ÷ peer at c = 1 / 16 / 64):", ""]
    for scenario, ours, peer in PEERS:
        ratios = []
        for c in (1, 16, 64):
            a, b = _cell(res, scenario, ours, c), _cell(res, scenario, peer, c)
            if a and b and b["rps"]:
                ratios.append(f"{a['rps'] / b['rps']:.2f}×")
        if ratios:
            title = res["scenarios"][scenario]["title"]
            out.append(f"- {title}: stsmock vs {peer}: {' / '.join(ratios)}")
    if startup:
        parts = [f"{name} {statistics.median(values):.0f} ms" for name, values in startup.items() if values]
        out += ["", "Startup to ready, median: " + "; ".join(parts) + "."]
    out += ["", "Why the misses, from profiles: see [docs/performance.md](docs/performance.md)."]
    return "\n".join(out)


def update(readme: Path, res: dict[str, Any]) -> bool:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{section(res)}\n{END}{tail}", encoding="utf-8")
    return True


def main() -> int:
    res = json.loads((ROOT / "bench" / "results" / "latest.json").read_text(encoding="utf-8"))
    if not update(ROOT / "README.md", res):
        print("README.md has no bench markers", file=sys.stderr)
        return 1
    print("README.md performance section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
