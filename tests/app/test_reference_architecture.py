"""Run docs/reference-architecture.md: every ```python block, in order, against its config."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reference-architecture.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_walkthrough_has_every_scenario():
    assert len(_blocks()) >= 8


@pytest.mark.stsmock_config(str(ROOT / "configs" / "reference-architecture.yaml"))
def test_reference_architecture_walkthrough(stsmock, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace = {"stsmock": stsmock, "boto3": boto3, "ClientError": ClientError, "json": json, "os": os}
    for index, block in enumerate(_blocks()):
        try:
            exec(compile(block, f"{DOC.name}[block {index}]", "exec"), namespace)  # noqa: S102 - our own docs
        except Exception as exc:
            raise AssertionError(f"step {index} of the walkthrough failed:\n{block}") from exc
