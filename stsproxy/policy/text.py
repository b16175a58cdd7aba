"""Policy text without whitespace: what AWS's size limits count (a leaf, used by grammar and size)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_WHITESPACE = frozenset(" \t\n\r")


def minify(doc: str | Mapping[str, Any]) -> str:
    """Drop whitespace outside JSON strings; dicts are dumped compactly.

    Works on text that is not valid JSON too, so it can size a document
    before (or without) parsing it.
    """
    if not isinstance(doc, str):
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    out: list[str] = []
    in_string = False
    escaped = False
    for ch in doc:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch not in _WHITESPACE:
            out.append(ch)
    return "".join(out)


def minified_length(doc: str | Mapping[str, Any]) -> int:
    """Characters without whitespace outside strings: what the 2048-char session limit counts."""
    return len(minify(doc))
