"""`stsmock ca path`: the local CA of `serve --tls`, the one file clients are told to trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def tls_options(func: Any) -> Any:
    """`serve --tls | --tls-cert F --tls-key F`."""
    func = click.option("--tls-key", type=click.Path(dir_okay=False), default=None, help="PEM key of --tls-cert.")(func)
    func = click.option("--tls-cert", type=click.Path(dir_okay=False), default=None, help="PEM chain for https.")(func)
    help_tls = "Serve https with a local CA and certificate kept in the data dir."
    return click.option("--tls", is_flag=True, help=help_tls)(func)


def apply_tls_options(server: Any, tls: bool, cert: str | None, key: str | None) -> None:
    """Fold the flags into ``server.tls`` (validated as a whole: cert and key go together)."""
    if (cert is None) != (key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls or cert:
        changes = {"enabled": True} | ({"cert": cert, "key": key} if cert else {})
        server.tls = type(server.tls).model_validate({**server.tls.model_dump(), **changes})


@click.group()
def ca() -> None:
    """The local CA of `serve --tls` (clients trust this one file)."""


@ca.command("path")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data dir (default: the usual).")
def ca_path_cmd(data_dir: str | None) -> None:
    """Print the CA certificate file, creating the local CA first if the data dir has none."""
    from stsmock.datadir import default_data_dir, prepare
    from stsmock.tls import ca_path, ensure_ca, write_bundle

    directory = prepare(Path(data_dir) if data_dir else default_data_dir())
    ensure_ca(directory)
    write_bundle(directory)
    click.echo(str(ca_path(directory)))
