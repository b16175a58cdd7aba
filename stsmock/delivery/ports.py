"""What the delivery engine needs from the rest of stsmock, as typed collaborators.

The engine never reaches into the runtime: the composition root hands it a clock,
an audit sink, a way to get a web-identity token minted and a way to ask the STS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class Audit(Protocol):
    def record(self, event: str, **fields: Any) -> None: ...


@dataclass(frozen=True)
class DeliveryPorts:
    clock: Clock
    audit: Audit
    #: (issuer, claims, ttl, client_id) -> signed JWT from a built-in issuer.
    mint: Callable[[str, dict[str, Any], int, str | None], str]
    #: (issuer, client_id) -> that client's audience (what its tokens carry), or None.
    client_audience: Callable[[str, str], str | list[str] | None]
    #: issuer name -> its token endpoint URL (for the client_credentials identity).
    token_endpoint: Callable[[str], str]
    #: STS form parameters -> (HTTP status, body): the STS pipeline, in process.
    sts: Callable[[dict[str, str]], Awaitable[tuple[int, bytes]]]
    account_id: str
    region: str
    #: Apply every acknowledged change of shared state (the change feed) before deciding; raises
    #: ``StoreUnavailable`` when the store cannot be reached (the listeners then fail closed).
    sync_state: Callable[[], object] = field(default=lambda: None)
