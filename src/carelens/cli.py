"""The ``carelens`` command line: a thin layer over the same service functions the API and web use.

Exit codes scripts can rely on: 0 ok, 2 bad input (every problem printed, naming file, row and column),
1 any other failure. Heavy libraries are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer

from carelens import __version__

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="carelens",
    help="Open oversight engine for health and care: monitoring, ratings, inspection planning, allocations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map :class:`InputError` to exit 2 (listing every problem) and other exceptions to exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from carelens.errors import InputError

        try:
            return func(*args, **kwargs)
        except InputError as exc:
            console = _stderr()
            console.print(f"[bold red]Bad input[/]: {len(exc.problems)} problem(s)", highlight=False)
            console.print(exc.summary(limit=50), highlight=False, markup=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except typer.Exit:
            raise
        except Exception as exc:  # anything else is our failure, not the user's input
            _stderr().print(f"[bold red]Error[/]: {type(exc).__name__}: {exc}", highlight=False)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper


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


if __name__ == "__main__":
    main()
