"""The one change-feed guard of every listener: sync before deciding, fail closed in the listener's format.

The delivery listeners are built here with a ``sync_state`` that reports the store away — the case a
SQLite ``--workers`` server cannot produce on purpose — and each answers 503 in its own format
without reaching the engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from stsmock.delivery.container import container_app
from stsmock.delivery.engine import DeliveryEngine
from stsmock.delivery.imds import imds_app
from stsmock.delivery.ports import DeliveryPorts
from stsmock.delivery.settings import BindingSettings, DeliverySettings
from stsmock.store import StoreUnavailable

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"


class Clock:
    def now(self) -> float:
        return 1_000_000.0


class Audit:
    def __init__(self) -> None:
        self.records: list[str] = []

    def record(self, event: str, **fields: Any) -> None:
        self.records.append(event)


def _engine(tmp_path: Path, synced: list[int], away: bool) -> DeliveryEngine:
    def sync_state() -> None:
        synced.append(1)
        if away:
            raise StoreUnavailable("PostgreSQL at postgresql://db/x is unreachable")

    async def sts(params: dict[str, str]) -> tuple[int, bytes]:
        raise AssertionError("the STS must not be asked while the store is away")

    ports = DeliveryPorts(
        clock=Clock(),
        audit=Audit(),
        mint=lambda *a: "token",
        client_audience=lambda *a: None,
        token_endpoint=lambda issuer: "http://127.0.0.1/token",
        sts=sts,
        account_id="000000000000",
        region="us-east-1",
        sync_state=sync_state,
    )
    settings = DeliverySettings(
        bindings=[BindingSettings(name="web", role_arn=ROLE, container_token="t" * 32, imds={"port": 0})]
    )
    return DeliveryEngine(settings, ports, data_dir=tmp_path)


async def test_container_endpoint_fails_closed_in_its_json(tmp_path: Path) -> None:
    synced: list[int] = []
    engine = _engine(tmp_path, synced, away=True)
    async with TestClient(TestServer(container_app(engine))) as client:
        response = await client.get("/v1/credentials", headers={"Authorization": "t" * 32})
        assert response.status == 503 and synced
        doc = json.loads(await response.read())
        assert doc["Code"] == "ServiceUnavailable" and "state store unavailable" in doc["Message"]


async def test_imds_fails_closed_in_its_text(tmp_path: Path) -> None:
    synced: list[int] = []
    engine = _engine(tmp_path, synced, away=True)
    app = imds_app(engine, engine.bindings["web"])
    async with TestClient(TestServer(app)) as client:
        response = await client.put("/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        assert response.status == 503 and await response.text() == "Service Unavailable" and synced


async def test_every_request_syncs_first_when_the_store_is_there(tmp_path: Path) -> None:
    synced: list[int] = []
    engine = _engine(tmp_path, synced, away=False)
    async with TestClient(TestServer(container_app(engine))) as client:
        for n in (1, 2):
            response = await client.get("/v1/credentials", headers={"Authorization": "not-a-binding-token"})
            assert response.status == 403 and len(synced) == n
