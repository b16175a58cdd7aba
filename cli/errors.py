"""The CLI's one place for errors: one line on stderr and a non-zero exit status; ``--debug`` adds the traceback."""

from __future__ import annotations

import os
import sys

import click


def run(cli: click.Group) -> None:
    from stsmock.failures import one_line

    try:
        cli.main(prog_name="stsmock", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # one line, not click's usage block
        path = exc.ctx.command_path if exc.ctx else "stsmock"
        where = "stsmock " + path.split(" ", 1)[1] if " " in path else "stsmock"
        click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("stsmock: aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the one place that turns any error into a line
        if os.environ.get("STSMOCK_DEBUG"):
            import traceback

            traceback.print_exc()
        click.echo(f"stsmock: {one_line(exc)}", err=True)
        sys.exit(1)
