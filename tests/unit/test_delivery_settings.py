"""A binding's session_name keeps the rules, message and schema of ``Field(pattern=...)``.

Its pattern is compiled on the first value checked instead of with the config's validator
(start-up time); this pins that nothing a user sees changed.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from stsmock.config import config_schema
from stsmock.delivery.settings import SESSION_NAME_PATTERN, BindingSettings

ARN = "arn:aws:iam::000000000000:role/app"


class Reference(BaseModel):
    """The declaration the lazy check replaces."""

    session_name: str | None = Field(default=None, pattern=SESSION_NAME_PATTERN)


CASES = ["ab", "x" * 64, "ok-name@x.y=z,+", "éa", "a\u0301b", "a", "x" * 65, "bad name", "ab\n", "", 5, None]


def _outcome(model: type[BaseModel], value: object, **extra: object) -> object:
    try:
        return model.model_validate({**extra, "session_name": value}).session_name  # type: ignore[attr-defined]
    except ValidationError as exc:
        return [(e["type"], e["loc"], e["msg"]) for e in exc.errors()]


@pytest.mark.parametrize("value", CASES)
def test_session_name_accepts_and_refuses_as_the_pattern_field(value: object) -> None:
    assert _outcome(BindingSettings, value, name="app", role_arn=ARN) == _outcome(Reference, value)


def test_session_name_assignment_is_checked_too() -> None:
    binding = BindingSettings(name="app", role_arn=ARN)
    with pytest.raises(ValidationError, match="String should match pattern"):
        binding.session_name = "a b"


def test_session_name_schema_is_the_pattern_fields() -> None:
    schema = config_schema()["$defs"]["BindingSettings"]["properties"]["session_name"]
    reference = Reference.model_json_schema()["properties"]["session_name"]
    assert schema["anyOf"] == reference["anyOf"]
