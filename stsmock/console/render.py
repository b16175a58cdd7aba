"""Jinja2 rendering for the console: autoescaped templates, a few display filters.

Imported on the first console request, not at start-up (``routes.py`` imports it lazily).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def human_time(ts: object, now: float | None = None) -> str:
    """``2026-12-01 10:00:00 UTC`` (and ``(in 5.0m)`` / ``(3.2h ago)`` relative to ``now``)."""
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return ""
    try:
        text = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(ts)))
    except (OverflowError, OSError, ValueError):
        return f"{ts} (out of range)"
    if now is not None:
        text += f" ({relative(float(ts) - now)})"
    return text


def relative(delta: float) -> str:
    amount = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if amount >= size:
            value = f"{amount / size:.1f}{unit}"
            break
    else:
        value = f"{amount:.0f}s"
    return f"in {value}" if delta >= 0 else f"{value} ago"


def pretty(value: object) -> str:
    """Indented JSON for a ``<pre>`` block (escaped by the template like any other text)."""
    return json.dumps(value, indent=2, sort_keys=False, default=str)


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(human_time=human_time, relative=relative, pretty=pretty)


def render(name: str, **context: object) -> str:
    return ENV.get_template(name).render(**context)
