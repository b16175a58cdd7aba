"""Condition operators.

Semantics (IAM docs): several values for one key are ORed; negated operators
mean "matches none". A missing key makes positive operators false and negated
ones true; ``...IfExists`` makes it true; ``ForAllValues`` is true and
``ForAnyValue`` false on a missing or empty key. A malformed value (policy or
request side) makes the condition false instead of raising.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from stsproxy.policy.grammar import Condition
from stsproxy.policy.matching import segments_match
from stsproxy.policy.variables import Segments, joined, resolve


class _Malformed(Exception):
    """A value an operator cannot interpret; the condition evaluates to false."""


Matcher = Callable[[Any], bool]


def request_values(raw: Any) -> tuple[Any, ...] | None:
    """A context value as a tuple of values (lists are multivalued); None when absent."""
    if raw is None:
        return None
    if isinstance(raw, (list, tuple, set, frozenset)):
        return tuple(v for v in raw if v is not None)
    return (raw,)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# --- value parsers (cached: the same policy values are parsed on every request) ---


@lru_cache(maxsize=4096)
def _number(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise _Malformed(text) from None
    if not value.is_finite():
        raise _Malformed(text)
    return value


def _request_number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise _Malformed(value)
    return _number(str(value))


@lru_cache(maxsize=4096)
def _date_text(text: str) -> float:
    text = text.strip()
    try:
        return float(Decimal(text)) if text and text.lstrip("-").replace(".", "", 1).isdigit() else _iso(text)
    except (ValueError, InvalidOperation):
        raise _Malformed(text) from None


def _iso(text: str) -> float:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _date(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, bool):
        raise _Malformed(value)
    if isinstance(value, (int, float)):
        return float(value)
    return _date_text(str(value))


@lru_cache(maxsize=4096)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise _Malformed(text) from None


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(_text(value).strip())
    except ValueError:
        raise _Malformed(value) from None


@lru_cache(maxsize=1024)
def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Malformed(text) from None


def _bool_text(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise _Malformed(text)
    return lowered


# --- matchers: given the policy values, return "does this request value match any?" ---


def _resolved(cond: Condition, context: Mapping[str, Any], enabled: bool) -> list[Segments]:
    """Policy values with variables substituted; unresolved ones drop out (they match nothing)."""
    out: list[Segments] = []
    for value in cond.values:
        segments = resolve(value, context, enabled=enabled)
        if segments is not None:
            out.append(segments)
    return out


def _string_matcher(cond: Condition, context: Mapping[str, Any], enabled: bool) -> Matcher:
    if not enabled or not any("${" in value for value in cond.values):
        return _plain_string_matcher(cond)  # nothing to substitute: the same matcher for every request
    return _build_string_matcher(cond, _resolved(cond, context, enabled))


@lru_cache(maxsize=4096)
def _plain_string_matcher(cond: Condition) -> Matcher:
    return _build_string_matcher(cond, [((value, False),) for value in cond.values])


def _build_string_matcher(cond: Condition, resolved: list[Segments]) -> Matcher:
    base = cond.base
    if base in ("StringLike", "StringNotLike"):
        return lambda rv: any(segments_match(s, _text(rv), "like") for s in resolved)
    if base in ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"):
        return lambda rv: any(segments_match(s, _text(rv), "arn") for s in resolved)
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        lowered = {joined(s).lower() for s in resolved}
        return lambda rv: _text(rv).lower() in lowered
    exact = {joined(s) for s in resolved}
    return lambda rv: _text(rv) in exact


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "NotEquals": lambda a, b: a == b,  # negation is applied by the caller
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


def _ordered_matcher(
    cond: Condition, parse_policy: Callable[[str], Any], parse_request: Callable[[Any], Any]
) -> Matcher:
    family = "Numeric" if cond.base.startswith("Numeric") else "Date"
    compare = _COMPARE[cond.base[len(family) :]]
    wanted = [parse_policy(v) for v in cond.values]
    return lambda rv: any(compare(parse_request(rv), w) for w in wanted)


def _bool_matcher(cond: Condition) -> Matcher:
    wanted = {_bool_text(v) for v in cond.values}
    return lambda rv: _text(rv).strip().lower() in wanted


def _binary_matcher(cond: Condition) -> Matcher:
    wanted = {_b64(v) for v in cond.values}
    return lambda rv: (rv if isinstance(rv, bytes) else _b64(_text(rv))) in wanted


def _ip_matcher(cond: Condition) -> Matcher:
    networks = [_network(v) for v in cond.values]
    return lambda rv: any(_address(rv) in n for n in networks)


def _matcher(cond: Condition, context: Mapping[str, Any], enabled: bool) -> Matcher:
    base = cond.base
    if base.startswith(("String", "Arn")):
        return _string_matcher(cond, context, enabled)
    if base.startswith("Numeric"):
        return _ordered_matcher(cond, _number, _request_number)
    if base.startswith("Date"):
        return _ordered_matcher(cond, _date_text, _date)
    if base == "Bool":
        return _bool_matcher(cond)
    if base == "BinaryEquals":
        return _binary_matcher(cond)
    if base in ("IpAddress", "NotIpAddress"):
        return _ip_matcher(cond)
    raise _Malformed(base)  # pragma: no cover - grammar rejects unknown operators


def _null(cond: Condition, values: tuple[Any, ...] | None) -> bool:
    present = bool(values)
    try:
        return any((_bool_text(v) == "true") != present for v in cond.values)
    except _Malformed:
        return False


def evaluate_condition(cond: Condition, context: Mapping[str, Any], *, variables: bool) -> bool:
    """Evaluate one condition against a context whose keys are already lower-cased."""
    values = request_values(context.get(cond.key_lower))
    if cond.base == "Null":
        return _null(cond, values)
    if not values:
        if cond.if_exists or cond.qualifier == "ForAllValues":
            return True
        if cond.qualifier == "ForAnyValue":
            return False
        return cond.negated
    try:
        match = _matcher(cond, context, variables)
        hits = [match(v) for v in values]
    except _Malformed:
        return False
    if cond.negated:
        hits = [not h for h in hits]
        if cond.qualifier is None:
            return all(hits)
    if cond.qualifier == "ForAllValues":
        return all(hits)
    return any(hits)


def conditions_hold(
    conditions: tuple[Condition, ...], context: Mapping[str, Any], *, variables: bool
) -> Condition | None:
    """The first failing condition, or None when all hold (they are ANDed)."""
    for cond in conditions:
        if not evaluate_condition(cond, context, variables=variables):
            return cond
    return None
