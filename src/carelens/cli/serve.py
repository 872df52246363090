"""Serving the web dashboard and the HTTP API on a store."""

from __future__ import annotations

import typer

from carelens.cli._common import (
    DbOption,
    HostOption,
    PortOption,
    app,
    handles_errors,
    open_store,
)


@app.command()
@handles_errors
def serve(
    db: DbOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Server processes (more use more cores; 1 is enough for one user).",
    ),
) -> None:
    """Serve the web dashboard and the HTTP API (/api/v1, OpenAPI at /openapi.json) on an existing store."""
    from carelens.app import serve as run_server

    engine = open_store(db)
    typer.echo(f"carelens is running at http://{host}:{port}/ (API docs /docs); press Ctrl+C to stop")
    run_server(engine, host, port, workers)
