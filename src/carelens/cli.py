"""The ``carelens`` command line: a thin layer over the same service functions the API and web use.

Exit codes scripts can rely on: 0 ok, 2 bad input (every problem printed, naming file, row and column),
1 any other failure. Heavy libraries are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Literal

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

DB_OPTION_HELP = "Database URL (default: $CARELENS_DB, else carelens.db in the user data directory)."

# Options several commands share, each declared once; a command takes one as ``db: DbOption = None``.
DbOption = Annotated[str | None, typer.Option("--db", help=DB_OPTION_HELP)]
OutTableOption = Annotated[Path, typer.Option("--out", "-o", help="Output table: .csv or .parquet.")]
HostOption = Annotated[str, typer.Option("--host", help="Address to serve on (loopback by default).")]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to serve on.")]


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


def _store(db: str | None):
    """The store at ``db`` (default: $CARELENS_DB), its schema created if empty (refused if out of date)."""
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    engine = create_engine(db)
    ensure_schema(engine)
    return engine


def _date_option(text: str | None, name: str):
    """A date given on the command line as YYYY-MM-DD, or None; a bad one is bad input naming the option."""
    import datetime as dt

    from carelens.errors import InputError, Problem

    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(Problem(name, None, None, f"not a date (YYYY-MM-DD): {text!r}")) from None


def _cell(value: Any) -> str:
    """A table cell: whole numbers with thousands separators, other numbers to 4 decimal places."""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


@app.command()
@handles_errors
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for the result CSV files."),
    serve_app: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the dashboard and API when done (--no-serve: only write)."
    ),
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
) -> None:
    """The main job: run the engine on the packaged real NHS data, load it into a fresh store and serve it."""
    from rich.console import Console
    from rich.table import Table

    from carelens.api.serve import DEMO_DB_FILE, prepare_demo_store, run_demo_jobs, serve
    from carelens.demo.job import run_demo
    from carelens.services.auth import create_demo_users

    console = Console()
    with console.status("Running funnels and control charts on the demo data..."):
        result = run_demo(out)

    def show(title: str, frame) -> None:
        table = Table(title=title, title_justify="left")
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)

    show(
        "SHMI: bandings reproduced against the published ones (95% overdispersed limits)", result.shmi_summary
    )
    show("A&E type 1 four-hour breaches, latest month: outside the 95% funnel limits", result.ae_outliers)
    show("A&E four-hour performance control charts: trusts by icon at the latest month", result.spc_summary)
    for path in result.files:
        console.print(f"wrote {path}")
    with console.status("Loading the demo data into a fresh store...") as status:
        engine = prepare_demo_store(out, progress=lambda step: status.update(f"Loading {step}..."))
    console.print(f"store: {out / DEMO_DB_FILE}")
    with console.status(
        "Running monitoring, the ratings rules, an allocation and inspection planning..."
    ) as status:
        jobs = run_demo_jobs(engine, progress=lambda step: status.update(f"Running {step}..."))
    with console.status("Creating the demo accounts..."):
        accounts = create_demo_users(engine)
    for run in jobs.monitoring_runs:
        against = (
            f", {run.changed_bands:,} band changes since run {run.previous_run_id}"
            if run.previous_run_id
            else ""
        )
        scope = "" if run.scope == "complete" else f" ({run.scope}: {run.scope_note}; not the default run)"
        console.print(
            f"monitoring run {run.run_id}{scope}: {run.indicators} indicators, {run.organisations:,} organisations, "
            f"flags {dict(run.flags)}, bands {dict(run.bands)}{against}",
            highlight=False,
        )
    console.print(
        f"ratings rules: {jobs.ratings_recorded:,} ratings recorded ({jobs.ratings_published:,} agree with the "
        f"published rating and are published, {jobs.ratings_proposed:,} are proposals)",
        highlight=False,
    )
    console.print(
        f"trust ratings: {jobs.trust_ratings_recorded:,} provider ratings of NHS trusts aggregated from their "
        "locations' published ratings by the NHS trust rating principles (on each trust's page)",
        highlight=False,
    )
    console.print(
        f"allocation: {jobs.allocation_scenario} for {jobs.commissioners} commissioners saved as run "
        f"{jobs.allocation_run_id}",
        highlight=False,
    )
    plan = jobs.plan_summary
    console.print(
        f"inspection plan: draft schedule {jobs.schedule_id} from {plan['start']} for {plan['weeks']} weeks "
        f"({plan['method']}): {plan['inspections_scheduled']:,} of {plan['inspections_demanded']:,} inspections "
        f"due scheduled, statutory deadlines in the horizon met {plan['deadlines_met']} of "
        f"{plan['deadlines_in_horizon']}, overdue inspected {plan['overdue_inspected']} of {plan['overdue_at_start']}",
        highlight=False,
    )
    console.print(
        f"failure regime: {len(jobs.special_measures_cases)} organisations rated Inadequate overall placed in "
        "special measures (carelens regime overdue lists missed re-inspections)",
        highlight=False,
    )
    console.print(
        f"system reviews: direction {jobs.systems.reference} (£{jobs.systems.budget_gbp:,.0f}) selected "
        f"{jobs.systems.reviews_planned} places for review; {jobs.systems.acos_settled} ACOs settled, "
        f"{jobs.systems.flagged_service_lines} service lines highly concentrated (pages /system-reviews, "
        "/accountable-care)",
        highlight=False,
    )
    accounts_table = Table(title="Demo accounts (sign in on the web, or POST /api/v1/auth/token)")
    for column in ("user name", "password", "role", "organisations / sector"):
        accounts_table.add_column(column)
    for account in accounts:
        tied = ", ".join(account.organisations) or account.sector or "all"
        if account.inspector_id and len(account.organisations) > 1:
            tied = f"inspector {account.inspector_id}: {len(account.organisations)} assigned organisations"
        accounts_table.add_row(account.user_name, account.password, account.role.value, tied)
    console.print(accounts_table)
    url = f"http://{host}:{port}/"
    if not serve_app:
        console.print(
            f"not serving (--no-serve); to serve this store: carelens serve --db sqlite:///{out / DEMO_DB_FILE}"
        )
        return
    console.print(f"[bold]carelens is running at {url}[/] (API docs {url}docs); press Ctrl+C to stop")
    serve(engine, host, port)


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
    from carelens.api.serve import serve as run_server

    engine = _store(db)
    typer.echo(f"carelens is running at http://{host}:{port}/ (API docs /docs); press Ctrl+C to stop")
    run_server(engine, host, port, workers)


@app.command()
@handles_errors
def funnel(
    input: Path = typer.Argument(..., help="Table of units: .csv or .parquet."),
    type: Literal["sr", "pr", "rc"] = typer.Option(
        ..., "--type", help="sr: standardised ratio O/E; pr: proportion O/n; rc: ratio of counts."
    ),
    numerator: str = typer.Option(..., "--numerator", help="Column of observed counts."),
    denominator: str = typer.Option(
        ...,
        "--denominator",
        help="Column of expected counts (sr), counts at risk (pr) or comparison counts (rc).",
    ),
    unit: str = typer.Option(..., "--unit", help="Column naming each unit (trust, practice...)."),
    by: list[str] | None = typer.Option(
        None, "--by", help="Column(s) splitting the table into separate funnels (indicator, period...)."
    ),
    method: Literal["shmi", "cqc"] = typer.Option(
        "shmi", "--method", help="For sr: shmi (log scale, rank trim) or cqc (square root, Winsorised)."
    ),
    level: list[float] | None = typer.Option(
        None,
        "--level",
        help="Confidence level(s) in % of the limits; repeat for several. Default 95 and 99.8.",
    ),
    trim: float = typer.Option(
        0.1, "--trim", help="Share trimmed/Winsorised in each tail before estimating phi."
    ),
    overdispersion: bool = typer.Option(
        True, "--overdispersion/--no-overdispersion", help="Widen limits for overdispersion (additive tau2)."
    ),
    polarity: Literal["higher-is-better", "lower-is-better", "neutral"] = typer.Option(
        "neutral", "--polarity", help="Which direction is good: turns flags into better/worse."
    ),
    out: OutTableOption = ...,
) -> None:
    """Funnel plot limits, z-scores and outlier flags for every unit, with overdispersion."""
    from carelens.errors import InputError, Problem
    from carelens.ingest.tables import read_table, write_table
    from carelens.monitor.funnels import funnel_table, summarise_funnels

    by = list(by or [])
    levels = tuple(level) if level else (95.0, 99.8)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(Problem(str(out), None, None, "output must be a .csv or .parquet file"))
    columns = list(dict.fromkeys([unit, *by, numerator, denominator]))
    with _stderr().status(f"Reading {input}...") as status:
        frame = read_table(input, columns)
        status.update(f"Computing funnels for {len(frame):,} rows...")
        table = funnel_table(
            frame,
            type=type,
            numerator=numerator,
            denominator=denominator,
            unit=unit,
            by=by,
            method=method,
            levels=levels,
            trim=trim,
            overdispersion="additive" if overdispersion else None,
            polarity=polarity,
            source=str(input),
        )
        status.update(f"Writing {out}...")
        write_table(table, out)
    summary = summarise_funnels(table, by)
    _stderr().print(
        f"[bold]funnel[/]: {summary.units:,} units in {summary.groups:,} group(s); "
        f"outliers at {max(levels):g}%: {summary.higher:,} higher, {summary.lower:,} lower; "
        f"{summary.groups_unadjusted:,} group(s) with unadjusted limits; wrote {out}",
        highlight=False,
    )


@app.command()
@handles_errors
def spc(
    input: Path = typer.Argument(..., help="Time series table (.csv or .parquet), one row per period."),
    value: str = typer.Option(..., "--value", help="Column of values to chart (empty cells = missing)."),
    date: str = typer.Option(..., "--date", help="Column of period dates."),
    facet: str | None = typer.Option(None, "--facet", help="Column splitting the table into series."),
    improvement: Literal["increase", "decrease", "neutral"] = typer.Option(
        "increase", "--improvement", help="Which direction is good: special causes become better/worse."
    ),
    target: float | None = typer.Option(None, "--target", help="Target value for the assurance icon."),
    rebase: list[str] | None = typer.Option(
        None, "--rebase", help="Date from which limits are recalculated (a new phase); repeat for several."
    ),
    fix_after: int | None = typer.Option(
        None, "--fix-after", min=2, help="Limits from the first N points of each phase (N >= 12 recommended)."
    ),
    screen: bool = typer.Option(
        True, "--screen/--no-screen", help="Drop moving ranges >= 3.267 x mean once (off: the Excel tool)."
    ),
    missing: Literal["break", "skip"] = typer.Option(
        "break", "--missing", help="break: a missing value or gap breaks runs; skip: ignore it."
    ),
    out: OutTableOption = ...,
) -> None:
    """XmR control charts (NHS Making Data Count): limits, special-cause rules and icons per series."""
    from carelens.errors import InputError, Problem
    from carelens.ingest.tables import read_table, write_table
    from carelens.monitor.control_charts import spc_summary, spc_table
    from carelens.stats.spc import MIN_POINTS

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(Problem(str(out), None, None, "output must be a .csv or .parquet file"))
    columns = list(dict.fromkeys([c for c in (facet, date, value) if c is not None]))
    with _stderr().status(f"Reading {input}...") as status:
        frame = read_table(input, columns)
        status.update(f"Computing control charts for {len(frame):,} points...")
        table = spc_table(
            frame,
            value=value,
            date=date,
            facet=facet,
            improvement=improvement,
            target=target,
            rebase=list(rebase or []),
            fix_after=fix_after,
            screen=screen,
            missing=missing,
            source=str(input),
        )
        status.update(f"Writing {out}...")
        write_table(table, out)
    from rich.table import Table

    s = spc_summary(table, facet)

    def counts(d: dict) -> str:
        return ", ".join(f"{name.removeprefix('special_cause_')} {n:,}" for name, n in d.items()) or "none"

    summary = Table(title="spc summary", title_justify="left", show_header=False)
    summary.add_row("series", f"{s['series']:,}")
    summary.add_row("points", f"{s['points']:,}")
    summary.add_row("special-cause points", f"{s['special_cause_points']:,}")
    summary.add_row("  by rule", counts(s["by_rule"]))
    summary.add_row("  by type", counts(s["by_point_type"]))
    summary.add_row("missing values", f"{s['missing_values']:,}")
    summary.add_row("gaps (missing periods)", f"{s['gaps']:,} ({s['missing_periods']:,})")
    summary.add_row(f"short series (< {MIN_POINTS} points)", f"{s['short_series']:,}")
    summary.add_row("variation icons", counts(s["variation_icons"]))
    summary.add_row("assurance icons", counts(s["assurance_icons"]) if target is not None else "no target")
    console = _stderr()
    console.print(summary)
    if s["short_series"]:
        console.print(
            f"[yellow]warning[/]: {s['short_series']:,} series have a phase with fewer than {MIN_POINTS} "
            "points: their limits are trial limits",
            highlight=False,
        )
    console.print(f"wrote {out}", highlight=False)


@app.command()
@handles_errors
def synth(
    orgs: int = typer.Option(50_000, "--orgs", min=1, help="Number of organisations."),
    indicators: int = typer.Option(100, "--indicators", min=1, help="Number of indicators."),
    months: int = typer.Option(60, "--months", min=1, help="Number of monthly periods."),
    seed: int = typer.Option(1, "--seed", help="Random seed: the same seed writes byte-identical files."),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty folder to write the data set to."),
) -> None:
    """Write a synthetic national-scale data set (partitioned Parquet) with planted deteriorations."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from carelens.ingest.synth import check_request, write_synthetic

    check_request(out, orgs, indicators, months)
    started = time.perf_counter()
    with Progress(
        TextColumn("synth"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("indicators, {task.fields[rows]:,} rows"),
        TimeRemainingColumn(),
        console=_stderr(),
    ) as progress:
        task = progress.add_task("synth", total=indicators, rows=0)
        written = 0

        def advance(rows: int) -> None:
            nonlocal written
            written += rows
            progress.update(task, advance=1, rows=written)

        summary = write_synthetic(out, orgs, indicators, months, seed, on_indicator=advance)
    seconds = time.perf_counter() - started
    _stderr().print(
        f"synth: {summary.observations:,} observations for {summary.organisations:,} organisations x "
        f"{summary.indicators:,} indicators x {summary.months} months, {summary.planted:,} planted "
        f"deteriorations, in {seconds:.1f} s ({summary.observations / max(seconds, 1e-9):,.0f} rows/s); wrote {out}",
        highlight=False,
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
    files: list[Path] = typer.Argument(
        ..., help="Files to import (.csv, .csv.gz or .parquet); ae-monthly also takes a folder of months."
    ),
    db: DbOption = None,
    period: str | None = typer.Option(
        None, "--period", help="YYYY-MM-DD: release or year start, for files that do not state it."
    ),
) -> None:
    """Import files into the store: all or nothing, and a file already imported changes nothing.

    A folder (for a source published month by month) is imported in order with a progress bar, and the
    files in it that are skipped are listed with why."""
    from carelens.ingest.service import files_to_import
    from carelens.ingest.service import ingest as run_ingest
    from carelens.store.engine import create_engine

    as_of = _date_option(period, "--period")
    paths, skipped = files_to_import(source, files)
    folder = any(f.is_dir() for f in files)
    for path, why in skipped:
        typer.echo(f"skipped {path}: {why}")
    engine = create_engine(db)
    if folder:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn(f"{source}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=_stderr(),
            transient=True,
        ) as bar:
            task = bar.add_task("", total=len(paths))
            results = run_ingest(
                engine,
                source,
                paths,
                period=as_of,
                progress=lambda r: bar.update(task, advance=1, description=Path(r.file).name),
            )
    else:
        results = run_ingest(engine, source, paths, period=as_of)
    for result in results:
        name = Path(result.file).name
        if result.status == "loaded":
            revised = f"; revised {', '.join(result.revised)}" if result.revised else ""
            if result.left_out:
                revised += f"; {result.left_out:,} links left out: they name organisations not in the store"
            typer.echo(
                f"loaded {name}: {result.rows:,} rows read, {result.inserted:,} written, "
                f"{result.superseded:,} superseded, {result.unchanged:,} unchanged (import #{result.import_id})"
                f"{revised}"
            )
        else:
            typer.echo(f"no change: {name} was already imported (import #{result.import_id}, same SHA-256)")
    if folder:
        loaded = sum(r.status == "loaded" for r in results)
        typer.echo(
            f"{source}: {loaded} files loaded, {len(results) - loaded} already imported, {len(skipped)} skipped"
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
) -> None:
    """Monitor every indicator of every organisation against its peers and its own history; store the run.

    A run over every period is complete and becomes the default everywhere; one limited by --from or
    --to is partial, and one started with --what-if is a what-if: both are stored and labelled, and
    shown only when asked for by run id."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from carelens.ingest.service import current_user
    from carelens.monitor.service import run_monitor
    from carelens.monitor.settings import load_settings
    from carelens.store.engine import create_engine

    start = _period_option(period_from, "--from")
    end = _period_option(period_to, "--to")
    config = load_settings(settings)
    console = _stderr()
    with Progress(
        TextColumn("monitor"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("indicators"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("monitor", total=None)
        summary = run_monitor(
            create_engine(db),
            parquet=parquet,
            period_from=start,
            period_to=end,
            settings=config,
            special_measures=special_measures or (),
            recently_inspected=recently_inspected or (),
            user=current_user(),
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            workers=workers,
            what_if=what_if,
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
    from carelens.monitor.service import profile as org_profile
    from carelens.store.engine import create_engine

    try:
        data = org_profile(create_engine(db), org_code, run)
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


allocate_app = typer.Typer(
    help="Capitation allocations: targets, pace of change, formula what-ifs, running costs, budgets.",
)
app.add_typer(allocate_app, name="allocate")
FUND_DB_HELP = "Read practices from this store (default: the packaged NHS England files). " + DB_OPTION_HELP
FundDbOption = Annotated[str | None, typer.Option("--db", help=FUND_DB_HELP)]
CommissionerResultsOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write per-commissioner results (.csv/.parquet).")
]


@allocate_app.callback(invoke_without_command=True)
def allocate_default(
    ctx: typer.Context,
    year: str | None = typer.Option(
        None, "--year", help="Run an allocation for this year (as `allocate run`)."
    ),
    scenario: str = typer.Option(
        "2024_25", "--scenario", help="Scenario YAML file or packaged scenario name."
    ),
    out: CommissionerResultsOption = None,
) -> None:
    """`carelens allocate --year 2024-25 --scenario FILE` is short for `carelens allocate run ...`."""
    if ctx.invoked_subcommand is not None:
        return
    if year is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_OK)
    ctx.invoke(
        allocate_run, year=year, scenario=scenario, out=out, places=None, db=None, store=False, save=False
    )


def _fund_engine(db: str | None, use_store: bool):
    return _store(db) if (db or use_store) else None


def _print_frame(title: str, frame, columns: list[str], limit: int | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    shown = frame if limit is None else frame.head(limit)
    for row in shown[columns].itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    Console().print(table)


@allocate_app.command("run")
@handles_errors
def allocate_run(
    year: str = typer.Option(..., "--year", help="Financial year, e.g. 2024-25 (must match the scenario)."),
    scenario: str = typer.Option(
        "2024_25",
        "--scenario",
        help="Scenario YAML file, or a packaged scenario name (2024_25, age_weighted...).",
    ),
    out: CommissionerResultsOption = None,
    places: Path | None = typer.Option(
        None, "--places", help="Write place-level (sub-commissioner) targets."
    ),
    db: FundDbOption = None,
    store: bool = typer.Option(
        False, "--store", help="Read practices from the default store ($CARELENS_DB)."
    ),
    save: bool = typer.Option(False, "--save", help="Save the run in the store (audited)."),
) -> None:
    """Weighted capitation targets, distance from target and pace of change for every commissioner."""
    from carelens.errors import InputError, Problem
    from carelens.fund.scenario import load_scenario, parse_year
    from carelens.fund.service import practice_loader, run_allocation, save_run
    from carelens.ingest.service import current_user
    from carelens.ingest.tables import write_table

    wanted = parse_year(year)
    chosen = load_scenario(scenario)
    if chosen.year != wanted:
        raise InputError(
            Problem(chosen.source, None, "year", f"scenario is for {chosen.year_label}, not {year}")
        )
    engine = _fund_engine(db, store or save)
    with _stderr().status(f"Allocating {chosen.year_label} with scenario {chosen.name}..."):
        result = run_allocation(chosen, practice_loader(engine if (db or store) else None))
    c = result.commissioners.sort_values("distance_from_target")
    _print_frame(
        f"{chosen.name} v{chosen.version}: {chosen.year_label}, quantum £{chosen.total_quantum_gbp:,.0f}",
        c,
        [
            "commissioner_code",
            "commissioner_name",
            "population",
            "need_index_core",
            "target_share",
            "target_gbp",
            "allocation_gbp",
            "distance_from_target",
        ],
    )
    if chosen.illustrative:
        _stderr().print(
            f"[yellow]note[/]: illustrative figures in: {', '.join(chosen.illustrative)}", highlight=False
        )
    if out:
        write_table(result.commissioners, out)
        typer.echo(f"wrote {out}")
    if places:
        write_table(result.places, places)
        typer.echo(f"wrote {places}")
    if save:
        run_id = save_run(engine, result, "store" if (db or store) else "files", current_user())
        typer.echo(f"saved allocation run #{run_id}")


@allocate_app.command("compare")
@handles_errors
def allocate_compare(
    a: str = typer.Argument(..., help="Scenario A (file or packaged name), the starting point."),
    b: str = typer.Argument(..., help="Scenario B: gains and losses are B minus A."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the per-commissioner table (.csv/.parquet)."
    ),
    chart: Path | None = typer.Option(None, "--chart", help="Write an SVG chart of the changes."),
    db: FundDbOption = None,
) -> None:
    """Formula what-if: who gains and who loses moving from scenario A to B (commissioner, region, decile)."""
    from carelens.fund.scenario import load_scenario
    from carelens.fund.service import practice_loader, run_allocation
    from carelens.fund.whatif import chart_svg, compare
    from carelens.ingest.tables import write_table

    first, second = load_scenario(a), load_scenario(b)
    load = practice_loader(_fund_engine(db, False))
    with _stderr().status("Running both scenarios..."):
        comparison = compare(run_allocation(first, load), run_allocation(second, load))
    columns = ["population", "a_gbp", "b_gbp", "change_gbp", "change_pct", "change_per_head_gbp"]
    _print_frame(
        f"{second.name} minus {first.name}: by region", comparison.regions, ["region_name", *columns]
    )
    _print_frame(
        "by deprivation decile (1 = most deprived)",
        comparison.deciles,
        ["decile", "deprivation_index", *columns],
    )
    _print_frame(
        "by commissioner (biggest losers first)",
        comparison.commissioners,
        ["commissioner_code", "commissioner_name", *columns],
    )
    if out:
        write_table(comparison.commissioners, out)
        typer.echo(f"wrote {out}")
    if chart:
        chart.write_text(chart_svg(comparison), encoding="utf-8")
        typer.echo(f"wrote {chart}")


@allocate_app.command("running-costs")
@handles_errors
def allocate_running_costs(
    year: str = typer.Option(..., "--year", help="Financial year with an allowance rate, e.g. 2015-16."),
    actuals: Path | None = typer.Option(
        None, "--actuals", help="Actual running costs: commissioner_code, running_costs_gbp[, population]."
    ),
    population_year: str = typer.Option(
        "2024-25", "--population-year", help="Year of the practice populations used when --actuals has none."
    ),
    rules: Path | None = typer.Option(None, "--rules", help="Running-cost rules YAML (default: packaged)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the table (.csv/.parquet)."),
    db: FundDbOption = None,
) -> None:
    """Running-cost allowance per head, the fixed-cost floor for small commissioners, actuals vs allowance."""
    from carelens.fund.running_costs import floor_summary, load_rules, read_actuals, running_costs
    from carelens.fund.scenario import parse_year
    from carelens.fund.service import practice_loader
    from carelens.ingest.tables import write_table

    the_rules = load_rules(rules)
    wanted = parse_year(year)
    spent = read_actuals(actuals) if actuals else None
    if spent is not None and "population" in spent:
        commissioners = spent[["commissioner_code", "population"]]
    else:
        practices = practice_loader(_fund_engine(db, False))(parse_year(population_year, "--population-year"))
        commissioners = practices.groupby("commissioner_code", as_index=False)["population"].sum()
    table = running_costs(commissioners, wanted, the_rules, spent)
    s = floor_summary(table, wanted, the_rules)
    columns = [
        "commissioner_code",
        "population",
        "allowance_gbp",
        "modelled_cost_gbp",
        "headroom_gbp",
        "small",
    ]
    if spent is not None:
        columns += ["actual_gbp", "within_allowance"]
    _print_frame(
        f"running costs {year}: £{s.rate_gbp:.2f} per head", table.sort_values("population"), columns
    )
    typer.echo(
        f"{s.small} of {s.commissioners} commissioners are small (< {the_rules.small_population:,.0f}); "
        f"{s.short} have an allowance below the modelled cost; break-even population "
        f"{s.break_even_population:,.0f}; a floor at the modelled cost would cost £{s.floor_cost_gbp:,.0f}"
    )
    if out:
        write_table(table, out)
        typer.echo(f"wrote {out}")


@allocate_app.command("budgets")
@handles_errors
def allocate_budgets(
    file: Path | None = typer.Argument(None, help="Budget lines to record (.csv/.parquet); omit to list."),
    year: str | None = typer.Option(None, "--year", help="Only this financial year, e.g. 2024-25."),
    db: DbOption = None,
) -> None:
    """Record or list delegated and pooled budgets per commissioner and year (changes are audited)."""
    from carelens.fund.budgets import budget_summary, read_budgets, record_budgets
    from carelens.fund.scenario import parse_year
    from carelens.ingest.service import current_user

    engine = _store(db)
    if file is not None:
        counts = record_budgets(engine, read_budgets(file), current_user(), str(file))
        typer.echo(
            f"budgets: {counts['inserted']} recorded, {counts['superseded']} superseded, {counts['unchanged']} unchanged"
        )
    summary = budget_summary(engine, parse_year(year) if year else None)
    _print_frame("delegated and pooled budgets", summary, list(summary.columns))


assess_app = typer.Typer(
    help="Assessments: commissioners (outcomes, finance, leadership).", no_args_is_help=True
)
app.add_typer(assess_app, name="assess")


@assess_app.command("commissioners")
@handles_errors
def assess_commissioners(
    year: str = typer.Option(..., "--year", help="Financial year assessed, e.g. 2024-25."),
    observations: Path | None = typer.Option(
        None,
        "--observations",
        help="Indicator observations (.csv/.parquet); default: commissioners' in the store.",
    ),
    finance: Path | None = typer.Option(
        None, "--finance", help="Finance: commissioner_code, allocation_gbp, spend_gbp[, running_costs_gbp]."
    ),
    leadership: Path | None = typer.Option(
        None, "--leadership", help="Leadership: commissioner_code, leadership."
    ),
    rules: Path | None = typer.Option(None, "--rules", help="Assessment rules YAML (default: packaged)."),
    settings: Path | None = typer.Option(
        None,
        "--settings",
        help="Monitoring settings YAML the outcome comparisons use (default: the packaged monitor.yaml).",
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the scorecard (.csv/.parquet)."),
    intervene: list[str] | None = typer.Option(
        None, "--intervene", help="Record an intervention for this commissioner code (repeatable)."
    ),
    decision: str = typer.Option(
        "directions", "--decision", help="The intervention decided (with --intervene)."
    ),
    db: DbOption = None,
) -> None:
    """Commissioner scorecards against peers, finance and leadership; rating with reasons; size analysis.

    A part with no evidence (no indicator scored against peers, no finance return) is "not assessed",
    and so is the overall rating; an intervention is never recorded on a commissioner not assessed."""
    import pandas as pd

    from carelens.errors import InputError, Problem
    from carelens.fund.assessment import (
        NOT_ASSESSED,
        RATINGS,
        assess,
        load_rules,
        observations_from_store,
        record_intervention,
    )
    from carelens.fund.scenario import parse_year
    from carelens.fund.service import practice_loader
    from carelens.ingest.service import current_user
    from carelens.ingest.tables import read_table, write_table
    from carelens.model.indicators import load_indicators
    from carelens.monitor.settings import load_settings

    wanted = parse_year(year)
    the_rules = load_rules(rules)
    the_settings = load_settings(settings)
    engine = _store(db) if (db or observations is None or intervene) else None
    if observations is not None:
        obs = read_table(observations)
        obs["period"] = pd.to_datetime(obs["period"])
    else:
        with engine.connect() as connection:
            obs = observations_from_store(connection)
    try:
        practices = practice_loader(engine)(wanted)
    except InputError:
        practices = practice_loader(None)(wanted)
    commissioners = practices.groupby("commissioner_code", as_index=False)["population"].sum()
    fin = read_table(finance) if finance else None
    lead = read_table(leadership) if leadership else None
    result = assess(
        commissioners, obs, load_indicators(), the_rules, fin, lead, settings=the_settings, year=wanted
    )
    card = result.scorecard
    order = [*RATINGS, NOT_ASSESSED]
    _print_frame(
        f"commissioner assessment {year}",
        card.sort_values(
            ["overall", "commissioner_code"],
            key=lambda s: s.map(lambda v: order.index(v) if v in order else v),
        ),
        [
            "commissioner_code",
            "population",
            "worse",
            "better",
            "assessed",
            "outcomes_rating",
            "finance_rating",
            "overall",
        ],
    )
    unassessed = card[card["overall"] == NOT_ASSESSED]
    if not unassessed.empty:
        parts = unassessed["not_assessed"].value_counts()
        typer.echo(
            f"{len(unassessed)} of {len(card)} commissioners not assessed (no rating without evidence): "
            + "; ".join(f"{n} with no evidence on {what}" for what, n in parts.items())
        )
    _print_frame("is performance related to size?", result.size, list(result.size.columns))
    typer.echo(
        f"Spearman rho (population vs net worse share) = {result.size_correlation:.3f}, p = {result.size_p_value:.3f}"
    )
    chosen = []
    problems = []
    for code in intervene or []:
        rows = card[card["commissioner_code"] == code]
        if rows.empty:
            problems.append(Problem("--intervene", None, None, f"commissioner {code!r} was not assessed"))
        elif rows.iloc[0]["overall"] == NOT_ASSESSED:
            row = rows.iloc[0]
            problems.append(
                Problem(
                    "--intervene",
                    None,
                    None,
                    f"commissioner {code!r} is not assessed (no evidence on {row['not_assessed']}): "
                    "an intervention needs an assessment with evidence",
                )
            )
        else:
            chosen.append(rows.iloc[0])
    if problems:  # before anything is written: all the interventions or none
        raise InputError(problems)
    if out:
        write_table(card.assign(reasons=card["reasons"].map("; ".join)), out)
        typer.echo(f"wrote {out}")
    for row in chosen:
        new_id = record_intervention(
            engine,
            row["commissioner_code"],
            wanted,
            decision,
            list(row["reasons"]),
            current_user(),
            {"overall": row["overall"], "outcomes": row["outcomes_rating"], "finance": row["finance_rating"]},
        )
        typer.echo(f"recorded intervention #{new_id} for {row['commissioner_code']}: {decision}")


rate_app = typer.Typer(
    help="Ratings: CQC rating rules and SAF scoring, compared with published ratings; rating history.",
    no_args_is_help=True,
)
app.add_typer(rate_app, name="rate")


def _check_out(out: Path) -> None:
    from carelens.errors import InputError, Problem

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(Problem(str(out), None, None, "output must be a .csv or .parquet file"))


@rate_app.command("aggregate")
@handles_errors
def rate_aggregate(
    input: Path = typer.Argument(
        ..., help="CQC ratings, long layout (.csv/.parquet): location_id, level, ..."
    ),
    rules: Literal["adult-social-care", "nhs-trust"] = typer.Option(
        ...,
        "--rules",
        help="adult-social-care: key questions -> overall; nhs-trust: core services -> location.",
    ),
    config: Path | None = typer.Option(None, "--config", help="Ratings rules YAML (default: packaged)."),
    out: OutTableOption = ...,
) -> None:
    """Apply the rating rules per location and compare with the published ratings (agree or not)."""
    from carelens.assess.compare import agreement, compare_published, disagreements
    from carelens.assess.config import load_rules
    from carelens.ingest.tables import read_table, write_table

    _check_out(out)
    table = compare_published(read_table(input), rules, load_rules(config), source=str(input))
    write_table(table, out)
    summary = agreement(table)
    _print_frame(f"rules {rules}: computed vs published", summary, list(summary.columns))
    missed = disagreements(table)
    if not missed.empty:
        _print_frame(
            "disagreements", missed, ["location_id", "location_name", "key_question", "computed", "published"]
        )
    typer.echo(f"wrote {out}")


@rate_app.command("saf")
@handles_errors
def rate_saf(
    input: Path = typer.Argument(
        ..., help="SAF scores: assessment_id, key_question, quality_statement, [evidence_category], score."
    ),
    method: Literal["evidence-categories", "quality-statements"] | None = typer.Option(
        None, "--method", help="For rows without a method column value (default: as configured)."
    ),
    config: Path | None = typer.Option(None, "--config", help="SAF settings YAML (default: packaged)."),
    out: OutTableOption = ...,
) -> None:
    """Single Assessment Framework scores -> quality statement, key question and overall ratings."""
    from carelens.assess.saf import load_saf, score
    from carelens.ingest.tables import read_table, write_table

    _check_out(out)
    table = score(read_table(input), load_saf(config), method=method, source=str(input))
    write_table(table, out)
    shown = table[table["level"] != "quality_statement"]
    _print_frame(
        "SAF ratings",
        shown,
        ["assessment_id", "key_question", "percent", "rating", "band_position", "limited_by"],
        60,
    )
    typer.echo(f"wrote {out}")


@rate_app.command("record")
@handles_errors
def rate_record(
    org_code: str = typer.Argument(..., help="Organisation code (must be in the store)."),
    rating: str = typer.Option(..., "--rating", help="The rating given."),
    rule_rating: str | None = typer.Option(None, "--rule-rating", help="The rules' default rating."),
    key_question: str = typer.Option("Overall", "--key-question"),
    level: str = typer.Option("location", "--level", help="service, location or provider."),
    service: str = typer.Option("Overall", "--service"),
    method: str = typer.Option("judgement", "--method", help="e.g. rules:adult-social-care."),
    date: str = typer.Option(..., "--date", help="Effective date YYYY-MM-DD."),
    rationale: str | None = typer.Option(
        None, "--rationale", help="Required for a departure from the rules."
    ),
    approved_by: str | None = typer.Option(None, "--approved-by", help="Required for a departure."),
    published: bool = typer.Option(False, "--published/--draft"),
    db: DbOption = None,
) -> None:
    """Record a rating in the append-only history (a departure needs --rationale and --approved-by)."""
    from carelens.assess.history import record_rating
    from carelens.ingest.service import current_user

    when = _date_option(date, "--date")
    new_id = record_rating(
        _store(db),
        org_code=org_code,
        level=level,
        service=service,
        key_question=key_question,
        rating=rating,
        rule_rating=rule_rating,
        method=method,
        effective_date=when,
        user=current_user(),
        rationale=rationale,
        approved_by=approved_by,
        published=published,
    )
    typer.echo(f"recorded rating #{new_id}: {org_code} {key_question} {rating}")


@rate_app.command("trusts")
@handles_errors
def rate_trusts(
    on: str | None = typer.Option(
        None, "--on", help="Aggregate the location ratings in effect on this date (ISO; default today)."
    ),
    db: DbOption = None,
) -> None:
    """Aggregate each NHS trust's published location ratings to trust key question and overall ratings
    (NHS trust rating principles) and record them, with the rule and what they came from (audited)."""
    import datetime as dt

    from carelens.assess.providers import record_trust_ratings
    from carelens.ingest.service import current_user

    when = _date_option(on, "--on") if on else dt.date.today()
    recorded = record_trust_ratings(_store(db), when, current_user())
    typer.echo(f"recorded {recorded} trust ratings aggregated from location ratings in effect on {when}")


@app.command("segment")
@handles_errors
def segment_command(
    input: Path = typer.Argument(
        ...,
        help="Metric scores 1-4: org_code, trust_type, metric, score, [org_name, financial_override, segment_5].",
    ),
    config: Path | None = typer.Option(None, "--config", help="Oversight settings YAML (default: packaged)."),
    out: Path = typer.Option(..., "--out", "-o", help="League tables: .csv or .parquet."),
) -> None:
    """NHS Oversight Framework segments and league tables by trust type."""
    from carelens.assess.segmentation import load_oversight, segment
    from carelens.ingest.tables import read_table, write_table

    _check_out(out)
    table = segment(read_table(input), load_oversight(config), source=str(input))
    write_table(table, out)
    _print_frame(
        "league tables",
        table,
        ["trust_type", "rank", "org_code", "org_name", "segment", "average_score", "tied"],
        60,
    )
    unassessed = table.loc[~table["assessed"], "org_code"]
    if len(unassessed):
        typer.echo(
            f"{len(unassessed)} trust(s) not assessed (no metric scored, so no segment): "
            + ", ".join(unassessed)
        )
    typer.echo(f"wrote {out}")


systems_app = typer.Typer(
    help="Local system reviews: places, transition indicators, the review programme (s48 HSCA 2008).",
    no_args_is_help=True,
)
app.add_typer(systems_app, name="systems")
review_app = typer.Typer(
    help="The review programme: direction, selection and plan, review records, action plans.",
    no_args_is_help=True,
)
systems_app.add_typer(review_app, name="review")
aco_app = typer.Typer(
    help="Accountable care organisations: settlement, quality gate, market concentration, bundles.",
    no_args_is_help=True,
)
app.add_typer(aco_app, name="aco")
SystemsConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Systems configuration YAML (default: the packaged config/systems/systems.yaml)."
    ),
]
DirectionArgument = Annotated[str, typer.Argument(help="Reference of the direction.")]
BudgetOption = Annotated[float, typer.Option("--budget", help="Programme budget, £.")]
CostPerReviewOption = Annotated[
    float | None,
    typer.Option("--cost-per-review", help="£ per review (default: the previous programme's, £2m / 23)."),
]
IndicatorPeriodOption = Annotated[
    str | None, typer.Option("--period", help="Indicator period (YYYY-MM-DD); default latest.")
]


def _systems_context(db: str | None, config: Path | None):
    """Engine (schema checked), configuration and indicator definitions for the systems commands."""
    from carelens.model.indicators import load_indicators
    from carelens.systems.config import load_config

    return _store(db), load_config(config), load_indicators()


def _print_plan(plan) -> None:
    typer.echo(
        f"budget £{plan.budget_gbp:,.2f} - fixed £{plan.fixed_cost_gbp:,.2f} at £{plan.cost_per_review_gbp:,.2f} "
        f"per review buys {plan.reviews_affordable} review(s); planned {plan.reviews} costing "
        f"£{plan.total_cost_gbp:,.2f}, £{plan.remaining_gbp:,.2f} left"
    )


@systems_app.command("rank")
@handles_errors
def systems_rank(
    period: str | None = typer.Option(None, "--period", help="Period (YYYY-MM-DD); default the latest."),
    limit: int = typer.Option(20, "--limit", help="Places to show."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write every comparison (.csv/.parquet)."),
    config: SystemsConfigOption = None,
    db: DbOption = None,
) -> None:
    """Rank places by the documented selection score on the transition indicators (worst first); a place
    with no indicator compared in the period is listed last as not assessed, with no rank."""
    from carelens.ingest.tables import write_table
    from carelens.systems.places import place_codes, place_indicators
    from carelens.systems.selection import selection_scores

    engine, cfg, definitions = _systems_context(db, config)
    compared = place_indicators(engine, cfg, definitions, _date_option(period, "--period"))
    if compared.empty:
        _stderr().print(
            "No place-level transition indicators in the store: load them with "
            "`carelens ingest place-transitions FILE` (a synthetic set is packaged in "
            "carelens/demo/data/systems/).",
            highlight=False,
        )
        return
    with engine.connect() as connection:
        ranking = selection_scores(compared, cfg, place_codes(connection))
    columns = [
        "rank",
        "org_code",
        "score",
        "indicators_scored",
        *[c for c in ranking.columns if c.startswith("z_")],
    ]
    shown = compared["period"].iloc[0] if not compared.empty else "-"
    _print_frame(f"selection score, period {shown} (adverse z, capped)", ranking, columns, limit)
    unranked = ranking.loc[~ranking["assessed"], "org_code"]
    if len(unranked):
        typer.echo(
            f"{len(unranked)} place(s) not assessed (no indicator compared in {shown}, so no rank): "
            + ", ".join(unranked)
        )
    if out:
        write_table(compared, out)
        typer.echo(f"wrote {out}")


@review_app.command("direct")
@handles_errors
def systems_review_direct(
    reference: str = typer.Argument(..., help="Reference of the programme, e.g. LSR-2017."),
    directed_by: str = typer.Option(..., "--by", help="Who directed the reviews."),
    scope: str = typer.Option(..., "--scope", help="What the reviews cover."),
    on: str = typer.Option(..., "--on", help="Date of the direction (YYYY-MM-DD)."),
    budget: BudgetOption = ...,
    cost_per_review: CostPerReviewOption = None,
    power: str | None = typer.Option(None, "--power", help="Legal power (default: s48 HSCA 2008)."),
    config: SystemsConfigOption = None,
    db: DbOption = None,
) -> None:
    """Record a direction to review local systems (who, power, scope, date, budget); audited."""
    from carelens.ingest.service import current_user
    from carelens.systems.reviews import Direction, record_direction

    engine, cfg, _ = _systems_context(db, config)
    direction = Direction(
        reference=reference,
        directed_by=directed_by,
        power=power or cfg.power,
        scope=scope,
        directed_on=_date_option(on, "--on"),
        budget_gbp=budget,
        cost_per_review_gbp=cost_per_review if cost_per_review is not None else cfg.cost_per_review_gbp,
        fixed_cost_gbp=cfg.fixed_cost_gbp,
    )
    new_id = record_direction(engine, direction, current_user())
    typer.echo(f"recorded direction #{new_id} {reference} under {direction.power}")


@review_app.command("plan")
@handles_errors
def systems_review_plan(
    budget: BudgetOption = ...,
    cost_per_review: CostPerReviewOption = None,
    period: IndicatorPeriodOption = None,
    config: SystemsConfigOption = None,
    db: DbOption = None,
) -> None:
    """What-if: how many reviews a budget buys and which places they would be (nothing is stored)."""
    from carelens.systems.places import place_indicators
    from carelens.systems.selection import plan_programme, selection_scores

    engine, cfg, definitions = _systems_context(db, config)
    ranking = selection_scores(
        place_indicators(engine, cfg, definitions, _date_option(period, "--period")), cfg
    )
    plan = plan_programme(ranking, budget, cost_per_review or cfg.cost_per_review_gbp, cfg.fixed_cost_gbp)
    _print_plan(plan)
    _print_frame("places", plan.places[plan.places["selected"]], ["rank", "org_code", "score"])


@review_app.command("select")
@handles_errors
def systems_review_select(
    reference: DirectionArgument = ...,
    period: IndicatorPeriodOption = None,
    config: SystemsConfigOption = None,
    db: DbOption = None,
) -> None:
    """Select the places a direction's budget buys reviews for (highest score first); recorded and audited."""
    from carelens.ingest.service import current_user
    from carelens.systems.reviews import select_places

    engine, cfg, definitions = _systems_context(db, config)
    plan = select_places(
        engine, reference, cfg, definitions, current_user(), _date_option(period, "--period")
    )
    _print_plan(plan)
    _print_frame("selected places", plan.places[plan.places["selected"]], ["rank", "org_code", "score"])


@review_app.command("record")
@handles_errors
def systems_review_record(
    reference: DirectionArgument = ...,
    place: str = typer.Argument(..., help="Place code."),
    findings: Path = typer.Option(..., "--findings", help="Findings file: stage, finding (.csv/.parquet)."),
    board: str | None = typer.Option(None, "--board", help="Health and wellbeing board reported to."),
    reported_on: str | None = typer.Option(None, "--reported-on", help="Date reported (YYYY-MM-DD)."),
    summit_on: str | None = typer.Option(None, "--summit-on", help="Date of the local summit."),
    config: SystemsConfigOption = None,
    db: DbOption = None,
) -> None:
    """Record a review's findings by pathway stage (no rating) and its report to the board; audited."""
    from carelens.ingest.service import current_user
    from carelens.systems.reviews import read_findings, record_review

    engine, cfg, _ = _systems_context(db, config)
    review_id = record_review(
        engine,
        reference,
        place,
        read_findings(findings),
        cfg,
        current_user(),
        board=board,
        reported_on=_date_option(reported_on, "--reported-on"),
        summit_on=_date_option(summit_on, "--summit-on"),
        source=str(findings),
    )
    typer.echo(f"recorded review #{review_id} of {place} under {reference}")


@review_app.command("actions")
@handles_errors
def systems_review_actions(
    reference: DirectionArgument = ...,
    place: str | None = typer.Option(None, "--place", help="Place whose action plan --file updates."),
    file: Path | None = typer.Option(
        None,
        "--file",
        help="Actions to add or update: number, action, owner, deadline[, stage, status, completed_on].",
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Date overdue is judged on (default today)."),
    db: DbOption = None,
) -> None:
    """Track action plans: record changes from a file (audited), then list actions with overdue ones marked."""
    import datetime as dt

    from carelens.errors import InputError, Problem
    from carelens.ingest.service import current_user
    from carelens.systems.reviews import action_plan, read_actions, record_actions

    engine, _, _ = _systems_context(db, None)
    if file is not None:
        if place is None:
            raise InputError(
                Problem("--place", None, None, "give the place whose action plan the file updates")
            )
        counts = record_actions(engine, reference, place, read_actions(file), current_user(), str(file))
        typer.echo(
            f"actions: {counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged"
        )
    plan = action_plan(engine, _date_option(as_of, "--as-of") or dt.date.today(), reference)
    columns = ["place_code", "number", "action", "owner", "deadline", "status", "overdue", "days_overdue"]
    _print_frame(f"action plans, {reference}", plan, columns)
    typer.echo(
        f"{int(plan['overdue'].sum())} overdue of {int((plan['status'] == 'open').sum())} open actions"
    )


@aco_app.command("settle")
@handles_errors
def aco_settle(
    year: str = typer.Option(..., "--year", help="Financial year, e.g. 2024-25."),
    finance: Path = typer.Option(
        ...,
        "--finance",
        help="aco_code, population, benchmark_per_capita_gbp, risk_score, expenditure_gbp, risk_model.",
    ),
    market: Path | None = typer.Option(
        None, "--market", help="Provider activity: aco_code, service_line, provider_code, activity (HHI)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the settlement table (.csv/.parquet)."),
    config: SystemsConfigOption = None,
    db: DbOption = None,
) -> None:
    """Settle each ACO's year against its risk-adjusted benchmark (MSR by size, quality gate); audited."""
    from carelens.fund.scenario import parse_year
    from carelens.ingest.service import current_user
    from carelens.ingest.tables import write_table
    from carelens.systems.aco import hhi, read_finance, read_market, settle_year

    engine, cfg, definitions = _systems_context(db, config)
    wanted = parse_year(year)
    activity = read_market(market) if market else None
    settled = settle_year(
        engine, read_finance(finance), wanted, cfg, definitions, current_user(), activity, str(finance)
    )
    columns = ["aco_code", "population", "benchmark_gbp", "expenditure_gbp", "savings_rate", "minimum_rate"]
    columns += ["quality_passed", "outcome", "payment_gbp"]
    _print_frame(f"ACO settlement {year}", settled, columns)
    if activity is not None:
        lines = hhi(activity, cfg)
        _print_frame("market concentration (HHI) by service line", lines, list(lines.columns))
    if out:
        write_table(settled.drop(columns=["worse_indicators"]), out)
        typer.echo(f"wrote {out}")


@aco_app.command("bundle")
@handles_errors
def aco_bundle(
    episodes: Path = typer.Argument(..., help="Episode costs: pathway, pathway_id, stage, cost_gbp."),
    config: SystemsConfigOption = None,
) -> None:
    """Bundled payment per care pathway from episode costs (Winsorised mean less a discount)."""
    from carelens.ingest.tables import Column, read_table, validate
    from carelens.systems.aco import bundle_prices
    from carelens.systems.config import load_config

    frame = read_table(episodes, ["pathway", "pathway_id", "stage", "cost_gbp"])
    validate(
        frame,
        [
            Column("pathway", "text"),
            Column("pathway_id", "text"),
            Column("stage", "text"),
            Column("cost_gbp", "number", min_value=0),
        ],
        str(episodes),
    )
    prices = bundle_prices(frame.astype({"cost_gbp": float}), load_config(config))
    _print_frame(
        "bundled payments",
        prices,
        ["pathway", "instances", "mean_cost_gbp", "winsorised_mean_gbp", "bundle_price_gbp"],
    )


# --- plan: inspection programme (issue 6) ------------------------------------------------------------

plan_app = typer.Typer(
    help="Inspection planning: demand, schedule and inspector capacity.", no_args_is_help=True
)
app.add_typer(plan_app, name="plan")


def _plan_inputs(db, weeks, as_of, inspectors, leave, regions, concerns, settings):
    from carelens.plan.programme import load_inputs

    engine = _store(db)
    day = _date_option(as_of, "--as-of")
    return engine, load_inputs(engine, weeks, day, inspectors, leave, regions, concerns, settings)


# The inputs of a plan (`plan inspections` and `plan capacity`), passed on to _plan_inputs.
WeeksOption = Annotated[int, typer.Option("--weeks", min=1, max=104, help="Planning horizon in weeks.")]
PlanDateOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Planning date (ISO); default: the Monday after the newest published rating in the store.",
    ),
]
InspectorsOption = Annotated[
    Path | None,
    typer.Option(
        "--inspectors",
        help="Inspectors CSV (inspector_id, sector, region, skills, days_per_week); default: the packaged synthetic inspectorate.",
    ),
]
LeaveOption = Annotated[Path | None, typer.Option("--leave", help="Leave CSV (inspector_id, start, end).")]
RegionsOption = Annotated[
    Path | None,
    typer.Option(
        "--regions",
        help="Regions CSV (org_code, region): adds to and overrides, per organisation, the regions in the "
        "store (NHS trusts from the ODS trust file) and the packaged ones of the demo's CQC locations.",
    ),
]
ConcernsOption = Annotated[
    Path | None,
    typer.Option(
        "--concerns", help="Concerns / whistleblowing CSV (org_code per concern): brings inspections forward."
    ),
]
PlanSettingsOption = Annotated[
    Path | None,
    typer.Option("--settings", help="Planning settings YAML (default: config/plan/planning.yaml)."),
]


@plan_app.command("inspections")
@handles_errors
def plan_inspections(
    weeks: WeeksOption = 26,
    db: DbOption = None,
    as_of: PlanDateOption = None,
    inspectors: InspectorsOption = None,
    leave: LeaveOption = None,
    regions: RegionsOption = None,
    concerns: ConcernsOption = None,
    settings: PlanSettingsOption = None,
    method: Literal["milp", "greedy"] = typer.Option(
        "milp", "--method", help="Optimiser or greedy baseline."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write every inspection (scheduled or not) here."
    ),
    teams: Path | None = typer.Option(None, "--teams", help="Write the team of each inspection here."),
    save: bool = typer.Option(False, "--save/--no-save", help="Store the schedule as a draft (audited)."),
    user: str = typer.Option("carelens", "--user", help="Who saves the schedule (audit log)."),
) -> None:
    """Schedule the inspections due within the horizon: teams and dates, deadlines met, and what cannot be met and why."""
    from carelens.ingest.tables import write_table
    from carelens.plan.programme import schedule as make
    from carelens.plan.schedule import with_inspector_ids
    from carelens.plan.service import save_schedule

    engine, inputs = _plan_inputs(db, weeks, as_of, inspectors, leave, regions, concerns, settings)
    with _stderr().status("Scheduling..."):
        result = make(inputs, method)
    s = result.summary
    typer.echo(
        f"Inspection plan from {s['start']} for {weeks} weeks ({method}), {len(inputs.inspectors)} inspectors"
    )
    typer.echo(f"  inspections due:        {s['inspections_demanded']}")
    typer.echo(f"  scheduled:              {s['inspections_scheduled']}")
    typer.echo(f"  statutory deadlines in horizon met: {s['deadlines_met']} of {s['deadlines_in_horizon']}")
    typer.echo(f"  overdue at start inspected: {s['overdue_inspected']} of {s['overdue_at_start']}")
    typer.echo(f"  risk covered:           {s['risk_covered']:.0f} of {s['risk_demanded']:.0f}")
    if method == "milp":
        typer.echo(f"  solver gap to bound:    {100 * s['model_gap']:.2f}% ({s['seconds']:.1f} s)")
    plan = result.inspections
    missed = plan[plan["deadline_in_horizon"] & ~plan["meets_deadline"]]
    if len(missed):
        typer.echo(f"Statutory deadlines capacity does not allow ({len(missed)}):")
        for row in missed.head(50).itertuples():
            typer.echo(
                f"  {row.org_code}  deadline {row.deadline.date()}  {row.unscheduled_reason or 'scheduled late'}"
            )
    reasons = plan["unscheduled_reason"].value_counts()
    if len(reasons):
        typer.echo("Not scheduled, by reason:")
        for reason, count in reasons.items():
            typer.echo(f"  {count:6d}  {reason}")
    if out:
        columns = [
            "org_code",
            "inspection_type",
            "sector",
            "region",
            "rating",
            "deadline",
            "due_date",
            "risk",
            "reasons",
            "status",
            "start_date",
            "end_date",
            "unannounced",
            "window_start",
            "window_end",
            "team",
            "days",
            "skill",
            "meets_deadline",
            "unscheduled_reason",
        ]
        write_table(plan[columns], out)
        typer.echo(f"wrote {out}")
    if teams:
        write_table(with_inspector_ids(result, inputs.inspectors), teams)
        typer.echo(f"wrote {teams}")
    if save:
        schedule_id = save_schedule(engine, result, inputs.inspectors, user, inputs.as_of)
        typer.echo(f"saved as draft schedule {schedule_id}")


@plan_app.command("capacity")
@handles_errors
def plan_capacity(
    extra: str = typer.Option("0,5,10,20,40", "--extra", help="Extra inspectors to try, comma-separated."),
    weeks: WeeksOption = 26,
    db: DbOption = None,
    as_of: PlanDateOption = None,
    inspectors: InspectorsOption = None,
    leave: LeaveOption = None,
    regions: RegionsOption = None,
    concerns: ConcernsOption = None,
    settings: PlanSettingsOption = None,
    svg: Path | None = typer.Option(None, "--svg", help="Write the curve as an SVG chart here."),
) -> None:
    """What-if: with N more inspectors, high-risk locations inspected within 3 months and overdue inspections remaining."""
    from carelens.errors import InputError, Problem
    from carelens.plan.programme import capacity
    from carelens.plan.whatif import curve_svg, why_flat

    try:
        numbers = sorted({int(x) for x in extra.split(",") if x.strip()})
    except ValueError:
        raise InputError(Problem("--extra", None, None, f"not a list of whole numbers: {extra!r}")) from None
    if not numbers or numbers[0] < 0:
        raise InputError(Problem("--extra", None, None, "give numbers of extra inspectors, 0 or more"))
    _, inputs = _plan_inputs(db, weeks, as_of, inspectors, leave, regions, concerns, settings)
    with _stderr().status("Solving the what-if..."):
        curve = capacity(inputs, numbers)
    typer.echo(
        f"What-if from {inputs.as_of} for {weeks} weeks: {curve.attrs['high_risk_total']} high-risk locations due, "
        f"{curve.attrs['due_total']} with a deadline before the end"
    )
    typer.echo(curve.to_string(index=False))
    for line in why_flat(curve):
        typer.echo(line)
    if svg:
        svg.write_text(curve_svg(curve))
        typer.echo(f"wrote {svg}")


regime_app = typer.Typer(
    help="The failure regime: enforcement, special measures, oversight segments, interventions.",
    no_args_is_help=True,
)
app.add_typer(regime_app, name="regime")
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded).")]
WhoOption = Annotated[str, typer.Option("--user", help="Who (recorded).")]
EffectiveDateOption = Annotated[str | None, typer.Option("--at", help="Effective date (ISO; default today).")]


@regime_app.command("open")
@handles_errors
def regime_open(
    regime: str = typer.Argument(..., help="provider, nhs_trust or commissioner."),
    org_code: str = typer.Argument(..., help="Organisation code."),
    reason: ReasonOption = ...,
    user: WhoOption = ...,
    at: EffectiveDateOption = None,
    db: DbOption = None,
) -> None:
    """Open a failure-regime case."""
    from carelens.plan.regime import open_case

    case_id = open_case(_store(db), regime, org_code, user, reason, _date_option(at, "--at"))
    typer.echo(f"opened {regime} case {case_id} for {org_code}")


@regime_app.command("move")
@handles_errors
def regime_move(
    case_id: int = typer.Argument(..., help="Case id."),
    event: str = typer.Argument(..., help="Transition, e.g. warning_notice, enter_special_measures."),
    reason: ReasonOption = ...,
    user: WhoOption = ...,
    at: EffectiveDateOption = None,
    db: DbOption = None,
) -> None:
    """Move a case (illegal transitions are refused with exit code 2)."""
    from carelens.plan.regime import transition

    case = transition(_store(db), case_id, event, user, reason, _date_option(at, "--at"))
    due = f"; next: {case['deadline_action']} by {case['deadline']}" if case["deadline"] else ""
    typer.echo(f"case {case_id} is now {case['state']}{due}")


@regime_app.command("overdue")
@handles_errors
def regime_overdue(
    as_of: str | None = typer.Option(None, "--as-of", help="Date (ISO; default today)."),
    db: DbOption = None,
) -> None:
    """Overdue regime actions, and organisations rated Inadequate overall that are not in special measures."""
    import datetime as dt

    from carelens.plan.regime import inadequate_without_special_measures, overdue

    engine = _store(db)
    day = _date_option(as_of, "--as-of") or dt.date.today()
    late = overdue(engine, day)
    _print_frame(
        "overdue actions",
        late,
        ["id", "regime", "org_code", "state", "deadline", "deadline_action", "days_overdue"],
    )
    due = inadequate_without_special_measures(engine, day)
    _print_frame(
        "rated Inadequate, not in special measures", due, ["org_code", "level", "rating", "date", "source"]
    )


@regime_app.command("adopt-interventions")
@handles_errors
def regime_adopt(
    user: WhoOption = ...,
    db: DbOption = None,
) -> None:
    """Take over the open commissioner interventions decided by the national board (carelens fund)."""
    from carelens.plan.regime import adopt_fund_interventions

    cases = adopt_fund_interventions(_store(db), user)
    typer.echo(f"adopted {len(cases)} intervention(s) as commissioner cases {cases}")


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
