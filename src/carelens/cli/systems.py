"""Local system reviews and accountable care organisations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carelens.cli._common import (
    DbOption,
    app,
    cli_actor,
    date_option,
    handles_errors,
    open_store,
    print_frame,
    stderr_console,
)

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
    from carelens.services.systems import programme_settings

    return open_store(db), *programme_settings(config)


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
    from carelens.services.systems import place_selection
    from carelens.tables import write_table

    engine, cfg, definitions = _systems_context(db, config)
    compared, ranking = place_selection(
        engine, cli_actor(engine), cfg, definitions, date_option(period, "--period")
    )
    if ranking is None:
        stderr_console().print(
            "No place-level transition indicators in the store: load them with "
            "`carelens ingest place-transitions FILE` (a synthetic set is packaged in "
            "carelens/data/systems/).",
            highlight=False,
        )
        return
    columns = [
        "rank",
        "org_code",
        "score",
        "indicators_scored",
        *[c for c in ranking.columns if c.startswith("z_")],
    ]
    shown = compared["period"].iloc[0] if not compared.empty else "-"
    print_frame(f"selection score, period {shown} (adverse z, capped)", ranking, columns, limit)
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
    from carelens.services.systems import record_direction

    engine, cfg, _ = _systems_context(db, config)
    new_id, under = record_direction(
        engine,
        cli_actor(engine),
        cfg,
        reference=reference,
        directed_by=directed_by,
        power=power,
        scope=scope,
        directed_on=date_option(on, "--on"),
        budget_gbp=budget,
        cost_per_review_gbp=cost_per_review,
    )
    typer.echo(f"recorded direction #{new_id} {reference} under {under}")


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
    from carelens.services.systems import programme_plan

    engine, cfg, definitions = _systems_context(db, config)
    plan = programme_plan(
        engine, cli_actor(engine), cfg, definitions, budget, cost_per_review, date_option(period, "--period")
    )
    _print_plan(plan)
    print_frame("places", plan.places[plan.places["selected"]], ["rank", "org_code", "score"])


@review_app.command("select")
@handles_errors
def systems_review_select(
    reference: DirectionArgument = ...,
    period: IndicatorPeriodOption = None,
    config: SystemsConfigOption = None,
    db: DbOption = None,
) -> None:
    """Select the places a direction's budget buys reviews for (highest score first); recorded and audited."""
    from carelens.services.systems import select_places

    engine, cfg, definitions = _systems_context(db, config)
    plan = select_places(
        engine, cli_actor(engine), reference, cfg, definitions, date_option(period, "--period")
    )
    _print_plan(plan)
    print_frame("selected places", plan.places[plan.places["selected"]], ["rank", "org_code", "score"])


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
    from carelens.services.systems import record_review

    engine, cfg, _ = _systems_context(db, config)
    review_id = record_review(
        engine,
        cli_actor(engine),
        reference,
        place,
        findings,
        cfg,
        board=board,
        reported_on=date_option(reported_on, "--reported-on"),
        summit_on=date_option(summit_on, "--summit-on"),
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
    from carelens.services.systems import action_plans, record_actions

    engine, _, _ = _systems_context(db, None)
    actor = cli_actor(engine)
    if file is not None:
        if place is None:
            raise InputError(
                Problem("--place", None, None, "give the place whose action plan the file updates")
            )
        counts = record_actions(engine, actor, reference, place, file)
        typer.echo(
            f"actions: {counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged"
        )
    plan = action_plans(engine, actor, date_option(as_of, "--as-of") or dt.date.today(), reference)
    columns = ["place_code", "number", "action", "owner", "deadline", "status", "overdue", "days_overdue"]
    print_frame(f"action plans, {reference}", plan, columns)
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
    from carelens.services.funding import parse_year
    from carelens.services.systems import settle_acos
    from carelens.tables import write_table

    engine, cfg, definitions = _systems_context(db, config)
    wanted = parse_year(year)
    settled, lines = settle_acos(engine, cli_actor(engine), finance, wanted, cfg, definitions, market)
    columns = ["aco_code", "population", "benchmark_gbp", "expenditure_gbp", "savings_rate", "minimum_rate"]
    columns += ["quality_passed", "outcome", "payment_gbp"]
    print_frame(f"ACO settlement {year}", settled, columns)
    if lines is not None:
        print_frame("market concentration (HHI) by service line", lines, list(lines.columns))
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
    from carelens.services.systems import bundle_prices

    prices = bundle_prices(episodes, config)
    print_frame(
        "bundled payments",
        prices,
        ["pathway", "instances", "mean_cost_gbp", "winsorised_mean_gbp", "bundle_price_gbp"],
    )


# --- plan: inspection programme (issue 6) ------------------------------------------------------------
