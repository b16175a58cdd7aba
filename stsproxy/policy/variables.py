"""Policy variables: ``${key}``, ``${key, 'default'}`` and the ``${*}`` ``${?}`` ``${$}`` escapes.

A template is parsed once (cached) into tokens, then resolved per request into
*segments* ``(text, literal)``. ``literal`` segments (escapes and substituted
values) never act as wildcards, so a tag value containing ``*`` cannot widen a
pattern. Only Version 2012-10-17 policies substitute; older ones are literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

#: One piece of a resolved pattern: (text, literal?).
Segment = tuple[str, bool]
Segments = tuple[Segment, ...]

_VAR = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,]+?)\s*,\s*'([^']*)'\s*$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

# Token kinds: ("text", s) | ("lit", s) | ("var", key_lower, default_or_None)
Token = tuple[str, str, str | None]


@lru_cache(maxsize=4096)
def parse_template(template: str) -> tuple[Token, ...]:
    """Split ``template`` into text, escape and variable tokens."""
    tokens: list[Token] = []
    pos = 0
    for m in _VAR.finditer(template):
        if m.start() > pos:
            tokens.append(("text", template[pos : m.start()], None))
        inner = m.group(1)
        if inner in _ESCAPES:
            tokens.append(("lit", _ESCAPES[inner], None))
        else:
            dm = _DEFAULT.match(inner)
            if dm:
                tokens.append(("var", dm.group(1).lower(), dm.group(2)))
            elif inner.strip():
                tokens.append(("var", inner.strip().lower(), None))
            else:
                tokens.append(("text", m.group(0), None))
        pos = m.end()
    if pos < len(template):
        tokens.append(("text", template[pos:], None))
    return tuple(tokens)


def has_variables(template: str) -> bool:
    """Whether the template uses ``${...}`` at all (fast path for plain strings)."""
    return "${" in template


def scalar_text(value: Any) -> str | None:
    """A context value as policy text, or None when it cannot be a variable (multivalued, null)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if len(items) != 1:
            return None
        value = items[0]
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve(template: str, context: Mapping[str, Any], *, enabled: bool) -> Segments | None:
    """Resolve ``template`` against a lower-cased ``context``; None if a variable has no value.

    ``enabled`` is False for Version 2008-10-17 / missing Version: the text is
    returned untouched. Single-element lists count as single values (JWT tag
    arrays); longer lists are multivalued and leave the variable unresolved.
    """
    if not enabled or "${" not in template:
        return ((template, False),)
    out: list[Segment] = []
    for kind, text, default in parse_template(template):
        if kind == "text":
            out.append((text, False))
        elif kind == "lit":
            out.append((text, True))
        else:
            value = scalar_text(context.get(text))
            if value is None:
                if default is None:
                    return None
                value = default
            out.append((value, True))
    return tuple(out)


def joined(segments: Segments) -> str:
    """The plain text of resolved segments (for equality operators)."""
    return "".join(text for text, _ in segments)
