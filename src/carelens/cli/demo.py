"""``carelens demo``: the main job on the packaged real NHS data, loaded into a fresh store and served.

The one command-line module that may import :mod:`carelens.demo` (see ``docs/design.md``, layers).
"""

from __future__ import annotations

from pathlib import Path

import typer

from carelens.cli._common import HostOption, PortOption, app, cell_text, handles_errors


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

    from carelens.app import serve
    from carelens.demo.job import run_demo
    from carelens.demo.jobs import DEMO_DB_FILE, prepare_demo_store, run_demo_jobs
    from carelens.services.auth import create_demo_users

    console = Console()
    with console.status("Running funnels and control charts on the demo data..."):
        result = run_demo(out)

    def show(title: str, frame) -> None:
        table = Table(title=title, title_justify="left")
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*(cell_text(v) for v in row))
        console.print(table)

    show(
        "SHMI: bandings reproduced against the published ones (95% overdispersed limits)", result.shmi_summary
    )
    show(
        "A&E type 1 four-hour breaches (booked appointments counted, as NHS England does), latest month: "
        "trusts outside the 95% funnel limits",
        result.ae_outliers,
    )
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
