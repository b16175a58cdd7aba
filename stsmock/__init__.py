"""stsmock: a local OIDC issuer and AWS/MinIO-compatible STS in one process.

``create_app(config, data_dir=..., base_url=...)`` builds the aiohttp app;
``load_config`` reads a YAML file (or the embedded default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "load_config", "Config"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .app import create_app
    from .config import Config, load_config


def __getattr__(name: str) -> Any:
    """Lazy exports, so `import stsmock` (and the CLI) stays fast."""
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("load_config", "Config"):
        from . import config

        return getattr(config, name)
    raise AttributeError(name)
