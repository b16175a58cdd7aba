"""`stsmock env` (every delivery kind), `stsmock delivery ...`: credentials where a workload looks.

`stsmock env --delivery KIND --role-arn ARN [--sub S]` creates (or reuses) a
workload binding on the running server and prints exactly the environment a
workload needs for KIND: ``export`` lines for ``eval`` (``--format shell``) or
``KEY=VALUE`` lines for ``docker run --env-file`` (``--format docker``). Every
output sets the region and an explicit STS endpoint, so nothing falls through to
real AWS or fails with NoRegionError in a fresh HOME.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from stsmock.delivery.wire import render_env

from .admin_client import AdminClient, admin_options


def stsmock_executable() -> str:
    """An absolute path to this `stsmock`, so a credential_process works without PATH."""
    candidate = Path(sys.argv[0])
    if candidate.name == "stsmock" and candidate.exists():
        return str(candidate.resolve())
    beside = Path(sys.executable).with_name("stsmock")
    if beside.exists():
        return str(beside)
    found = shutil.which("stsmock")
    if found:
        return str(Path(found).resolve())
    raise click.ClickException("cannot find the stsmock executable for credential_process")


def binding_name(role_arn: str, sub: str | None, imds_v1: bool) -> str:
    role = re.sub(r"[^A-Za-z0-9_.-]", "-", role_arn.rsplit("/", 1)[-1])[:40] or "role"
    digest = hashlib.sha256(f"{role_arn}\0{sub or ''}\0{imds_v1}".encode()).hexdigest()[:10]
    return f"{role}-{digest}"


def ensure_binding(client: AdminClient, role_arn: str, sub: str | None, imds_v1: bool) -> dict[str, Any]:
    """The binding for (role, sub): every channel on, so each kind prints from the same one."""
    name = binding_name(role_arn, sub, imds_v1)
    listing = client.call("GET", "/admin/bindings")
    if any(b["name"] == name for b in listing["bindings"]):
        binding: dict[str, Any] = client.call("GET", f"/admin/bindings/{name}")
    else:
        body: dict[str, Any] = {
            "name": name,
            "role_arn": role_arn,
            "imds": {"v1": imds_v1},
            "files": {"credentials": f"{name}.credentials", "env": f"{name}.env"},
            "token_file": f"{name}.web-identity-token",
        }
        if sub:
            body["identity"] = {"sub": sub}
        binding = client.call("POST", "/admin/bindings", body)
    binding["region"] = listing.get("region", "us-east-1")
    return binding


def _container_credentials(url: str, token: str) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": token, "Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local endpoint
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        raise click.ClickException(
            f"container endpoint: HTTP {exc.code}: {exc.read().decode(errors='replace')}"
        ) from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc.reason}") from None


def delivery_env(
    client: AdminClient, kind: str, role_arn: str, sub: str | None, opts: dict[str, Any]
) -> dict[str, str]:
    from stsmock.delivery.envs import environment, process_command, process_config
    from stsmock.delivery.files import write_private

    binding = ensure_binding(client, role_arn, sub, opts["imds_v1"])
    region = binding["region"]
    extra: dict[str, Any] = {}
    if kind in ("container", "credential-process", "static") and not binding["container"]["url"]:
        raise click.ClickException("the container endpoint is disabled (delivery.container.enabled)")
    token_path = opts.get("auth_token_file")
    if kind == "container" and token_path:
        extra["auth_token_file"] = str(Path(token_path).resolve())
        write_private(Path(extra["auth_token_file"]), binding["container_token"])  # no trailing newline
    elif kind == "credential-process":
        base = Path(binding["files"]["credentials"])
        token_file = Path(token_path).resolve() if token_path else base.with_suffix(".auth-token")
        write_private(token_file, binding["container_token"])
        profile = f"stsmock-{binding['name']}"
        config_path = base.with_suffix(".aws-config")
        command = process_command(stsmock_executable(), binding, str(token_file))
        write_private(config_path, process_config(profile, command, region=region, sts_url=client.url))
        extra.update(config_file=str(config_path), profile=profile)
    elif kind == "static":
        extra["static_credentials"] = _container_credentials(binding["container"]["url"], binding["container_token"])
    return environment(kind, binding, sts_url=client.url, region=region, s3_url=opts.get("s3_url"), **extra)


@click.group()
def delivery() -> None:
    """Workload bindings and their credential channels (container endpoint, IMDS, files)."""


@delivery.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin_options
def delivery_list(as_json: bool, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """List bindings: role, channels, current credentials' expiry, rotations, handouts."""
    result = AdminClient.discover(url, admin_token, data_dir).call("GET", "/admin/bindings")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"container endpoint: {result['container_url'] or 'disabled'}")
    for b in result["bindings"]:
        creds = b["credentials"] or {}
        imds = (b["imds"] or {}).get("url") or "-"
        click.echo(
            f"{b['name']}\t{b['role_arn']}\timds={imds}\texpires={creds.get('expiration', '-')}\t"
            f"rotations={b['rotations']}\tserved={b['served']}"
        )


@delivery.command("remove")
@click.argument("name")
@admin_options
def delivery_remove(name: str, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """Remove binding NAME: its channels refuse it from now on."""
    AdminClient.discover(url, admin_token, data_dir).call("DELETE", f"/admin/bindings/{name}")
    click.echo(f"removed {name}")


@delivery.command("credential-process")
@click.option("--url", required=True, help="The container endpoint URL of the binding.")
@click.option("--token-file", type=click.Path(dir_okay=False, exists=True), default=None)
@click.option("--token", default=None, help="The binding's authorization token (prefer --token-file).")
def delivery_credential_process(url: str, token_file: str | None, token: str | None) -> None:
    """Print `credential_process` JSON (Version 1) for a binding, fetched from its container endpoint."""
    from stsmock.delivery.wire import process_output_from_container

    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    if not token:
        token = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    if not token:
        raise click.UsageError("give --token-file or --token")
    click.echo(process_output_from_container(_container_credentials(url, token)))


def print_env(values: dict[str, str], fmt: str) -> None:
    click.echo(render_env(values, "docker" if fmt == "docker" else "shell"), nl=False)
