"""What every command of the ``carelens`` command line shares: the root application, exit codes, the
options several commands take (each declared once), error handling and small output helpers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

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

DB_OPTION_HELP = "Database URL (default: $CARELENS_DB, else carelens.db in the user data directory)."

# Options several commands share, each declared once; a command takes one as ``db: DbOption = None``.
DbOption = Annotated[str | None, typer.Option("--db", help=DB_OPTION_HELP)]
OutTableOption = Annotated[Path, typer.Option("--out", "-o", help="Output table: .csv or .parquet.")]
HostOption = Annotated[str, typer.Option("--host", help="Address to serve on (loopback by default).")]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to serve on.")]


def stderr_console():
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
            console = stderr_console()
            console.print(f"[bold red]Bad input[/]: {len(exc.problems)} problem(s)", highlight=False)
            console.print(exc.summary(limit=50), highlight=False, markup=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except typer.Exit:
            raise
        except Exception as exc:  # anything else is our failure, not the user's input
            stderr_console().print(f"[bold red]Error[/]: {type(exc).__name__}: {exc}", highlight=False)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper


def current_user() -> str:
    """The operating-system user running the command, recorded in the audit log with what it changes."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def cli_actor(user: str | None = None):
    """Who the command line acts as: the operating-system user (or the ``--user`` a command names),
    as an administrator, since whoever runs it holds the store itself. The services record its changes
    in the audit log under this name."""
    from carelens.model.access import Actor, Role

    return Actor(user_name=current_user() if user is None else user, role=Role.ADMIN)


def open_store(db: str | None):
    """The store at ``db`` (default: $CARELENS_DB), its schema created if empty (refused if out of date)."""
    from carelens.services.database import open_store as opened

    return opened(db)


def date_option(text: str | None, name: str):
    """A date given on the command line as YYYY-MM-DD, or None; a bad one is bad input naming the option."""
    import datetime as dt

    from carelens.errors import InputError, Problem

    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(Problem(name, None, None, f"not a date (YYYY-MM-DD): {text!r}")) from None


def cell_text(value: Any) -> str:
    """A table cell: whole numbers with thousands separators, other numbers to 4 decimal places."""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


def print_frame(title: str, frame, columns: list[str], limit: int | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    shown = frame if limit is None else frame.head(limit)
    for row in shown[columns].itertuples(index=False):
        table.add_row(*(cell_text(v) for v in row))
    Console().print(table)
