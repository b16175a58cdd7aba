"""A config section left out of the file, and the STS settings, cost no validator of their own (start-up).

Its default is ``{}`` validated by the config's one validator, exactly what the section model's
constructor gives (same values, same fields set); the section model builds its own validator only
when something validates or assigns through it later.
"""

from __future__ import annotations

import subprocess
import sys

from stsmock.config import Config, expand_placeholders, load_config
from stsmock.delivery.settings import DeliverySettings
from stsmock.runtime import issuer_url
from stsmock.wiring import sts_settings
from stsproxy.gateway.settings import GatewaySettings
from stsproxy.settings import StsSettings

PROBE = """
from stsmock.config import load_config
from stsmock.delivery.settings import DeliverySettings
from stsmock.wiring import sts_settings
from stsproxy.gateway.settings import GatewaySettings
from stsproxy.settings import StsSettings
config = load_config(None)  # the embedded default has no gateway: and no delivery: section
sts_settings(config, "http://127.0.0.1:8400")
print(GatewaySettings.__pydantic_complete__, DeliverySettings.__pydantic_complete__, StsSettings.__pydantic_complete__)
"""


def test_absent_sections_build_no_validator_of_their_own() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


def test_sts_settings_resolve_placeholders_as_the_sts_model_would() -> None:
    config = load_config(None)
    base = "http://127.0.0.1:8400"
    urls = {i.name: issuer_url(base, i.name, i) for i in config.issuers}
    expected = StsSettings.model_validate(expand_placeholders(config.sts.model_dump(mode="json"), urls))
    resolved = sts_settings(config, base)
    assert resolved == expected
    assert "{provider:" not in resolved.model_dump_json()


def test_an_absent_section_is_its_models_defaults() -> None:
    config = Config.model_validate({})
    for name, model in (("gateway", GatewaySettings), ("delivery", DeliverySettings), ("sts", StsSettings)):
        section = getattr(config, name)
        assert type(section) is model
        assert section == model()
        assert section.model_fields_set == set()
    assert config.model_fields_set == set()
    assert [i.name for i in config.issuers] == ["default"]
