"""The token-file writer applies the change feed before each look at the clock.

Under ``--workers`` or replicas the virtual clock may be moved by another process; the writer must
see that move (the feed's ``sync_quietly``) rather than wait for a request to reach its own process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from stsmock.token_file import TokenFileWriter


class Issuer:
    def __init__(self) -> None:
        self.settings = SimpleNamespace(client=lambda client_id: None)
        self.minted = 0

    def mint(self, claims: dict[str, Any], *, ttl: int, client_id: str) -> str:
        self.minted += 1
        return f"token-{self.minted}"


async def test_a_clock_moved_by_another_process_refreshes_the_file(tmp_path: Path) -> None:
    clock = {"now": 1000.0, "shared": 1000.0}  # "shared": the store's clock, moved by another process
    looks = [0]

    def now() -> float:
        looks[0] += 1
        return clock["now"]

    def sync() -> None:  # what the feed does: adopt the stored state
        clock["now"] = clock["shared"]

    issuer = Issuer()
    path = tmp_path / "token"
    writer = TokenFileWriter({"default": issuer}, path, now=now, refresh_seconds=300, sync=sync)  # type: ignore[dict-item]
    writer.start()
    try:
        assert path.read_text() == "token-1"
        clock["shared"] += 301  # another worker advanced the clock; nothing reaches this process's requests
        seen = looks[0]
        while looks[0] < seen + 2:  # two passes of the writer's loop
            await asyncio.sleep(0.05)
        assert path.read_text() == "token-2"
    finally:
        await writer.stop()
