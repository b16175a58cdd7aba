"""The CLI's lazily imported commands are the commands they name, and every one is listed and runs."""

from __future__ import annotations

import importlib

import pytest
from click.testing import CliRunner

from cli.main import LAZY_COMMANDS, cli


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_lazy_command_is_the_named_command(name: str) -> None:
    module, attribute = LAZY_COMMANDS[name].split(":")
    assert getattr(importlib.import_module(module), attribute).name == name
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output


def test_help_lists_every_command() -> None:
    listed = CliRunner().invoke(cli, ["--help"]).output.split("Commands:")[1].split()
    assert set(LAZY_COMMANDS) | {"serve", "token", "config"} <= set(listed)


def test_an_unknown_command_suggests_a_lazy_one() -> None:
    result = CliRunner().invoke(cli, ["asume"])
    assert result.exit_code != 0
    assert "Did you mean 'assume'?" in result.output
