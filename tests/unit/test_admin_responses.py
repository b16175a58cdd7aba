"""Every response model an admin route names exists in ``stsmock.admin.responses``.

Routes name their response models (the classes are created for the OpenAPI document only, not at
start-up), so a misspelt name would otherwise only show as a dangling ``$ref`` in the document.
"""

from __future__ import annotations

from pydantic import BaseModel

from stsmock.admin import TABLES, responses
from stsmock.admin.http import operation_of


def test_every_named_response_model_exists() -> None:
    named = {
        model
        for table in TABLES
        for route in table
        if (op := operation_of(getattr(route, "handler", None))) is not None
        for _, model in op.responses.values()
        if model is not None
    }
    assert named, "no admin route names a response model"
    missing = sorted(n for n in named if not isinstance(getattr(responses, n, None), type))
    assert missing == []
    assert all(issubclass(getattr(responses, n), BaseModel) for n in named)
