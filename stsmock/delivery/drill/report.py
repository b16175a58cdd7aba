"""The drill's numbers: per pattern × client calls, failures, refreshes, longest gap; table, JSON, chart."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Cell:
    pattern: str
    client: str
    calls: int = 0
    failed: int = 0
    #: Distinct access keys the client signed with, minus one (the first fetch is not a refresh).
    refreshes: int = 0
    #: Longest time (s) without a successful call, from the first answer to the end of the run.
    longest_gap_s: float = 0.0
    first_failure_s: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    note: str = ""
    points: list[tuple[float, bool]] = field(default_factory=list)


def summarize(pattern: str, client: str, lines: list[dict[str, Any]], *, started: float, ended: float) -> Cell:
    cell = Cell(pattern, client)
    keys: list[str] = []
    # gaps are measured from the first answer: a process's start-up (imports) is not a refresh
    last_ok = float(lines[0]["t"]) if lines else started
    for line in lines:
        t = float(line["t"])
        cell.calls += 1
        cell.points.append((round(t - started, 2), bool(line["ok"])))
        if line["ok"]:
            cell.longest_gap_s = max(cell.longest_gap_s, t - last_ok)
            last_ok = t
            key = line.get("key")
            if key and (not keys or keys[-1] != key) and key not in keys:
                keys.append(key)
        else:
            cell.failed += 1
            if cell.first_failure_s is None:
                cell.first_failure_s = round(t - started, 1)
            code = str(line.get("error") or "error").split(":", 1)[0][:60]
            cell.errors[code] = cell.errors.get(code, 0) + 1
    cell.longest_gap_s = round(max(cell.longest_gap_s, ended - last_ok), 1)
    cell.refreshes = max(len(keys) - 1, 0)
    return cell


def table(cells: list[Cell]) -> str:
    header = f"{'pattern':<19}{'client':<10}{'calls':>6}{'failed':>8}{'refreshes':>11}{'longest gap':>13}  first failure / errors"
    rows = [header, "-" * len(header)]
    for c in cells:
        if c.note and not c.calls:
            rows.append(f"{c.pattern:<19}{c.client:<10}{'-':>6}{'-':>8}{'-':>11}{'-':>13}  {c.note}")
            continue
        errors = ", ".join(f"{k}×{v}" for k, v in sorted(c.errors.items(), key=lambda kv: -kv[1]))
        first = f"at {c.first_failure_s:.0f} s: {errors}" if c.failed else ""
        rows.append(
            f"{c.pattern:<19}{c.client:<10}{c.calls:>6}{c.failed:>8}{c.refreshes:>11}{c.longest_gap_s:>11.1f} s  {first}"
            + (f"  [{c.note}]" if c.note else "")
        )
    return "\n".join(rows)


def to_json(cells: list[Cell], meta: dict[str, Any]) -> str:
    out = []
    for c in cells:
        item = asdict(c)
        item.pop("points")
        out.append(item)
    return json.dumps({"meta": meta, "results": out}, indent=2)


def chart_html(cells: list[Cell], meta: dict[str, Any]) -> str:
    """One timeline per pattern × client: green ticks = successful calls, red = failed; grey lines = expiries."""
    width, row_h, left = 900, 22, 190
    seconds = float(meta["seconds"])
    lifetime = float(meta["lifetime_s"])
    scale = (width - left - 10) / max(seconds, 1.0)
    rows = [c for c in cells if c.calls]
    height = row_h * len(rows) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">'
    ]
    t = lifetime
    while t < seconds:
        x = left + t * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 20}" stroke="#bbb" stroke-dasharray="3,3"/>'
        )
        t += lifetime
    for i, c in enumerate(rows):
        y = 20 + i * row_h
        label = html.escape(f"{c.pattern} / {c.client}")
        parts.append(f'<text x="4" y="{y + 4}">{label}</text>')
        for at, ok in c.points:
            x = left + at * scale
            colour = "#2a2" if ok else "#d22"
            parts.append(f'<line x1="{x:.1f}" y1="{y - 6}" x2="{x:.1f}" y2="{y + 6}" stroke="{colour}"/>')
    parts.append(
        f'<text x="{left}" y="{height - 5}">0 s … {seconds:.0f} s; dashed lines every {lifetime:.0f} s '
        "(one credential lifetime)</text></svg>"
    )
    rows_html = "".join(
        f"<tr><td>{html.escape(c.pattern)}</td><td>{html.escape(c.client)}</td><td>{c.calls}</td><td>{c.failed}</td>"
        f"<td>{c.refreshes}</td><td>{c.longest_gap_s:.1f}</td><td>{html.escape(c.note)}</td></tr>"
        for c in cells
    )
    return (
        "<!doctype html><meta charset=utf-8><title>stsmock drill refresh</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style>"
        f"<h1>stsmock drill refresh</h1><p>{html.escape(meta['compression'])}</p>"
        + "".join(parts)
        + "<table><tr><th>pattern</th><th>client</th><th>calls</th><th>failed</th><th>refreshes</th>"
        f"<th>longest gap (s)</th><th>note</th></tr>{rows_html}</table>"
    )


def markdown(cells: list[Cell], meta: dict[str, Any]) -> str:
    """The table for docs/credential-delivery.md (between its ``drill:`` markers)."""
    rows = [
        f"{meta['lifetime_s']} s sessions (drill-only), {meta['seconds']:.0f} s of calls "
        f"({meta['expiries']} expiries), target {meta['target']}, wall {meta['wall_s']:.0f} s.",
        "",
        "| pattern | client | calls | failed | refreshes | longest gap | first failure, errors / note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for c in cells:
        if c.note and not c.calls:
            rows.append(f"| {c.pattern} | {c.client} | – | – | – | – | {c.note} |")
            continue
        errors = ", ".join(f"{k} ×{v}" for k, v in sorted(c.errors.items(), key=lambda kv: -kv[1]))
        first = f"at {c.first_failure_s:.0f} s: {errors}" if c.failed else ""
        detail = "; ".join(x for x in (first, c.note) if x)
        rows.append(
            f"| {c.pattern} | {c.client} | {c.calls} | {c.failed} | {c.refreshes} | {c.longest_gap_s:.1f} s | {detail} |"
        )
    return "\n".join(rows) + "\n"
