"""The one clock. Every ``now`` in the process comes from here.

Tests and the admin API can freeze, advance, set or reset it, and token expiry,
credential expiry, key grace periods, revocation cut-offs and break-glass TTLs
all follow. An offset (rather than only a frozen value) lets time keep flowing
after an ``advance`` unless the clock is frozen.

Shared by every process through the store: a change is a read-modify-write of
the stored state inside one serialised change transaction (two ``advance`` calls
on two replicas both count), and the change feed hands the new state to every
other process before its next request. ``now`` itself never touches the store.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

#: ``update(mutate)``: run ``mutate(stored_state) -> new_state`` serialised with every other process.
Update = Callable[[Callable[[str | None], str]], None]


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
        self._lock = threading.RLock()
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._load: Callable[[], str | None] | None = None
        self._update: Update | None = None

    def attach(self, load: Callable[[], str | None], update: Update) -> None:
        """Keep the state in the store: changes go through ``update``; :meth:`apply_shared` adopts others'."""
        self._load, self._update = load, update
        self.apply_shared()

    def apply_shared(self, keys: set[str] | None = None) -> None:
        """Change-feed handler: adopt the stored state (another process changed the clock)."""
        if self._load is not None:
            with self._lock:
                self._adopt(self._load())

    def _adopt(self, raw: str | None) -> None:
        state = json.loads(raw) if raw else {}
        self._offset = float(state.get("offset", 0.0))
        frozen = state.get("frozen_at")
        self._frozen_at = None if frozen is None else float(frozen)

    def _dump(self) -> str:
        return json.dumps({"offset": self._offset, "frozen_at": self._frozen_at})

    def _change(self, op: Callable[[], None]) -> None:
        if self._update is None:
            with self._lock:
                op()
            return

        def mutate(raw: str | None) -> str:
            with self._lock:
                self._adopt(raw)  # apply the change on top of the latest shared state
                op()
                return self._dump()

        try:
            self._update(mutate)
        except BaseException:
            self.apply_shared()  # not stored: back to what the store holds
            raise

    def now(self) -> float:
        frozen = self._frozen_at
        if frozen is not None:
            return frozen
        return time.time() + self._offset

    def freeze(self, at: float | None = None) -> None:
        if at is not None:
            check_instant(at)

        def op() -> None:
            self._frozen_at = self.now() if at is None else float(at)

        self._change(op)

    def unfreeze(self) -> None:
        """Let time flow again from the current virtual instant."""

        def op() -> None:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

        self._change(op)

    def advance(self, seconds: float) -> None:
        check_instant(self.now() + check_finite(seconds, "seconds"))

        def op() -> None:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

        self._change(op)

    def set(self, at: float) -> None:
        check_instant(at)

        def op() -> None:
            if self._frozen_at is not None:
                self._frozen_at = float(at)
            else:
                self._offset = float(at) - time.time()

        self._change(op)

    def reset(self) -> None:
        def op() -> None:
            self._offset = 0.0
            self._frozen_at = None

        self._change(op)

    def state(self) -> dict[str, Any]:
        return {
            "now": self.now(),
            "frozen": self._frozen_at is not None,
            "offset_seconds": (self._frozen_at - time.time()) if self._frozen_at is not None else self._offset,
        }
