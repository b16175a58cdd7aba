"""The one clock. Every ``now`` in the process comes from here.

Tests and the admin API can freeze, advance, set or reset it, and token expiry,
credential expiry, key grace periods, revocation cut-offs and break-glass TTLs
all follow. An offset (rather than only a frozen value) lets time keep flowing
after an ``advance`` unless the clock is frozen.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

#: How often a worker looks for clock changes made by another worker (seconds).
SYNC_INTERVAL = 0.25


#: The virtual clock stays within what every date format in the protocols can express.
MIN_INSTANT = 0.0
MAX_INSTANT = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def check_finite(value: float, name: str) -> float:
    """Reject NaN/Infinity (after which every comparison with the clock is false): a ValueError naming the limit."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_instant(at: float) -> float:
    at = check_finite(at, "the clock")
    if not MIN_INSTANT <= at <= MAX_INSTANT:
        raise ValueError(
            f"the clock must stay between 1970-01-01 and 9999-12-31 (epoch 0..{MAX_INSTANT:.0f}), got {at:.0f}"
        )
    return at


class VirtualClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._version = 0
        self._load: Callable[[], str | None] | None = None
        self._save: Callable[[str], None] | None = None
        self._next_sync = 0.0

    def share(self, load: Callable[[], str | None], save: Callable[[str], None]) -> None:
        """Publish changes through ``save`` and pick up other processes' changes from ``load``."""
        self._load, self._save = load, save
        self._sync(force=True)

    def _publish(self) -> None:
        self._version += 1
        if self._save is not None:
            self._save(
                json.dumps(
                    {"v": self._version, "offset": self._offset, "frozen_at": self._frozen_at, "pid_nonce": id(self)}
                )
            )

    def _sync(self, force: bool = False) -> None:
        if self._load is None:
            return
        mono = time.monotonic()
        if not force and mono < self._next_sync:
            return
        self._next_sync = mono + SYNC_INTERVAL
        raw = self._load()
        if not raw:
            return
        state = json.loads(raw)
        if state["v"] != self._version:  # another process changed the clock
            self._offset, self._frozen_at, self._version = state["offset"], state["frozen_at"], state["v"]

    def now(self) -> float:
        if self._load is not None:
            self._sync()
        frozen = self._frozen_at
        if frozen is not None:
            return frozen
        return time.time() + self._offset

    def freeze(self, at: float | None = None) -> None:
        if at is not None:
            check_instant(at)
        self._sync(force=True)  # apply changes on top of the latest shared state
        with self._lock:
            self._frozen_at = self.now() if at is None else float(at)
            self._publish()

    def unfreeze(self) -> None:
        """Let time flow again from the current virtual instant."""
        self._sync(force=True)  # apply changes on top of the latest shared state
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None
            self._publish()

    def advance(self, seconds: float) -> None:
        check_instant(self.now() + check_finite(seconds, "seconds"))
        self._sync(force=True)  # apply changes on top of the latest shared state
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
            self._publish()

    def set(self, at: float) -> None:
        check_instant(at)
        self._sync(force=True)  # apply changes on top of the latest shared state
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = float(at)
            else:
                self._offset = float(at) - time.time()
            self._publish()

    def reset(self) -> None:
        self._sync(force=True)  # apply changes on top of the latest shared state
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None
            self._publish()

    def state(self) -> dict[str, Any]:
        return {
            "now": self.now(),
            "frozen": self._frozen_at is not None,
            "offset_seconds": (self._frozen_at - time.time()) if self._frozen_at is not None else self._offset,
        }
