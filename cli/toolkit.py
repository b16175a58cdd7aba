"""Architect's toolkit commands: ``faults``, ``breakglass`` and ``policy simulate``."""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path
from typing import Any

import click

from .admin_client import AdminClient, admin_options
from .durations import DURATION

STS_ERROR_HELP = "IDPCommunicationError, InvalidIdentityToken, Throttling, ServiceUnavailable, InternalFailure, ..."


def _client(url: str | None, admin_token: str | None, data_dir: str | None) -> AdminClient:
    return AdminClient.discover(url, admin_token, data_dir)


# -- faults ------------------------------------------------------------------------


@click.group()
def faults() -> None:
    """Inject failures into the STS, the token endpoint or the JWKS."""


@faults.command("add")
@click.option("--endpoint", type=click.Choice(["sts", "token", "jwks", "any"]), default="sts", show_default=True)
@click.option("--action", default=None, help="STS Action (e.g. AssumeRoleWithWebIdentity) or token grant_type.")
@click.option("--role-arn", default=None, help="Only STS calls for this RoleArn.")
@click.option("--client-id", default=None, help="Only token requests of this client.")
@click.option("--error", default=None, help=f"Error code: {STS_ERROR_HELP} or an RFC 6749 code for the token endpoint.")
@click.option("--latency", "latency_ms", type=click.IntRange(0, 120_000), default=0, help="Added delay (ms).")
@click.option("--jwks-outage", is_flag=True, help="The built-in JWKS is unreachable (STS: IDPCommunicationError).")
@click.option("--drop", "drop_connection", is_flag=True, help="Close the connection without an answer.")
@click.option("--count", type=click.IntRange(1), default=None, help="Only the next N matching calls.")
@click.option("--probability", type=click.FloatRange(0, 1), default=None, help="Fire with this probability.")
@click.option("--seed", type=int, default=None, help="Seed for a reproducible --probability sequence.")
@admin_options
def faults_add(
    endpoint: str,
    action: str | None,
    role_arn: str | None,
    client_id: str | None,
    error: str | None,
    latency_ms: int,
    jwks_outage: bool,
    drop_connection: bool,
    count: int | None,
    probability: float | None,
    seed: int | None,
    url: str | None,
    admin_token: str | None,
    data_dir: str | None,
) -> None:
    """Add a fault rule; prints it (with its id)."""
    match: dict[str, Any] = {"endpoint": endpoint}
    for key, value in (("action", action), ("role_arn", role_arn), ("client_id", client_id)):
        if value:
            match[key] = value
    effect: dict[str, Any] = {"latency_ms": latency_ms, "jwks_outage": jwks_outage, "drop_connection": drop_connection}
    if error:
        effect["error"] = error
    body: dict[str, Any] = {"match": match, "effect": effect}
    options: dict[str, Any] = {"count": count, "probability": probability, "seed": seed}
    body.update({k: v for k, v in options.items() if v is not None})
    rule = _client(url, admin_token, data_dir).call("POST", "/admin/faults", body)
    click.echo(json.dumps(rule, indent=2))


def _format_rule(rule: dict[str, Any]) -> str:
    match = " ".join(f"{k}={v}" for k, v in rule["match"].items())
    effect = " ".join(f"{k}={v}" for k, v in rule["effect"].items() if v)
    extra = []
    if rule.get("remaining") is not None:
        extra.append(f"remaining={rule['remaining']}")
    if rule.get("probability") is not None:
        extra.append(f"p={rule['probability']}" + (f" seed={rule['seed']}" if rule.get("seed") is not None else ""))
    extra.append(f"fired={rule.get('fired', 0)}")
    return "\t".join([rule["id"], match, effect, " ".join(extra)])


@faults.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin_options
def faults_list(as_json: bool, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """Show the active fault rules."""
    rules = _client(url, admin_token, data_dir).call("GET", "/admin/faults")["faults"]
    if as_json:
        click.echo(json.dumps(rules, indent=2))
        return
    if not rules:
        click.echo("no fault rules")
    for rule in rules:
        click.echo(_format_rule(rule))


@faults.command("clear")
@click.argument("rule_id", required=False)
@admin_options
def faults_clear(rule_id: str | None, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """Remove one rule (RULE_ID) or all of them."""
    client = _client(url, admin_token, data_dir)
    if rule_id:
        client.call("DELETE", f"/admin/faults/{rule_id}")
        click.echo(f"removed {rule_id}")
    else:
        removed = client.call("DELETE", "/admin/faults")["removed"]
        click.echo(f"removed {removed} fault rule(s)")


# -- break-glass ------------------------------------------------------------------


@click.group()
def breakglass() -> None:
    """Arm, disarm and list break-glass roles."""


def _format_state(state: dict[str, Any]) -> str:
    if state.get("armed"):
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state["armed_until"]))
        status = f"ARMED until {until} by {state.get('armed_by')}: {state.get('reason')}"
    else:
        status = "disarmed"
    return f"{state['role']}\t{status}\tuses={state.get('uses', 0)}"


@breakglass.command("arm")
@click.argument("role")
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@click.option("--ttl", type=DURATION, default="15m", show_default=True, help="How long it stays armed (1m..24h).")
@admin_options
def breakglass_arm(
    role: str, reason: str, ttl: int, url: str | None, admin_token: str | None, data_dir: str | None
) -> None:
    """Arm the break-glass role ROLE (by name)."""
    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "cli"
    body = {"reason": reason, "ttl_seconds": ttl, "armed_by": f"cli:{who}"}
    state = _client(url, admin_token, data_dir).call("POST", f"/admin/breakglass/{role}/arm", body)
    click.echo(_format_state(state))


@breakglass.command("disarm")
@click.argument("role")
@admin_options
def breakglass_disarm(role: str, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """Disarm the break-glass role ROLE now."""
    state = _client(url, admin_token, data_dir).call("POST", f"/admin/breakglass/{role}/disarm", {})
    click.echo(_format_state(state))


@breakglass.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin_options
def breakglass_list(as_json: bool, url: str | None, admin_token: str | None, data_dir: str | None) -> None:
    """Every break-glass role and whether it is armed."""
    states = _client(url, admin_token, data_dir).call("GET", "/admin/breakglass")["roles"]
    if as_json:
        click.echo(json.dumps(states, indent=2))
        return
    if not states:
        click.echo("no break-glass roles configured")
    for state in states:
        click.echo(_format_state(state))


# -- policy simulation --------------------------------------------------------------


@click.group()
def policy() -> None:
    """Explore trust and permission policies without minting anything."""


def _json_arg(value: str, what: str) -> Any:
    text = value
    if not value.lstrip().startswith(("{", "[")) and Path(value).is_file():
        text = Path(value).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"{what} is not valid JSON: {exc}") from None


@policy.command("simulate")
@click.option("--role", "role_arn", required=True, help="Role ARN.")
@click.option("--token", default=None, help="A web-identity JWT (verified first).")
@click.option("--claims", default=None, help="Claims as JSON (or a JSON file) for a synthetic token.")
@click.option("--issuer", default="default", show_default=True, help="Built-in issuer for --claims.")
@click.option("--action", required=True, help="e.g. s3:GetObject")
@click.option("--resource", default="*", show_default=True, help="e.g. arn:aws:s3:::bucket/key")
@click.option("--session-policy", default=None, help="Session policy JSON file (or inline JSON).")
@click.option("--context", "context_json", default=None, help="Extra condition keys as JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON result only.")
@admin_options
def policy_simulate(
    role_arn: str,
    token: str | None,
    claims: str | None,
    issuer: str,
    action: str,
    resource: str,
    session_policy: str | None,
    context_json: str | None,
    as_json: bool,
    url: str | None,
    admin_token: str | None,
    data_dir: str | None,
) -> None:
    """Would this token get ROLE, and may the session do ACTION on RESOURCE?"""
    if (token is None) == (claims is None):
        raise click.UsageError("give exactly one of --token or --claims")
    body: dict[str, Any] = {"role_arn": role_arn, "action": action, "resource": resource, "issuer": issuer}
    if token is not None:
        body["token"] = token
    else:
        body["claims"] = _json_arg(claims or "{}", "--claims")
    if session_policy:
        body["session_policy"] = _json_arg(session_policy, "--session-policy")
    if context_json:
        body["context"] = _json_arg(context_json, "--context")
    result = _client(url, admin_token, data_dir).call("POST", "/admin/simulate", body)
    if not as_json:
        trust, perms = result["trust"], result.get("permissions") or {}
        click.echo(f"trust:       {trust['decision']}: {trust['reason']}")
        if perms:
            click.echo(f"permissions: {perms['decision']}: {perms['reason']}")
        click.echo(f"allowed:     {'yes' if result['allowed'] else 'no'}")
    click.echo(json.dumps(result, indent=2))


COMMANDS = (faults, breakglass, policy)
