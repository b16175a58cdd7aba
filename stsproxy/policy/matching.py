"""Wildcard matching for actions, resources, ARNs and principals.

Patterns compile once to regexes (lru_cache): the STS hot path evaluates a
trust policy on every request.

* Action: ``*``/``?`` anywhere, case-insensitive.
* Resource / ArnLike: case-sensitive; in the first five colon-separated ARN
  segments ``*``/``?`` stay inside the segment, in the sixth (resource) part
  they span anything, ``/`` and ``:`` included. ``"*"`` alone matches
  everything; other patterns with fewer than six parts match no full ARN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from stsproxy.policy.variables import Segments

Mode = Literal["like", "like_i", "arn"]


@lru_cache(maxsize=8192)
def compile_segments(segments: Segments, mode: Mode) -> re.Pattern[str]:
    """Compile resolved segments; literal segments never act as wildcards."""
    arn_aware = mode == "arn"
    parts: list[str] = []
    colons = 0
    for text, literal in segments:
        if literal:
            parts.append(re.escape(text))
            colons += text.count(":")
            continue
        for ch in text:
            if ch == "*":
                parts.append("[^:]*" if arn_aware and colons < 5 else ".*")
            elif ch == "?":
                parts.append("[^:]" if arn_aware and colons < 5 else ".")
            else:
                if ch == ":":
                    colons += 1
                parts.append(re.escape(ch))
    flags = re.DOTALL | (re.IGNORECASE if mode == "like_i" else 0)
    return re.compile("".join(parts), flags)


def wildcard_match(pattern: str, value: str, mode: Mode = "like") -> bool:
    """Match a plain (variable-free) pattern."""
    if pattern == "*":
        return True
    return compile_segments(((pattern, False),), mode).fullmatch(value) is not None


def segments_match(segments: Segments, value: str, mode: Mode) -> bool:
    """Match resolved segments (from :func:`stsproxy.policy.variables.resolve`)."""
    if len(segments) == 1 and not segments[0][1] and segments[0][0] == "*":
        return True
    return compile_segments(segments, mode).fullmatch(value) is not None


@lru_cache(maxsize=8192)
def match_action(pattern: str, action: str) -> bool:
    """``s3:Get*`` vs ``s3:GetObject``, case-insensitively (both sides come from small sets: the answer is cached)."""
    return wildcard_match(pattern, action, "like_i")


def match_arn(pattern: str, arn: str) -> bool:
    """Resource / ArnLike matching of a plain pattern (see module doc)."""
    return wildcard_match(pattern, arn, "arn")


def _account_of(value: str) -> str | None:
    """The account of ``123456789012`` or ``arn:aws:iam::123456789012:root``, else None."""
    if value.isdigit() and len(value) == 12:
        return value
    parts = value.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "iam" and parts[5] == "root":
        return parts[4]
    return None


def _aws_principal_matches(policy_value: str, request_value: str) -> bool:
    if policy_value == "*" or policy_value == request_value:
        return True
    account = _account_of(policy_value)
    if account is None:
        return False
    parts = request_value.split(":", 5)
    req_account = request_value if request_value.isdigit() else (parts[4] if len(parts) == 6 else None)
    return req_account == account


def principal_matches(
    policy_principal: Mapping[str, tuple[str, ...]] | str,
    request_principal: Mapping[str, tuple[str, ...]] | None,
) -> bool:
    """Whether the request principal is one of the statement's principals.

    ``"*"`` matches everyone (even an anonymous request). Inside a map, ``AWS``
    accepts ``"*"`` and account ids / ``:root`` ARNs (any principal of that
    account); other values, Federated/Service/CanonicalUser included, compare
    exactly (case-sensitive), since ``*`` is not a wildcard in principals.
    """
    if policy_principal == "*":
        return True
    if not request_principal or isinstance(policy_principal, str):
        return False
    for ptype, values in policy_principal.items():
        requested = request_principal.get(ptype)
        if not requested:
            continue
        for value in values:
            if ptype == "AWS":
                if any(_aws_principal_matches(value, r) for r in requested):
                    return True
            elif value in requested:
                return True
    return False
