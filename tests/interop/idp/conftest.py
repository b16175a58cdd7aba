"""Session fixtures: real Keycloak, Dex and oidc-provider, and one stsmock STS trusting all three.

Keycloak is slow to boot on two shared cores, so its process is started as soon as collection
shows a selected test needs it, and the fixture only waits for it. Each IdP starts once per test
session. Installs go through ``scripts/idp-tools.sh`` (cached); on CI nothing here may skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stsmock.config import parse_config
from stsmock.pytest_plugin import StsmockHelper, start_server

from .servers import (
    Dex,
    Keycloak,
    OidcProvider,
    Process,
    keycloak_ready,
    start_dex,
    start_keycloak,
    start_oidc_provider,
)

_KEYCLOAK: dict[str, Any] = {}


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Boot Keycloak in the background while the rest of the session runs (only if a selected test needs it)."""
    items = session.items
    if any("real_keycloak" in getattr(item, "fixturenames", ()) for item in items) and "process" not in _KEYCLOAK:
        work = Path(tempfile.mkdtemp(prefix="stsmock-keycloak-"))
        try:
            _KEYCLOAK.update(process=start_keycloak(work), work=work)
        except Exception as exc:  # noqa: BLE001 - reported by the fixture, with CI's rule
            _KEYCLOAK["error"] = exc


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    process: Process | None = _KEYCLOAK.get("process")
    if process is not None:
        process.stop()
        shutil.rmtree(_KEYCLOAK["work"], ignore_errors=True)


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} could not be started here: {exc}"
    if _on_ci():
        pytest.fail(f"[CI] {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_keycloak() -> Keycloak:
    if "error" in _KEYCLOAK:
        _unavailable("Keycloak", _KEYCLOAK["error"])
    if "process" not in _KEYCLOAK:  # collected without the hook (e.g. a direct fixture request)
        work = Path(tempfile.mkdtemp(prefix="stsmock-keycloak-"))
        _KEYCLOAK.update(process=start_keycloak(work), work=work)
    if "ready" not in _KEYCLOAK:
        try:
            _KEYCLOAK["ready"] = keycloak_ready(_KEYCLOAK["process"])
        except RuntimeError as exc:
            _unavailable("Keycloak", exc)
        print(f"\nKeycloak ready {_KEYCLOAK['ready'].startup_seconds:.1f} s after its start")  # noqa: T201
    ready: Keycloak = _KEYCLOAK["ready"]
    return ready


@pytest.fixture(scope="session")
def real_dex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dex]:
    try:
        dex = start_dex(tmp_path_factory.mktemp("dex"), rotate_every="20s")
    except Exception as exc:  # noqa: BLE001
        _unavailable("Dex", exc)
    yield dex
    dex.process.stop()


@pytest.fixture(scope="session")
def real_oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, OidcProvider]]:
    """A mutable holder: the rotation test restarts the provider on the same port with a second key."""
    try:
        op = start_oidc_provider(tmp_path_factory.mktemp("oidc-provider"))
    except Exception as exc:  # noqa: BLE001
        _unavailable("oidc-provider", exc)
    holder = {"op": op}
    yield holder
    holder["op"].process.stop()


def _host(url: str) -> str:
    return url.split("://", 1)[1]


def web_identity_role(name: str, issuer: str, conditions: dict[str, Any]) -> dict[str, Any]:
    host = _host(issuer)
    expanded = {op: {f"{host}:{k}": v for k, v in kv.items()} for op, kv in conditions.items()}
    return {
        "name": name,
        "trust_policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::000000000000:oidc-provider/{host}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": expanded,
                }
            ],
        },
        "policies": {
            "s3": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        },
    }


def sts_trusting(
    issuers: list[dict[str, Any]], roles: list[dict[str, Any]], data_dir: Path, loop: Any
) -> StsmockHelper:
    config = parse_config(
        {
            "sts": {
                "trusted_issuers": issuers,
                "validation": {"jwks_refetch_min_interval_seconds": 0, "leeway_seconds": 60},
                "roles": roles,
            }
        }
    )
    return StsmockHelper(start_server(config, data_dir, loop))
