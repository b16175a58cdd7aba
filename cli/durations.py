"""Parsed command-line values: durations (90, 15m, 2h, 1d), instants (epoch or ISO 8601), claims (KEY=JSON).

Each is bounded (digits, range, JSON depth) and fails as a click usage error naming the limit.
"""

from __future__ import annotations

import re
from typing import Any

import click

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RE = re.compile(r"^\s*([0-9]{1,12}(?:\.[0-9]{1,6})?)\s*([smhd]?)\s*$")
#: 100 years: longer than any token, session or clock jump anyone means.
MAX_SECONDS = 100 * 365 * 86400


def parse_duration(text: str) -> int:
    match = _RE.match(text)
    if not match:
        raise ValueError(f"invalid duration {text[:40]!r}; use e.g. 90, 90s, 15m, 2h, 1d (at most 12 digits)")
    seconds = int(float(match.group(1)) * _UNITS[match.group(2)])
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {text[:40]!r} is longer than 100 years")
    return seconds


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()


def parse_instant(value: str) -> float:
    """Epoch seconds or ISO 8601 (``2026-12-01T00:00:00Z``), finite and within years 1970..9999."""
    import datetime as dt

    from stsmock.clock import check_instant

    try:
        at = float(value)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{value[:40]!r} is neither epoch seconds nor an ISO 8601 time (e.g. 2026-12-01T00:00:00Z)",
                param_hint="VALUE",
            ) from None
        at = (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
    try:
        return check_instant(at)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="VALUE") from None


def parse_claim(value: str) -> tuple[str, Any]:
    from boundedjson import JsonLimitError, loads_bounded

    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {value[:60]!r}", param_hint="--claim")
    try:
        return key, loads_bounded(raw, max_bytes=16_384, what=f"claim {key[:40]!r}")
    except JsonLimitError as exc:
        if exc.limit == "syntax":
            return key, raw  # not JSON: a plain string
        raise click.BadParameter(str(exc), param_hint="--claim") from None
