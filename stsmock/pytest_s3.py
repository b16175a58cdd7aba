"""The pytest plugin's S3 fixture: ``stsmock_s3`` is the URL of a gateway enforcing ``stsmock_server``'s
credentials, backed by one embedded SeaweedFS per test process (started on first use)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def stsmock_s3(stsmock_server: Any, _stsmock_loop: Any) -> Iterator[str]:
    from .gateway import s3_test_listener

    listener = _stsmock_loop.run(s3_test_listener(stsmock_server.runtime))
    try:
        yield listener.url
    finally:
        _stsmock_loop.run(listener.stop())
