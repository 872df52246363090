"""Monitoring: the national pass and an organisation's intelligence profile."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from carelens.cli._common import (
    DbOption,
    app,
    cli_actor,
    handles_errors,
    stderr_console,
)


def _period_option(text: str | None, name: str):
    """A period given as YYYY-MM or YYYY-MM-DD (a month means its first day)."""
    import datetime as dt

    from carelens.errors import InputError, Problem

    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text if len(text) > 7 else f"{text}-01")
    except ValueError:
        raise InputError(
            Problem(name, None, None, f"not a period (YYYY-MM or YYYY-MM-DD): {text!r}")
        ) from None


class MonitorEngine(StrEnum):
    """What assesses a monitoring pass (carelens.monitor.engines)."""

    EMBEDDED = "embedded"
    SPARK = "spark"


@app.command()
@handles_errors
def monitor(
    db: DbOption = None,
    period_from: str | None = typer.Option(None, "--from", help="First period (YYYY-MM[-DD]); default all."),
    period_to: str | None = typer.Option(None, "--to", help="Last period (YYYY-MM[-DD]); default all."),
    parquet: Path | None = typer.Option(
        None, "--parquet", help="Read observations from this Parquet folder instead of the database."
    ),
    settings: Path | None = typer.Option(
        None, "--settings", help="Monitoring settings YAML (default: the packaged monitor.yaml)."
    ),
    special_measures: list[str] | None = typer.Option(
        None, "--special-measures", help="Organisation code in special measures (band 1); repeat."
    ),
    recently_inspected: list[str] | None = typer.Option(
        None, "--recently-inspected", help="Organisation code shown as recently inspected; repeat."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processes for a --parquet pass (results are identical for any number)."
    ),
    what_if: bool = typer.Option(
        False,
        "--what-if",
        help="Label the run a what-if: stored and readable by its id, never the default run.",
    ),
    engine: MonitorEngine | None = typer.Option(
        None,
        "--engine",
        help="embedded (NumPy, --workers processes) or spark (needs the spark extra and Java 17); "
        "default: the settings' engine.name.",
    ),
    spark_master: str | None = typer.Option(
        None,
        "--spark-master",
        help="Spark master URL for --engine spark: local[N], spark://host:port, sc://host:port (Spark "
        "Connect); default: the settings' engine.spark.master (docs/scale.md).",
    ),
) -> None:
    """Monitor every indicator of every organisation against its peers and its own history; store the run.

    A run over every period is complete and becomes the default everywhere; one limited by --from or
    --to is partial, and one started with --what-if is a what-if: both are stored and labelled, and
    shown only when asked for by run id."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from carelens.services.database import connect
    from carelens.services.monitoring import load_settings, run_pass

    start = _period_option(period_from, "--from")
    end = _period_option(period_to, "--to")
    config = load_settings(settings)
    console = stderr_console()
    with Progress(
        TextColumn("monitor"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("indicators"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("monitor", total=None)
        store = connect(db)
        summary = run_pass(
            store,
            cli_actor(store),
            parquet=parquet,
            period_from=start,
            period_to=end,
            settings=config,
            special_measures=special_measures or (),
            recently_inspected=recently_inspected or (),
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            workers=workers,
            what_if=what_if,
            engine=engine.value if engine is not None else None,
            spark_master=spark_master,
        )
    title = f"monitoring run {summary.run_id}"
    if summary.scope != "complete":
        title += f" ({summary.scope}: {summary.scope_note}; not the default run)"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_row("indicators", f"{summary.indicators:,}")
    table.add_row("observations", f"{summary.observations:,}")
    table.add_row("organisations", f"{summary.organisations:,}")
    for name, count in summary.flags.items():
        table.add_row(f"  {name}", f"{count:,}")
    table.add_row("SPC deterioration alerts", f"{summary.spc_alerts:,}")
    table.add_row("bands", ", ".join(f"{k}: {v:,}" for k, v in summary.bands.items()) or "none")
    previous = f"run {summary.previous_run_id}" if summary.previous_run_id else "no previous run"
    table.add_row(
        "change since last run",
        f"{summary.changed_flags:,} flags, {summary.changed_bands:,} bands ({previous})",
    )
    table.add_row("results digest", summary.results_digest)
    console.print(table)


@app.command()
@handles_errors
def profile(
    org_code: str = typer.Argument(..., help="Organisation code (ODS / CQC id)."),
    db: DbOption = None,
    run: int | None = typer.Option(
        None, "--run", help="Monitoring run id (default: the latest complete run)."
    ),
) -> None:
    """Print an organisation's intelligence profile: every indicator, its verdict against peers, flag,
    benchmark and trend, as the monitoring run stored them."""
    from rich.console import Console
    from rich.table import Table

    from carelens.errors import InputError, Problem
    from carelens.services.database import connect
    from carelens.services.monitoring import intelligence_profile

    try:
        store = connect(db)
        data = intelligence_profile(store, cli_actor(store), org_code, run)
    except LookupError as exc:
        raise InputError(Problem("profile", None, "org_code", str(exc))) from None
    org = data["organisation"]
    console = Console()
    band = org["band"] if org["band"] is not None else "-"
    score = f"{org['score']:.3f}" if org["score"] is not None else "-"
    console.print(
        f"[bold]{org_code}[/] ({org['kind']}) {data['run_label']}: band {band}, status {org['status']}, "
        f"score {score} ({org['risks']} risk, {org['elevated']} elevated of {org['applicable']} applicable; "
        f"{org['spc_alerts']} SPC alerts); change since last run: {org['change']}",
        highlight=False,
    )
    table = Table(title="indicators", title_justify="left")
    columns = (
        "indicator",
        "period",
        "value",
        "peers' value",
        "range expected",
        "z adj",
        "compared with peers",
    )
    for column in (*columns, "England", "flag", "SPC", "trend"):
        table.add_column(column)

    def num(v) -> str:
        return "-" if v is None else f"{v:.4g}"

    for row in data["indicators"]:
        values = [v for _, v in row["trend"]]
        trend = " ".join(f"{v:.3g}" for v in values[-6:])
        spc = row["spc_variation"] + (f" ALERT ({row['spc_rule']})" if row["spc_alert"] else "")
        flag = row["flag"] + (
            f" (was {row['previous_flag']})" if row["previous_flag"] not in (None, row["flag"]) else ""
        )
        if row.get("out_of_date"):
            flag += " (out of date: not scored)"
        limits = "-" if row["risk_lower"] is None else f"{num(row['risk_lower'])} to {num(row['risk_upper'])}"
        table.add_row(
            f"{row['indicator_id']} [{row['key_question']}]",
            row["period"],
            num(row["value"]),
            num(row["target"]),
            limits,
            num(row["z_adjusted"]),
            row["verdict"],
            row["benchmark"],
            flag,
            spc,
            trend,
        )
    console.print(table)
