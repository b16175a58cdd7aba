"""The one clock. Every ``now`` in the process comes from here.

Tests and the admin API can freeze, advance, set or reset it, and token expiry,
credential expiry, key grace periods, revocation cut-offs and break-glass TTLs
all follow. An offset (rather than only a frozen value) lets time keep flowing
after an ``advance`` unless the clock is frozen.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class VirtualClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        frozen = self._frozen_at
        if frozen is not None:
            return frozen
        return time.time() + self._offset

    def freeze(self, at: float | None = None) -> None:
        with self._lock:
            self._frozen_at = self.now() if at is None else float(at)

    def unfreeze(self) -> None:
        """Let time flow again from the current virtual instant."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def set(self, at: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = float(at)
            else:
                self._offset = float(at) - time.time()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None

    def state(self) -> dict[str, Any]:
        return {
            "now": self.now(),
            "frozen": self._frozen_at is not None,
            "offset_seconds": (self._frozen_at - time.time()) if self._frozen_at is not None else self._offset,
        }
