"""`stsmock` command line entry point."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import click

from .admin_client import AdminClient, admin_options
from .durations import DURATION, parse_claim, parse_instant
from .serve import _load_config, serve


class LazyGroup(click.Group):
    """A group whose commands from other modules are imported when looked up (run, help, completion).

    Why: ``stsmock serve`` is a start-up path; the other commands' modules (HTTP clients, XML,
    the drill) cost it ~15 ms and their memory. ``lazy`` maps command name -> ``module:attribute``.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            wanted = [cmd_name]
        elif cmd_name in self.commands:
            wanted = []
        else:  # unknown: load every command, click's "Did you mean ...?" looks at self.commands
            wanted = list(self.lazy)
        for name in wanted:
            if name not in self.commands:
                module, attribute = self.lazy[name].split(":")
                self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, cmd_name)


#: Commands defined in their own modules, imported on first use.
LAZY_COMMANDS = {
    "assume": "cli.assume:assume",
    "env": "cli.assume:env",
    "ca": "cli.tls_commands:ca",
    "delivery": "cli.delivery:delivery",
    "drill": "cli.drill:drill",
    "faults": "cli.toolkit:faults",
    "breakglass": "cli.toolkit:breakglass",
    "policy": "cli.toolkit:policy",
}


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS)
@click.version_option(package_name="stsmock")
@click.option("--debug", is_flag=True, envvar="STSMOCK_DEBUG", help="Show the traceback of an unexpected error.")
def cli(debug: bool) -> None:
    """A local OIDC issuer and AWS/MinIO-compatible STS."""
    if debug:
        os.environ["STSMOCK_DEBUG"] = "1"  # also seen by `serve`'s own guard


@cli.group()
def config() -> None:
    """Show, validate or describe the configuration."""


@config.command("show")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True))
def config_show(config_path: str | None) -> None:
    """Print the embedded default config (or the given file, normalised)."""
    from stsmock.config import default_config_text

    if config_path is None:
        click.echo(default_config_text(), nl=False)
        return
    import yaml

    click.echo(yaml.safe_dump(_load_config(config_path).model_dump(mode="json"), sort_keys=False))


@config.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
def config_validate(file: str) -> None:
    """Check FILE; exit non-zero with the path of each bad field."""
    _load_config(file)
    click.echo(f"{file}: valid")


@config.command("schema")
def config_schema_cmd() -> None:
    """Print the JSON Schema of the config file (for editors)."""
    from stsmock.config import config_schema

    click.echo(json.dumps(config_schema(), indent=2))


@cli.command()
@click.option("--sub", help="Subject claim (default stsmock-cli).")
@click.option("--aud", multiple=True, help="Audience (repeat for several; default: the client's audience).")
@click.option("--claim", "claims", multiple=True, help="Extra claim KEY=VALUE (VALUE parsed as JSON if it can be).")
@click.option("--ttl", type=DURATION, default=None, help="Lifetime, e.g. 60, 15m, 1h.")
@click.option("--issuer", default="default", show_default=True)
@click.option("--alg", default=None, help="Signing algorithm (default: the issuer's).")
@click.option("--client-id", default=None, help="Client whose defaults (audience, alg, claims) apply.")
@admin_options
def token(
    sub: str | None,
    aud: tuple[str, ...],
    claims: tuple[str, ...],
    ttl: int | None,
    issuer: str,
    alg: str | None,
    client_id: str | None,
    url: str | None,
    admin_token: str | None,
    data_dir: str | None,
) -> None:
    """Print a signed JWT minted by the running server."""
    body: dict[str, Any] = {"issuer": issuer, "claims": dict(parse_claim(c) for c in claims)}
    # no --sub: a fixed subject, so the token is usable as is; no --aud: the server applies the
    # (default) client's audience, so the default role accepts it
    body["sub"] = sub or body["claims"].pop("sub", None) or "stsmock-cli"
    if aud:
        body["aud"] = aud[0] if len(aud) == 1 else list(aud)
    if ttl is not None:
        body["ttl"] = ttl
    if alg:
        body["alg"] = alg
    if client_id:
        body["client_id"] = client_id
    result = AdminClient.discover(url, admin_token, data_dir).call("POST", "/admin/tokens", body)
    click.echo(result["token"])


@cli.group()
def keys() -> None:
    """List, rotate and retire signing keys."""


@keys.command("list")
@click.option("--issuer", default=None)
@admin_options
def keys_list(issuer: str | None, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """Print issuer, kid, alg and state of every key (active, next, retired)."""
    path = "/admin/keys" + (f"?issuer={issuer}" if issuer else "")
    result = AdminClient.discover(url, admin_token, data_dir).call("GET", path)
    for name, items in result.items():
        for item in items:
            click.echo(f"{name}\t{item['kid']}\t{item['alg']}\t{item['state']}")


@keys.command("rotate")
@click.option("--issuer", default="default", show_default=True)
@click.option("--alg", default=None)
@admin_options
def keys_rotate(issuer: str, alg: str | None, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """Publish a new signing key; the old one stays in the JWKS for the grace period."""
    result = AdminClient.discover(url, admin_token, data_dir).call(
        "POST", "/admin/keys/rotate", {"issuer": issuer, "alg": alg}
    )
    click.echo(json.dumps(result, indent=2))


@keys.command("retire")
@click.argument("kid")
@click.option("--issuer", default="default", show_default=True)
@click.option("--now", "immediately", is_flag=True, help="Remove from the JWKS now, without the grace period.")
@admin_options
def keys_retire(
    kid: str, issuer: str, immediately: bool, url: str | None, admin_token: str | None, data_dir: str | None
) -> None:
    """Retire KID: kept in the JWKS for the grace period, or removed at once with --now."""
    client = AdminClient.discover(url, admin_token, data_dir)
    result = client.call("POST", f"/admin/keys/{kid}/retire", {"issuer": issuer, "immediately": immediately})
    click.echo(json.dumps(result, indent=2))


@cli.command()
@click.argument("by", type=click.Choice(["jti", "sub", "client_id", "iss", "role_arn", "session", "access_key"]))
@click.argument("value")
@click.option("--reason", default="", help="Why; recorded in the audit log.")
@click.option(
    "--issued-before",
    type=click.FloatRange(0, 253_402_300_799),
    default=None,
    help="Cut-off (epoch seconds) for sub/client_id/iss/role_arn.",
)
@admin_options
def revoke(
    by: str,
    value: str,
    reason: str,
    issued_before: float | None,
    url: str | None,
    admin_token: str | None,
    data_dir: str | None,
) -> None:
    """Revoke tokens and credentials by jti, subject, client, issuer, role, session or access key."""
    body: dict[str, Any] = {"by": by, "value": value, "reason": reason}
    if issued_before is not None:
        body["issued_before"] = issued_before
    result = AdminClient.discover(url, admin_token, data_dir).call("POST", "/admin/revocations", body)
    click.echo(json.dumps(result, indent=2))


@cli.command()
@click.option("--subject", default=None)
@click.option("--role", default=None)
@click.option("--decision", type=click.Choice(["allow", "deny"]), default=None)
@click.option("--event", default=None, help="Event name or prefix, e.g. sts or token.issued.")
@click.option("--since", type=DURATION, default=None, help="Only records newer than this, e.g. 10m.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--follow", is_flag=True, help="Keep printing new records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line.")
@admin_options
def audit(
    subject: str | None,
    role: str | None,
    decision: str | None,
    event: str | None,
    since: int | None,
    limit: int,
    follow: bool,
    as_json: bool,
    url: str | None,
    admin_token: str | None,
    data_dir: str | None,
) -> None:
    """Show audit records (the same filters as GET /admin/audit)."""
    from urllib.parse import urlencode

    client = AdminClient.discover(url, admin_token, data_dir)
    params: dict[str, Any] = {"limit": limit}
    for key, value in (("subject", subject), ("role", role), ("decision", decision), ("event", event)):
        if value:
            params[key] = value
    if since is not None:
        now = client.call("GET", "/admin/clock")["now"]
        params["since"] = now - since
    # the newest LIMIT records (printed oldest first), then whatever arrives after them
    records = client.call("GET", "/admin/audit?" + urlencode({**params, "order": "newest"}))["records"]
    after = 0
    while True:
        for record in sorted(records, key=lambda r: r["id"]):
            after = max(after, record["id"])
            click.echo(json.dumps(record) if as_json else _format_audit(record))
        if not follow:
            return
        time.sleep(1.0)
        records = client.call("GET", "/admin/audit?" + urlencode({**params, "after_id": after}))["records"]


def _format_audit(record: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record["ts"]))
    parts = [when, record["severity"].upper(), record["event"]]
    for key in ("decision", "code", "check", "sub", "role_arn", "message"):
        if record.get(key):
            parts.append(f"{key}={record[key]}")
    return "  ".join(parts)


@cli.command()
@click.argument("action", type=click.Choice(["show", "freeze", "unfreeze", "advance", "set", "reset"]))
@click.argument("value", required=False)
@admin_options
def clock(action: str, value: str | None, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """Show or change the virtual clock: freeze, advance 2h, set EPOCH, unfreeze, reset."""
    from .durations import parse_duration

    client = AdminClient.discover(url, admin_token, data_dir)
    if action == "show":
        state = client.call("GET", "/admin/clock")
    else:
        body: dict[str, Any] = {"action": action}
        if action == "advance":
            if not value:
                raise click.UsageError("advance needs a duration, e.g. 'stsmock clock advance 2h'")
            body["seconds"] = parse_duration(value)
        elif action in ("set", "freeze") and value:
            body["at"] = parse_instant(value)
        elif action == "set":
            raise click.UsageError("set needs epoch seconds or an ISO 8601 time, e.g. 2026-12-01T00:00:00Z")
        state = client.call("POST", "/admin/clock", body)
    click.echo(json.dumps(state, indent=2))


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True), default=None)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    type=click.Choice(["aws", "minio", "ceph-rgw", "seaweedfs"]),
    help="Relying party (lint: one, default aws; with --issuer: repeat, default all).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--max-session", type=DURATION, default=None, help="Longest acceptable session (default 12h; 365d for minio)."
)
@click.option("--issuer", default=None, help="A preset name or an issuer URL: does it work with the profile(s)?")
@click.option("--table", is_flag=True, help="The Markdown table of every preset and relying party.")
def check(
    config_path: str | None,
    profiles: tuple[str, ...],
    fmt: str,
    max_session: int | None,
    issuer: str | None,
    table: bool,
) -> None:
    """Lint an architecture (trust, audiences, session lengths, break-glass, profile quirks), or with
    --issuer say whether an IdP's tokens work with a relying party and what to configure."""
    from stsmock.lint import format_text, lint

    if issuer or table:
        from .check import idp_check

        idp_check(issuer, profiles, fmt, table)
        return
    if len(profiles) > 1 or "seaweedfs" in profiles:
        raise click.UsageError("the architecture lint takes one --profile of aws, minio, ceph-rgw")
    profile = profiles[0] if profiles else "aws"

    if max_session is None:
        max_session = 31_536_000 if profile == "minio" else 43_200
    findings = lint(_load_config(config_path), profile=profile, max_session_seconds=max_session)  # type: ignore[arg-type]
    if fmt == "json":
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        click.echo(format_text(findings))
    if any(f.severity == "error" for f in findings):
        sys.exit(1)


cli.add_command(serve)


def main() -> None:
    from .errors import run

    run(cli)


if __name__ == "__main__":
    main()
