"""`stsmock ca path`: the local CA of `serve --tls`, the one file clients are told to trust."""

from __future__ import annotations

from pathlib import Path

import click


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
