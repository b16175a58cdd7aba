"""`serve --no-s3` reaches ready without importing what only other configurations use (start-up time, RSS).

Why: every module imported before the ready line is start-up time and resident memory of every
process (bench/run.py measures `serve --no-s3` against the bare aiohttp floor). The S3 gateway,
TLS, ``--workers``, the admin API's response models, the console's templates and the other CLI
commands are imported when they are configured or first used.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Runs the real CLI; the ready announcement records sys.modules and stops the server cleanly.
SCRIPT = """
import json, sys
import cli.serve
out = sys.argv[1]
def announce(line):
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)
    raise KeyboardInterrupt
cli.serve._announce = announce
import cli.main
sys.argv = ["stsmock", "serve", "--no-s3", "--port", "0", "--data-dir", sys.argv[2]]
cli.main.cli()
"""

NOT_AT_READY = (
    "stsmock.gateway",  # the S3 listener and its credential-plane adapter
    "stsmock.backends.seaweedfs",
    "stsproxy.gateway.proxy",
    "stsproxy.gateway.sigv4",
    "stsproxy.gateway.errors",
    "stsmock.tls",  # plain http
    "stsmock.workers",  # one process
    "multiprocessing",
    "ctypes",  # libc for --workers' children
    "stsmock.admin.responses",  # the admin response models: on the first OpenAPI document
    "stsmock.console.render",  # Jinja2 on the first page view
    "jinja2",
    "cli.assume",  # the other CLI commands
    "cli.delivery",
    "cli.drill",
    "cli.toolkit",
)


def _modules_at_ready(tmp_path: Path) -> set[str]:
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), proc.stderr
    return set(json.loads(out.read_text()))


def test_serve_no_s3_imports_only_what_it_serves(tmp_path: Path) -> None:
    modules = _modules_at_ready(tmp_path)
    assert {"stsmock.app", "stsproxy.web", "issuer.endpoints", "stsmock.admin"} <= modules  # it did start
    assert sorted(name for name in NOT_AT_READY if name in modules) == []
    # the gateway's settings model is part of the config; nothing else of the gateway is loaded
    assert sorted(m for m in modules if m.startswith("stsproxy.gateway.")) == ["stsproxy.gateway.settings"]
