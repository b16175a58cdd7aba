"""`stsmock serve`: parse the options, build ServeOptions, run (issuer, STS and the S3 gateway)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .durations import DURATION
from .tls_commands import apply_tls_options, tls_options


def _load_config(path: str | None) -> Any:
    from stsmock.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from None


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True), help="YAML config file.")
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8400; 0 picks a free port).")
@click.option("--public-url", default=None, help="Issuer base URL when behind Docker or a proxy.")
@click.option(
    "--data-dir", type=click.Path(file_okay=False, readable=False), default=None, help="Keys, admin token and state."
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None)
@click.option(
    "--token-file", type=click.Path(dir_okay=False), default=None, help="Keep a fresh web-identity token here."
)
@click.option("--token-refresh", type=DURATION, default="5m", show_default=True, help="Token file refresh interval.")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=None, help="Worker processes sharing the port (SO_REUSEPORT)."
)
@click.option(
    "--s3-port",
    type=int,
    default=None,
    help="S3 gateway port (default 8402; 0 picks a free port, and so does --port 0).",
)
@click.option("--no-s3", is_flag=True, help="Run without the S3 gateway (and without the embedded S3 store).")
@tls_options
@click.option("--store", "store_url", envvar="STSMOCK_STORE_URL", help="postgresql://... shared by replicas.")
def serve(
    config_path: str | None,
    host: str | None,
    port: int | None,
    public_url: str | None,
    data_dir: str | None,
    log_level: str | None,
    log_format: str | None,
    token_file: str | None,
    token_refresh: int,
    workers: int | None,
    s3_port: int | None,
    no_s3: bool,
    store_url: str | None,
    tls: bool,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Run the issuer, the STS and the S3 gateway."""
    from stsmock.heap import pause_collection, resume_collection

    pause_collection()  # until settle_heap, 1 s after ready (start-up time)
    try:
        from stsmock.datadir import default_data_dir
        from stsmock.server import ServeOptions, main_guard
        from stsmock.serving import run

        config = _load_config(config_path)
        server = config.server
        if log_level:
            server.log_level = log_level
        if log_format:
            server.log_format = log_format
        config.store.url = store_url or config.store.url
        apply_tls_options(server, tls, tls_cert, tls_key)
        options = ServeOptions(
            config=config,
            data_dir=Path(data_dir) if data_dir else default_data_dir(),
            host=host or server.host,
            port=server.port if port is None else port,
            public_url=public_url or server.public_url,
            token_file=Path(token_file) if token_file else None,
            token_refresh=token_refresh,
            announce=_announce,
        )
        options.s3_port = s3_port if s3_port is not None else (0 if options.port == 0 else config.gateway.port)
        options.s3_port_fallback = s3_port is None
        if no_s3:
            options.s3_port = None
        sys.exit(main_guard(lambda: run(options, workers=workers or server.workers)))
    finally:
        resume_collection()  # a failed start (or a CliRunner in a test process) leaves the collector on


def _announce(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()
