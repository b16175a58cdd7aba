"""The markdown table of bench/gateway.py: gateway (and baseline) vs direct, per cell."""

from __future__ import annotations

MIB = 1024 * 1024


def _ratio(a: dict, d: dict) -> str:
    return f"{a['rps'] / d['rps']:.0%}" if d["rps"] else "–"


def render(res: dict) -> str:
    base = res.get("baseline")
    lines = [
        f"# S3 gateway benchmark ({res['when']}, load {res['loadavg']} before, {res.get('loadavg_after', '?')} after)",
        "",
        "Gateway (`stsmock serve`, embedded SeaweedFS behind it) vs the same SeaweedFS directly; one run, same machine."
        + (
            f" Baseline: the gateway of `{base}` in front of the same SeaweedFS, measured in the same run."
            if base
            else ""
        ),
        "CPU ms/req: CPU time per request of the gateway process, of SeaweedFS (direct cell) and of this "
        "Python client (direct cell): the three share the machine's cores.",
        "",
    ]
    head = ["op", "size", "c", "direct req/s", "gateway req/s", "gateway/direct"]
    if base:
        head += ["baseline req/s", "baseline/direct"]
    head += ["direct MB/s", "gateway MB/s", "direct p50 ms", "gateway p50 ms", "Δp50 ms"]
    if base:
        head += ["baseline Δp50 ms"]
    head += ["gateway CPU ms/req"]
    if base:
        head += ["baseline CPU ms/req"]
    head += ["SeaweedFS CPU ms/req", "client CPU ms/req", "gateway CPU %", "errors"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cells = {(c["target"], c["op"], c["size"], c["concurrency"]): c for c in res["cells"]}
    for op in ("GET", "PUT"):
        for size in ("4KiB", "8MiB"):
            for c in (1, 16):
                d, g = cells.get(("direct", op, size, c)), cells.get(("gateway", op, size, c))
                b = cells.get(("baseline", op, size, c))
                if not d or not g or (base and not b):
                    continue
                row = [op, size, str(c), str(d["rps"]), str(g["rps"]), _ratio(g, d)]
                if b:
                    row += [str(b["rps"]), _ratio(b, d)]
                row += [str(d["mb_s"] or "–"), str(g["mb_s"] or "–"), str(d["p50_ms"]), str(g["p50_ms"])]
                row += [f"{g['p50_ms'] - d['p50_ms']:+.2f}"]
                if b:
                    row += [f"{b['p50_ms'] - d['p50_ms']:+.2f}"]
                row += [str(g.get("gateway_cpu_ms", "–"))]
                if b:
                    row += [str(b.get("gateway_cpu_ms", "–"))]
                row += [str(d.get("backend_cpu_ms", "–")), str(d.get("client_cpu_ms", "–")), str(g["gateway_cpu_pct"])]
                row += [str(d["errors"] + g["errors"] + (b["errors"] if b else 0))]
                lines.append("| " + " | ".join(row) + " |")
    r = res.get("stream")
    if r:
        lines += [
            "",
            f"Streaming PUT of {r['bytes'] // MIB} MiB through the gateway: HTTP {r['status']}, {r['mb_s']} MB/s; gateway RSS "
            f"{r['rss_before_mb']} MB before, peak {r['rss_peak_mb']} MB (growth {r['rss_growth_mb']} MB).",
        ]
    return "\n".join(lines) + "\n"
