"""Allocations: targets, pace of change, what-ifs, running costs, budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carelens.cli._common import (
    DB_OPTION_HELP,
    EXIT_OK,
    DbOption,
    app,
    cli_actor,
    handles_errors,
    open_store,
    print_frame,
    stderr_console,
)

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
    return open_store(db) if (db or use_store) else None


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
    from carelens.services.funding import allocate, save_allocation, scenario_for_year
    from carelens.tables import write_table

    chosen = scenario_for_year(scenario, year)
    engine = _fund_engine(db, store or save)
    with stderr_console().status(f"Allocating {chosen.year_label} with scenario {chosen.name}..."):
        result = allocate(chosen, engine if (db or store) else None)
    c = result.commissioners.sort_values("distance_from_target")
    print_frame(
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
        stderr_console().print(
            f"[yellow]note[/]: illustrative figures in: {', '.join(chosen.illustrative)}", highlight=False
        )
    if out:
        write_table(result.commissioners, out)
        typer.echo(f"wrote {out}")
    if places:
        write_table(result.places, places)
        typer.echo(f"wrote {places}")
    if save:
        run_id = save_allocation(engine, cli_actor(engine), result, "store" if (db or store) else "files")
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
    from carelens.services.funding import compare_scenarios, comparison_chart
    from carelens.tables import write_table

    with stderr_console().status("Running both scenarios..."):
        first, second, comparison = compare_scenarios(a, b, _fund_engine(db, False))
    columns = ["population", "a_gbp", "b_gbp", "change_gbp", "change_pct", "change_per_head_gbp"]
    print_frame(f"{second.name} minus {first.name}: by region", comparison.regions, ["region_name", *columns])
    print_frame(
        "by deprivation decile (1 = most deprived)",
        comparison.deciles,
        ["decile", "deprivation_index", *columns],
    )
    print_frame(
        "by commissioner (biggest losers first)",
        comparison.commissioners,
        ["commissioner_code", "commissioner_name", *columns],
    )
    if out:
        write_table(comparison.commissioners, out)
        typer.echo(f"wrote {out}")
    if chart:
        chart.write_text(comparison_chart(comparison), encoding="utf-8")
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
    from carelens.services.funding import running_costs
    from carelens.tables import write_table

    table, s, the_rules, with_actuals = running_costs(
        year, actuals, population_year, rules, _fund_engine(db, False)
    )
    columns = [
        "commissioner_code",
        "population",
        "allowance_gbp",
        "modelled_cost_gbp",
        "headroom_gbp",
        "small",
    ]
    if with_actuals:
        columns += ["actual_gbp", "within_allowance"]
    print_frame(f"running costs {year}: £{s.rate_gbp:.2f} per head", table.sort_values("population"), columns)
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
    from carelens.services.funding import budget_summary, record_budgets

    engine = open_store(db)
    actor = cli_actor(engine)
    if file is not None:
        counts = record_budgets(engine, actor, file)
        typer.echo(
            f"budgets: {counts['inserted']} recorded, {counts['superseded']} superseded, {counts['unchanged']} unchanged"
        )
    summary = budget_summary(engine, actor, year)
    print_frame("delegated and pooled budgets", summary, list(summary.columns))
