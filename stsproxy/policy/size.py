"""Policy sizes: the plaintext (minified) length and the packed-size percentage.

AWS counts policy size limits "without whitespace", and reports the packed size
of session policies plus session tags as a percentage of an opaque budget. The
packed model here is our own, documented and deterministic (see
:func:`packed_policy_size`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stsproxy.errors import PackedPolicyTooLarge
from stsproxy.policy.grammar import Policy
from stsproxy.policy.text import minified_length, minify

__all__ = [
    "PACKED_BUDGET_BYTES",
    "ensure_packed_size",
    "minified_length",
    "minify",
    "packed_payload",
    "packed_policy_size",
]

#: Bytes of zlib output that count as 100% of the packed budget.
PACKED_BUDGET_BYTES = 2560


def _policy_text(policy: Policy | str | Mapping[str, Any]) -> str:
    if isinstance(policy, str):
        return minify(policy)
    if isinstance(policy, Mapping):
        return minify(policy)
    return policy.text


def packed_payload(
    session_policies: Sequence[Policy | str],
    tags: Mapping[str, str] | None = None,
    transitive_keys: Iterable[str] = (),
) -> bytes:
    """The bytes that :func:`packed_policy_size` compresses (exposed for tests and debugging)."""
    tags = tags or {}
    policies = "\n".join(_policy_text(p) for p in session_policies)
    tag_text = "\n".join(f"{k}={v}" for k, v in sorted(tags.items()))
    transitive = ",".join(sorted(transitive_keys))
    if not policies and not tag_text and not transitive:
        return b""
    return "\x00".join((policies, tag_text, transitive)).encode("utf-8")


def packed_policy_size(
    session_policies: Sequence[Policy | str],
    tags: Mapping[str, str] | None = None,
    transitive_keys: Iterable[str] = (),
) -> int:
    """Percentage (int, may exceed 100) of the packed session-policy + tag budget used.

    Formula (deterministic, our model of AWS's opaque packing)::

        payload = "\\n".join(minified policies) + "\\0"
                + "\\n".join(f"{k}={v}" for k, v in sorted(tags)) + "\\0"
                + ",".join(sorted(transitive_keys))            # UTF-8
        percent = ceil(100 * len(zlib.compress(payload, 9)) / 2560)

    and 0 when there are no policies, tags or transitive keys. A 2048-char policy
    (even incompressible Latin-1 text) stays below 100%; 50 large tags go well over.
    """
    payload = packed_payload(session_policies, tags, transitive_keys)
    if not payload:
        return 0
    return math.ceil(100 * len(zlib.compress(payload, 9)) / PACKED_BUDGET_BYTES)


def ensure_packed_size(
    session_policies: Sequence[Policy | str],
    tags: Mapping[str, str] | None = None,
    transitive_keys: Iterable[str] = (),
) -> int:
    """:func:`packed_policy_size`, raising PackedPolicyTooLarge (AWS wording) above 100%."""
    percent = packed_policy_size(session_policies, tags, transitive_keys)
    if percent > 100:
        if tags and session_policies:
            what = "session policy and session tags"
        else:
            what = "session tags" if tags else "session policy"
        raise PackedPolicyTooLarge(
            f"Packed size of {what} consumes {percent}% of allotted space.",
            check="packed-policy-size",
            detail={"percent": percent},
        )
    return percent
