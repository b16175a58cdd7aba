"""Human durations for the command line: 90, 90s, 15m, 2h, 1d."""

from __future__ import annotations

import re

import click

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> int:
    match = _RE.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}; use e.g. 90, 90s, 15m, 2h, 1d")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


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
