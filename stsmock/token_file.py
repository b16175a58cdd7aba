"""Keep a web-identity token file fresh, as Kubernetes does for projected tokens.

The file is rewritten atomically (temp file + rename) so a reader such as
botocore's FileWebIdentityTokenLoader never sees a half-written token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from issuer.service import IssuerService

    from .config import TokenFileSettings

log = logging.getLogger("stsmock.token_file")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


class TokenFileWriter:
    """Mints from the built-in ``issuer`` and rewrites ``path`` every ``refresh_seconds`` of virtual time."""

    def __init__(
        self,
        issuers: Mapping[str, IssuerService],
        path: Path,
        *,
        now: Callable[[], float],
        refresh_seconds: int = 300,
        issuer: str = "default",
        client_id: str = "stsmock-dev",
        sub: str = "system:serviceaccount:default:stsmock",
        ttl_seconds: int = 3600,
        sync: Callable[[], None] = lambda: None,
    ) -> None:
        self.issuers = issuers
        #: Applies other processes' changes (clock, keys) before each look: the feed's ``sync_quietly``.
        self._sync = sync
        self._now = now
        self.path = path
        self.refresh_seconds = refresh_seconds
        self.issuer = issuer
        self.client_id = client_id
        self.sub = sub
        self.ttl_seconds = max(ttl_seconds, refresh_seconds * 2)
        self._task: asyncio.Task[None] | None = None
        self._written_at = 0.0

    @classmethod
    def from_settings(
        cls,
        issuers: Mapping[str, IssuerService],
        spec: TokenFileSettings,
        *,
        now: Callable[[], float],
        sync: Callable[[], None] = lambda: None,
    ) -> TokenFileWriter:
        return cls(
            issuers,
            Path(spec.path),
            now=now,
            refresh_seconds=spec.refresh_seconds,
            issuer=spec.issuer,
            client_id=spec.client_id,
            sub=spec.sub,
            ttl_seconds=spec.ttl_seconds,
            sync=sync,
        )

    def write_once(self) -> str:
        service = self.issuers[self.issuer]
        client = service.settings.client(self.client_id)
        aud = (client.audience if client and client.audience else self.client_id) if client else self.client_id
        token = service.mint(
            {"sub": self.sub, "aud": aud, "azp": self.client_id, "client_id": self.client_id},
            ttl=self.ttl_seconds,
            client_id=self.client_id,
        )
        write_atomic(self.path, token)
        self._written_at = self._now()
        return token

    async def _loop(self) -> None:
        """Rewrite when the *virtual* clock says the refresh interval has passed.

        Polling at most once a second (real time) means that advancing the clock through the
        admin API refreshes the file promptly, as a kubelet would after that much time — also when
        another worker or replica moved the clock or retired the key (the change feed is applied first).
        """
        while True:
            await asyncio.sleep(min(1.0, self.refresh_seconds))
            self._sync()
            if self._now() - self._written_at < self.refresh_seconds:
                continue
            try:
                self.write_once()
            except Exception:
                log.exception("could not refresh token file %s", self.path)

    def start(self) -> None:
        self.write_once()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
