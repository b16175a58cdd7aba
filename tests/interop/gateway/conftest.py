"""Fixtures for the S3 gateway client tests: ``gateway`` runs against the embedded SeaweedFS and Ceph RGW."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import GatewayServer, need, start_gateway, stop_gateway


@pytest.fixture(scope="session", params=["embedded", "rgw"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    backend = None
    if request.param == "embedded":
        need("weed", "pip install 'stsmock[s3]' (scripts/install.sh does)")
    else:
        rgw = request.getfixturevalue("ceph_rgw")
        backend = {"name": "rgw", "endpoint": rgw.endpoint, "access_key": rgw.access_key, "secret_key": rgw.secret_key}
    server = start_gateway(request.param, tmp_path_factory.mktemp(f"gw-{request.param}"), backend)
    try:
        yield server
    finally:
        stop_gateway(server)
