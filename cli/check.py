"""``stsmock check``: can this issuer's tokens be used with this relying party, and how."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import click


def _fetch_json(url: str, timeout: float) -> Any:
    if not url.startswith(("http://", "https://")):
        raise click.ClickException(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read(1_000_000))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {url}: {exc}") from None


def live_facts(issuer: str, timeout: float = 10.0) -> Any:
    """Facts of an external issuer from its discovery document and JWKS (the only I/O of ``check``)."""
    from stsmock.idpcheck import from_documents

    issuer = issuer.rstrip("/")
    discovery = _fetch_json(issuer + "/.well-known/openid-configuration", timeout)
    if not isinstance(discovery, dict) or not isinstance(discovery.get("jwks_uri"), str):
        raise click.ClickException(f"{issuer}: the discovery document has no jwks_uri")
    jwks = _fetch_json(discovery["jwks_uri"], timeout)
    if not isinstance(jwks, dict):
        raise click.ClickException(f"{discovery['jwks_uri']}: not a JWKS")
    return from_documents(issuer, discovery, jwks)


def idp_check(issuer: str | None, profiles: tuple[str, ...], fmt: str, table: bool) -> None:
    """``stsmock check --issuer PRESET|URL [--profile P ...]`` and ``stsmock check --table``."""
    from stsmock.idpcheck import PROFILES, from_preset
    from stsmock.idpcheck import check as run_check
    from stsmock.idpcheck.render import as_json, markdown_table, text

    if table:
        click.echo(markdown_table())
        return
    if not issuer:
        raise click.UsageError("give --issuer PRESET|URL, or --table")
    if "://" in issuer:
        facts = live_facts(issuer)
    else:
        try:
            facts = from_preset(issuer)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    verdicts = [run_check(facts, p) for p in (profiles or PROFILES)]
    if fmt == "json":
        click.echo(as_json(verdicts))
    else:
        click.echo("\n\n".join(text(v) for v in verdicts))
