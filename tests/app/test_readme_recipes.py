"""Every README recipe, run as written in a fresh HOME with no ~/.aws and no AWS_* variables.

Recipes are the fenced blocks the README marks with ``<!-- recipe: NAME -->``. Only the port
(``127.0.0.1:8400`` becomes the test server's) and ``/tmp/`` paths (a per-test directory) are
substituted. ``MIRROR`` holds each recipe's hash: a README recipe that changes without this file
fails :func:`test_recipes_match_the_mirror` — check the runner and the expected output below
still say what the README says, then update the hash.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
ARN = re.compile(r"arn:aws:sts::000000000000:assumed-role/stsmock-dev/")

#: name -> (language, sha256 of the block, what the output must show)
MIRROR: dict[str, tuple[str, str, re.Pattern[str]]] = {
    "quick-start": ("console", "fc645d5fc7897bf0", re.compile(r"export AWS_REGION=us-east-1")),
    "boto3": ("python", "3fad0e6d9f162862", re.compile(r"assumed-role/stsmock-dev/me")),
    "web-identity-provider": ("bash", "0de50ccbfd822333", ARN),
    "env-static": ("bash", "1a78c5739d3c96be", ARN),
    "credential-process-profile": (
        "bash",
        "e815d36b92be3ce9",
        re.compile(r"(?s)assumed-role/stsmock-dev/.*assumed-role/stsmock-dev/"),
    ),
    "aws-cli": ("bash", "681ddc97755017c1", re.compile(r'"SubjectFromWebIdentityToken": "cli"')),
    "minio-py": ("python", "990797478451d675", re.compile(r"^ASIA", re.M)),
    "delivery-container": ("bash", "a551615e58ccf347", ARN),
    "delivery-imds": ("bash", "2f82cf1ffbe7f1a5", ARN),
    "delivery-docker-env-file": ("bash", "d8c9185859a7849b", ARN),
    "s3-gateway": ("python", "34071332ec50f396", re.compile(r"b'x'")),
    "s3-post-form": ("python", "9245829818e70ce2", re.compile(r"204 b'hi from a form'")),
    "pytest-plugin": ("python", "27c408fa059748a4", re.compile(r"2 passed")),
    "https": (
        "bash",
        "75278ab96899c9c4",
        re.compile(r'(?s)AWS_CA_BUNDLE=.*"Arn": "arn:aws:sts::000000000000:assumed-role/stsmock-dev/'),
    ),
}
#: Recipes that start their own server: they get a free port (and keep their own data dir).
SELF_SERVING = ("web-identity-provider", "https")

_BLOCK = re.compile(r"^<!-- recipe: ([\w-]+) -->\n```(\w+)\n(.*?)^```$", re.M | re.S)
_FENCE = re.compile(r"^```(\w*)$", re.M)


def readme_recipes() -> dict[str, tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    return {m.group(1): (m.group(2), m.group(3)) for m in _BLOCK.finditer(text)}


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def test_every_block_in_quick_start_and_recipes_is_a_marked_recipe():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quick start") : text.index("## STS behaviour and profiles")]
    section = section.replace(section[section.index("## What it does") : section.index("## Recipes")], "")
    openings = [m for i, m in enumerate(_FENCE.finditer(section)) if i % 2 == 0]
    for opening in openings:
        before = section[: opening.start()].rstrip("\n").rsplit("\n", 1)[-1]
        assert before.startswith("<!-- recipe: "), (
            f"unmarked code block in the README: {section[opening.start() :][:80]!r}"
        )


def test_recipes_match_the_mirror():
    found = readme_recipes()
    assert set(found) == set(MIRROR), "README recipes and this test's MIRROR differ"
    changed = {name: _digest(body) for name, (lang, body) in found.items() if MIRROR[name][1] != _digest(body)}
    assert not changed, f"README recipes changed; re-check their runners, then set these hashes: {changed}"
    assert all(found[name][0] == MIRROR[name][0] for name in found)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    xdg = tmp_path_factory.mktemp("xdg")
    with ServeProcess(xdg / "stsmock") as proc:
        proc.xdg = xdg  # type: ignore[attr-defined]
        yield proc


def _fresh_env(home: Path, server: ServeProcess) -> dict[str, str]:
    """What a new user's shell has: a HOME without ~/.aws, the venv on PATH, no AWS_* at all."""
    home.mkdir(parents=True, exist_ok=True)
    assert not (home / ".aws").exists()
    env = {"HOME": str(home), "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    env["XDG_DATA_HOME"] = str(server.xdg)  # type: ignore[attr-defined]  # where `stsmock` finds the server
    return env


def _substitute(body: str, url: str, tmp: Path) -> str:
    return body.replace("http://127.0.0.1:8400", url).replace("/tmp/", f"{tmp}/")


def _docker_works() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def _run_bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # background jobs a recipe starts (`stsmock serve &`) end with it
    wrapped = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nset -euo pipefail\n" + script
    return subprocess.run(["bash", "-c", wrapped], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)


def _run(name: str, lang: str, body: str, server: ServeProcess, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = _fresh_env(tmp / "home", server)
    work = tmp / "work"
    work.mkdir()
    if name in SELF_SERVING:  # the recipe starts its own server: give it a free port and data dir
        port = _free_port()
        body = body.replace("stsmock serve ", f"stsmock serve --port {port} --data-dir {tmp}/own-data ").replace(
            "127.0.0.1:8400", f"127.0.0.1:{port}"
        )
        return _run_bash(_substitute(body, f"http://127.0.0.1:{port}", tmp), env, work)
    body = _substitute(body, server.url, tmp)
    if name == "delivery-docker-env-file" and not _docker_works():
        # no Docker daemon here: read the env file by docker's rules (KEY=VALUE per line, taken
        # literally: no quotes, no `export`) and run the container's command on the host network
        first, second = body.splitlines()
        assert second.startswith("docker run --rm --network host --env-file app.env amazon/aws-cli ")
        made = _run_bash(first, env, work)
        assert made.returncode == 0, made.stderr
        container_env = {}
        for line in (work / "app.env").read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key) and not value.startswith(("'", '"')), line
            container_env[key] = value
        argv = ["aws", *second.split("amazon/aws-cli ", 1)[1].split()]
        base = {"PATH": env["PATH"], "HOME": env["HOME"]}
        return subprocess.run(
            argv, env={**base, **container_env}, cwd=work, capture_output=True, text=True, timeout=120
        )
    if lang == "bash":
        return _run_bash(body, env, work)
    if lang == "console":
        commands = [line[2:] for line in body.splitlines() if line.startswith("$ ") and " serve" not in line]
        return _run_bash("\n".join(commands), env, ROOT)
    script = work / ("test_recipe.py" if name == "pytest-plugin" else "recipe.py")
    script.write_text(body, encoding="utf-8")
    if name == "pytest-plugin":
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
    else:
        argv = [sys.executable, str(script)]
    return subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("name", sorted(MIRROR))
def test_recipe_runs_in_a_fresh_home(name, server, tmp_path):
    recipes = readme_recipes()
    assert name in recipes, f"the README has no recipe {name!r}"
    lang, body = recipes[name]
    done = _run(name, lang, body, server, tmp_path)
    assert done.returncode == 0, f"recipe {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert MIRROR[name][2].search(done.stdout), f"recipe {name}: unexpected output:\n{done.stdout[-2000:]}"
    assert "amazonaws.com" not in done.stderr  # nothing went to real AWS
