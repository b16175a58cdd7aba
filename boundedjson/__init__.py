"""Bounded JSON parsing for untrusted input: size, nesting depth, digit counts, no NaN, no lone surrogates.

Why: ``json.loads`` recurses once per nesting level (a ~1000-deep document raises
RecursionError, a 500 in any handler), accepts integers only up to Python's int-string
limit (a ValueError whose message names an interpreter setting) and accepts ``NaN``,
``Infinity`` and lone surrogates (``"\\ud800"``) that later fail to encode. Every limit
failure raises :class:`JsonLimitError` naming the limit, so each protocol can answer
with its own error. A leaf package of its own, imported by every plane (issuer, stsproxy,
stsmock, cli), so the planes share one parser without importing each other.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 32
#: Digits in one JSON number (AWS durations, epochs and ids need far fewer).
MAX_NUMBER_DIGITS = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class JsonLimitError(ValueError):
    """The document breaks a limit (or is not JSON); ``limit`` names which."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


def too_deep(text: str, max_depth: int) -> bool:
    """True when ``text`` nests deeper than ``max_depth`` (two C-level counts in the common case)."""
    return text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth


def nesting_depth(text: str) -> int:
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _number(kind: type) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_DIGITS:
            raise JsonLimitError(f"a number has more than {MAX_NUMBER_DIGITS} digits", "number_digits")
        value = kind(text)
        if kind is float and not math.isfinite(value):
            raise JsonLimitError(f"the number {text[:20]} is out of range", "number")
        return value

    return parse


def _constant(name: str) -> Any:
    raise JsonLimitError(f"{name} is not a JSON number", "number")


def check_strings(value: Any, text: str) -> None:
    """Lone surrogates can only come from ``\\u`` escapes (the text itself was strict UTF-8)."""
    if "\\u" not in text:
        return
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise JsonLimitError("a string contains a lone surrogate (not valid Unicode)", "unicode") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads_bounded(
    data: str | bytes,
    *,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    what: str = "JSON",
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """``json.loads`` within the limits, else :class:`JsonLimitError` (a ValueError)."""
    if len(data) > max_bytes:
        raise JsonLimitError(f"{what} is larger than {max_bytes} bytes", "size")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonLimitError(f"{what} is not valid UTF-8", "utf-8") from None
    else:
        text = data
    if too_deep(text, max_depth):
        raise JsonLimitError(f"{what} nests deeper than {max_depth} levels", "depth")
    try:
        value = json.loads(
            text,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_constant,
            object_pairs_hook=object_pairs_hook,
        )
    except JsonLimitError as exc:
        if exc.limit == "number":  # NaN, Infinity, out of range: a syntax problem of this document
            raise JsonLimitError(f"{what} is not valid JSON ({exc})", "number") from None
        raise
    except (ValueError, RecursionError) as exc:
        raise JsonLimitError(f"{what} is not valid JSON ({str(exc)[:80]})", "syntax") from None
    check_strings(value, text)
    return value


def precheck(text: str, *, what: str = "JSON", max_depth: int = MAX_DEPTH) -> None:
    """The depth limit alone, for a caller with its own decoder (then call :func:`check_strings`)."""
    if too_deep(text, max_depth):
        raise JsonLimitError(f"{what} nests deeper than {max_depth} levels", "depth")
