"""The store: its schema, and importing data into it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import typer

from carelens.cli._common import (
    DbOption,
    app,
    cli_actor,
    date_option,
    handles_errors,
    stderr_console,
)


@contextmanager
def _progress(source: str, files: int) -> Iterator[Callable[[Any], None]]:
    """A progress bar over a folder's files; yields what to call with each file's result."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"))
    with Progress(TextColumn(source), *columns, console=stderr_console(), transient=True) as bar:
        task = bar.add_task("", total=files)
        yield lambda result: bar.update(task, advance=1, description=Path(result.file).name)


def _source_names() -> list[str]:
    from carelens.services.imports import source_names

    return source_names()


db_app = typer.Typer(help="The database store: create or migrate its schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@handles_errors
def db_upgrade(
    db: DbOption = None,
    revision: str = typer.Option(
        "heads", "--revision", help="Alembic revision to migrate to (default: all)."
    ),
) -> None:
    """Create the database schema, or migrate it to the newest (or a given) revision."""
    from carelens.cli._common import current_user
    from carelens.services.database import upgrade

    url, reached = upgrade(db, revision, os_user=current_user())
    typer.echo(f"database {url} is at revision(s) {', '.join(sorted(reached))}")


def _echo_verdicts(report) -> None:
    """The published verdicts of a file against carelens's recomputation from the published counts."""
    typer.echo(
        f"  published verdicts: {report.verdicts:,}, shown as published; carelens's recomputation from the "
        f"published counts differs on {len(report.differing):,}"
    )
    for name, (gap, code) in report.largest_differences.items():
        typer.echo(f"  largest |published - recomputed| {name}: {gap:.4f} ({code})")
    if report.differing:
        typer.echo(
            "  org_code  period      published  recomputed  value   recomputed  limits published  recomputed"
        )
        for row in report.differing:
            typer.echo(
                f"  {row['org_code']:<8}  {row['period']}  {row['band']:>9}  {row['recomputed_band']:>10}  "
                f"{row['value']:.4f}  {row['recomputed_value']:>10.4f}  "
                f"{row['lower']:.4f}-{row['upper']:.4f}  {row['recomputed_lower']:.4f}-{row['recomputed_upper']:.4f}"
            )


@app.command()
@handles_errors
def ingest(
    source: str = typer.Argument(..., help="Importer: " + ", ".join(_source_names()) + "."),
    files: list[Path] = typer.Argument(
        ...,
        help="Files to import (.csv, .csv.gz or .parquet; .xls for ae-workbook); ae-monthly and ae-workbook "
        "also take a folder of months.",
    ),
    db: DbOption = None,
    period: str | None = typer.Option(
        None, "--period", help="YYYY-MM-DD: release or year start, for files that do not state it."
    ),
) -> None:
    """Import files into the store: all or nothing, and a file already imported changes nothing.

    A folder (for a source published month by month) is imported in order with a progress bar, and the
    files in it that are skipped are listed with why."""
    from carelens.services.database import connect
    from carelens.services.imports import files_to_import, import_files

    as_of = date_option(period, "--period")
    paths, skipped = files_to_import(source, files)
    folder = any(f.is_dir() for f in files)
    for path, why in skipped:
        typer.echo(f"skipped {path}: {why}")
    with _progress(source, len(paths)) if folder else nullcontext() as advance:
        engine = connect(db)
        results = import_files(engine, cli_actor(engine), source, paths, period=as_of, progress=advance)
    for result in results:
        name = Path(result.file).name
        if result.status == "loaded":
            revised = f"; revised {', '.join(result.revised)}" if result.revised else ""
            if result.left_out:
                revised += f"; {result.left_out:,} links left out: they name organisations not in the store"
            if result.not_assessed:
                revised += (
                    f"; not assessed (failed a data-quality check, docs/methods/data-quality.md): "
                    f"{', '.join(result.not_assessed)}"
                )
            typer.echo(
                f"loaded {name}: {result.rows:,} rows read, {result.inserted:,} written, "
                f"{result.superseded:,} superseded, {result.unchanged:,} unchanged (import #{result.import_id})"
                f"{revised}"
            )
            if result.verdicts is not None:
                _echo_verdicts(result.verdicts)
        else:
            typer.echo(f"no change: {name} was already imported (import #{result.import_id}, same SHA-256)")
    if folder:
        loaded = sum(r.status == "loaded" for r in results)
        typer.echo(
            f"{source}: {loaded} files loaded, {len(results) - loaded} already imported, {len(skipped)} skipped"
        )
