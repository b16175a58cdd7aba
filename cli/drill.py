"""`stsmock drill refresh`: which delivery pattern survives credential expiry, measured with real clients."""

from __future__ import annotations

from pathlib import Path

import click

from .durations import DURATION


@click.group()
def drill() -> None:
    """Drills that run real clients against a private stsmock."""


@drill.command("refresh")
@click.option("--lifetime", type=int, default=20, show_default=True, help="Session seconds (drill-only, < 900).")
@click.option("--duration", "seconds", type=DURATION, default="75", show_default=True, help="How long clients run.")
@click.option("--interval", type=float, default=0.5, show_default=True, help="Seconds between calls (SDK clients).")
@click.option("--cli-interval", type=float, default=2.0, show_default=True, help="Seconds between `aws` runs.")
@click.option("--pattern", "patterns", multiple=True, help="Only these patterns (repeat).")
@click.option("--client", "clients", multiple=True, help="Only these clients: boto3, awscli, js, minio-py, minio-go.")
@click.option("--target", type=click.Choice(["sts", "s3"]), default="sts", show_default=True)
@click.option("--parallel", type=click.IntRange(1, 6), default=3, show_default=True, help="Patterns per wave.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="drill-results", show_default=True)
def refresh(
    lifetime: int,
    seconds: int,
    interval: float,
    cli_interval: float,
    patterns: tuple[str, ...],
    clients: tuple[str, ...],
    target: str,
    parallel: int,
    out_dir: str,
) -> None:
    """Real clients call continuously while credentials expire; table + JSON + HTML chart."""
    from stsmock.delivery.drill.runner import CLIENTS, DrillOptions, run
    from stsmock.delivery.envs import KINDS

    from .delivery import stsmock_executable

    if not 5 <= lifetime <= 899:
        raise click.BadParameter("must be 5..899 seconds", param_hint="--lifetime")
    for pattern in patterns:
        if pattern not in KINDS:
            raise click.BadParameter(f"{pattern!r}; choose from {', '.join(KINDS)}", param_hint="--pattern")
    for client in clients:
        if client not in CLIENTS:
            raise click.BadParameter(f"{client!r}; choose from {', '.join(CLIENTS)}", param_hint="--client")
    options = DrillOptions(
        lifetime=lifetime,
        seconds=float(seconds),
        interval=interval,
        cli_interval=cli_interval,
        patterns=patterns or KINDS,
        clients=clients or CLIENTS,
        target=target,
        parallel=parallel,
        out_dir=Path(out_dir),
        stsmock=stsmock_executable(),
    )
    try:
        run(options, say=click.echo)
    except RuntimeError as exc:  # the private server did not start, or has no S3 gateway
        raise click.ClickException(str(exc).splitlines()[0]) from None
