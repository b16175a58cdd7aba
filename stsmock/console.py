"""placeholder (being written)."""

from typing import Any


def install(app: Any, runtime: Any) -> None:
    return None
