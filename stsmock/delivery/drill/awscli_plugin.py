"""AWS CLI v1 plugin for the drill: report the access key each request was signed with (never the secret).

Loaded through ``[plugins] stsmock_drill = stsmock.delivery.drill.awscli_plugin`` in the
drill's AWS_CONFIG_FILE; prints ``STSMOCK_DRILL_KEY=<access key id>`` on stderr.
"""

from __future__ import annotations

import re
import sys
from typing import Any

_CREDENTIAL = re.compile(rb"Credential=([A-Z0-9]{16,128})/")


def _before_send(request: Any, **_: Any) -> None:
    header = request.headers.get("Authorization") or b""
    if isinstance(header, str):
        header = header.encode()
    match = _CREDENTIAL.search(header)
    if match:
        sys.stderr.write(f"STSMOCK_DRILL_KEY={match.group(1).decode()}\n")


def awscli_initialize(cli: Any) -> None:
    cli.register("before-send", _before_send)
