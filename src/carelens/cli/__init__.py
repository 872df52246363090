"""The ``carelens`` command line: a thin layer over the same service functions the API and web use, one
module per group of commands (``carelens --help`` lists them all).

Exit codes scripts can rely on: 0 ok, 2 bad input (every problem printed, naming file, row and column),
1 any other failure. Heavy libraries are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from carelens import __version__
from carelens.cli._common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, app, handles_errors

COMMAND_MODULES = (
    "demo",
    "serve",
    "analysis",
    "store",
    "account",
    "monitoring",
    "allocate",
    "assessment",
    "systems",
    "planning",
)
"""The modules of ``carelens.cli`` holding commands, in the order ``carelens --help`` lists them: each
registers its commands on :data:`app` when imported. A new group of commands is a module here."""
for _module in COMMAND_MODULES:
    importlib.import_module(f"carelens.cli.{_module}")

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "app", "handles_errors", "main"]


@app.command()
def version() -> None:
    """Print the carelens version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as exc:
        # click reports usage errors (unknown option, bad choice) with exit 2: that is bad input too.
        sys.exit(exc.code)
