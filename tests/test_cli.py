"""The command line: every subcommand documents itself, and exit codes scripts can rely on."""

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from carelens import cli

runner = CliRunner()


def command_names() -> list[str]:
    group = typer.main.get_group(cli.app)
    names = []
    for name, command in group.commands.items():
        names.append(name)
        if hasattr(command, "commands"):  # sub-apps such as `carelens db`
            names += [f"{name} {sub}" for sub in command.commands]
    return names


def test_the_core_commands_exist():
    assert {"funnel", "spc", "demo", "version"} <= set(command_names())


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help(name):
    result = runner.invoke(cli.app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_usage_error_is_bad_input_exit_2():
    result = runner.invoke(cli.app, ["funnel", "--no-such-option"])
    assert result.exit_code == 2


def test_internal_failure_is_exit_1(monkeypatch, tmp_path):
    def broken(out_dir):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("carelens.demo.job.run_demo", broken)
    result = runner.invoke(cli.app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "disk on fire" in result.output


def test_help_is_fast_because_heavy_libraries_load_lazily():
    # Not a timing test: importing the CLI must not import pandas, scipy or the store.
    code = "import sys, carelens.cli; print(sorted(m for m in ('pandas','scipy','sqlalchemy','duckdb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
