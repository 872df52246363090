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


STORE_BUSY = (
    "another process is writing to the store (SQLite lets one process write at a time) and did not "
    "finish within the wait; nothing was written: try again when it has finished"
)


def store_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked": a transient clash with another writer, said
    in words instead of as a driver error."""
    import sqlalchemy as sa

    return isinstance(error, sa.exc.OperationalError) and "database is locked" in str(error.orig)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map :class:`InputError` to exit 2 (listing every problem), a refusal (not signed in, not allowed,
    an impossible request) to exit 2 saying why, a store busy with another writer to exit 1 saying so,
    and other exceptions to exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from carelens.errors import Forbidden, InputError, Invalid, Unauthenticated

        try:
            return func(*args, **kwargs)
        except InputError as exc:
            console = stderr_console()
            console.print(f"[bold red]Bad input[/]: {len(exc.problems)} problem(s)", highlight=False)
            console.print(exc.summary(limit=50), highlight=False, markup=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except typer.Exit:
            raise
        except (Unauthenticated, Forbidden, Invalid) as exc:  # not signed in, not allowed, impossible
            stderr_console().print(f"[bold red]Refused[/]: {exc}", highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except Exception as exc:  # anything else is our failure, not the user's input
            if store_busy(exc):
                stderr_console().print(f"[bold red]Busy[/]: {STORE_BUSY}", highlight=False)
            else:
                stderr_console().print(f"[bold red]Error[/]: {type(exc).__name__}: {exc}", highlight=False)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper


def current_user() -> str:
    """The operating-system user running the command (named in the audit log beside the local
    administrator it acts as)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


TOKEN_VARIABLE = "CARELENS_TOKEN"
"""An environment variable holding a sign-in token (scripts, CI): used before the token file."""


def token_file(engine) -> Path:
    """Where ``carelens login`` keeps the token for one store: a file per store address (without its
    password) under ``$XDG_CONFIG_HOME/carelens/tokens`` (default ``~/.config``), readable by its owner
    only."""
    import hashlib
    import os

    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    address = engine.url.render_as_string(hide_password=True)
    return base / "carelens" / "tokens" / hashlib.sha256(address.encode()).hexdigest()[:32]


def saved_token(engine) -> str | None:
    """The token the command line signs in with for this store: $CARELENS_TOKEN, else the token file."""
    import os

    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        return token
    path = token_file(engine)
    return path.read_text().strip() or None if path.is_file() else None


def save_token(engine, token: str) -> Path:
    """Keep a token for this store in its token file (mode 0600, in a folder of mode 0700)."""
    import os

    path = token_file(engine)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    os.chmod(path, 0o600)
    return path


def cli_actor(engine):
    """Who the command line acts as on this store: the user signed in with ``carelens login`` (or
    $CARELENS_TOKEN), else the store's local administrator named with the operating-system user
    (:mod:`carelens.services.identity`); with neither, the command is refused (exit 2, saying how to sign
    in). The services record every change in the audit log under this actor."""
    from carelens.services.identity import local_admin, signed_in

    token = saved_token(engine)
    return signed_in(engine, token) if token else local_admin(engine, current_user())


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
