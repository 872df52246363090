"""The store: its schema, and importing data into it."""

from __future__ import annotations

from pathlib import Path

import typer

from carelens.cli._common import (
    DbOption,
    app,
    date_option,
    handles_errors,
)


def _source_names() -> list[str]:
    from carelens.ingest.sources import SOURCE_MODULES

    return list(SOURCE_MODULES)


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
    from carelens.store.engine import create_engine
    from carelens.store.migrate import upgrade

    engine = create_engine(db)
    reached = upgrade(engine, revision)
    typer.echo(
        f"database {engine.url.render_as_string(hide_password=True)} is at revision(s) {', '.join(sorted(reached))}"
    )


@app.command()
@handles_errors
def ingest(
    source: str = typer.Argument(..., help="Importer: " + ", ".join(_source_names()) + "."),
    files: list[Path] = typer.Argument(..., help="Files to import (.csv, .csv.gz or .parquet)."),
    db: DbOption = None,
    period: str | None = typer.Option(
        None, "--period", help="YYYY-MM-DD: release or year start, for files that do not state it."
    ),
) -> None:
    """Import files into the store: all or nothing, and a file already imported changes nothing."""
    from carelens.ingest.service import ingest as run_ingest
    from carelens.store.engine import create_engine

    as_of = date_option(period, "--period")
    for result in run_ingest(create_engine(db), source, files, period=as_of):
        name = Path(result.file).name
        if result.status == "loaded":
            typer.echo(
                f"loaded {name}: {result.rows:,} rows read, {result.inserted:,} written, "
                f"{result.superseded:,} superseded, {result.unchanged:,} unchanged (import #{result.import_id})"
            )
        else:
            typer.echo(f"no change: {name} was already imported (import #{result.import_id}, same SHA-256)")
