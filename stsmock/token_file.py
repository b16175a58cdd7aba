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
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import TokenFileSettings
    from .runtime import Runtime

log = logging.getLogger("stsmock.token_file")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


class TokenFileWriter:
    def __init__(
        self,
        runtime: Runtime,
        path: Path,
        *,
        refresh_seconds: int = 300,
        issuer: str = "default",
        client_id: str = "stsmock-dev",
        sub: str = "system:serviceaccount:default:stsmock",
        ttl_seconds: int = 3600,
    ) -> None:
        self.runtime = runtime
        self.path = path
        self.refresh_seconds = refresh_seconds
        self.issuer = issuer
        self.client_id = client_id
        self.sub = sub
        self.ttl_seconds = max(ttl_seconds, refresh_seconds * 2)
        self._task: asyncio.Task[None] | None = None
        self._written_at = 0.0

    @classmethod
    def from_settings(cls, runtime: Runtime, spec: TokenFileSettings) -> TokenFileWriter:
        return cls(
            runtime,
            Path(spec.path),
            refresh_seconds=spec.refresh_seconds,
            issuer=spec.issuer,
            client_id=spec.client_id,
            sub=spec.sub,
            ttl_seconds=spec.ttl_seconds,
        )

    def write_once(self) -> str:
        service = self.runtime.issuers[self.issuer]
        client = service.settings.client(self.client_id)
        aud = (client.audience if client and client.audience else self.client_id) if client else self.client_id
        token = service.mint(
            {"sub": self.sub, "aud": aud, "azp": self.client_id, "client_id": self.client_id},
            ttl=self.ttl_seconds,
            client_id=self.client_id,
        )
        write_atomic(self.path, token)
        self._written_at = self.runtime.clock.now()
        return token

    async def _loop(self) -> None:
        """Rewrite when the *virtual* clock says the refresh interval has passed.

        Polling at most once a second (real time) means that advancing the clock through the
        admin API refreshes the file promptly, as a kubelet would after that much time.
        """
        while True:
            await asyncio.sleep(min(1.0, self.refresh_seconds))
            if self.runtime.clock.now() - self._written_at < self.refresh_seconds:
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
