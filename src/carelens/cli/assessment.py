"""Assessments and ratings: commissioners, CQC rating rules, SAF, trust ratings, segmentation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from carelens.cli._common import (
    DbOption,
    OutTableOption,
    app,
    cli_actor,
    date_option,
    handles_errors,
    open_store,
    print_frame,
)

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
    intervene_codes: list[str] | None = typer.Option(
        None, "--intervene", help="Record an intervention for this commissioner code (repeatable)."
    ),
    decision: str = typer.Option(
        "directions", "--decision", help="The intervention decided (with --intervene)."
    ),
    record: bool = typer.Option(
        False,
        "--record",
        help="Record every commissioner's assessment in the store (audited): the evidence an intervention "
        "is closed on.",
    ),
    db: DbOption = None,
) -> None:
    """Commissioner scorecards against peers, finance and leadership; rating with reasons; size analysis.

    A part with no evidence (no indicator scored against peers, no finance return) is "not assessed",
    and so is the overall rating; an intervention is never recorded on a commissioner not assessed."""
    from carelens.services.funding import (
        NOT_ASSESSED,
        assess_commissioners,
        by_rating,
        intervene,
        parse_year,
        record_assessments,
    )
    from carelens.tables import write_table

    wanted = parse_year(year)
    engine = open_store(db) if (db or observations is None or intervene_codes or record) else None
    assessed = assess_commissioners(engine, wanted, observations, finance, leadership, rules, settings)
    result = assessed.assessment
    card = result.scorecard
    print_frame(
        f"commissioner assessment {year} (commissioners from the {assessed.practices_from})",
        by_rating(card),
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
    print_frame("is performance related to size?", result.size, list(result.size.columns))
    typer.echo(
        f"Spearman rho (population vs net worse share) = {result.size_correlation:.3f}, p = {result.size_p_value:.3f}"
    )
    if intervene_codes:  # every code checked before anything is written: all the interventions or none
        recorded = intervene(engine, cli_actor(engine), assessed, list(intervene_codes), decision)
    if record:
        typer.echo(
            f"recorded {len(record_assessments(engine, cli_actor(engine), assessed))} assessment(s) of {year}"
        )
    if out:
        write_table(card.assign(reasons=card["reasons"].map("; ".join)), out)
        typer.echo(f"wrote {out}")
    for code, new_id in zip(intervene_codes or [], recorded if intervene_codes else [], strict=False):
        typer.echo(f"recorded intervention #{new_id} for {code}: {decision}")


rate_app = typer.Typer(
    help="Ratings: CQC rating rules and SAF scoring, compared with published ratings; rating history.",
    no_args_is_help=True,
)
app.add_typer(rate_app, name="rate")


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
    from carelens.services.assessment import agreement, compare_published
    from carelens.tables import check_output_table, write_table

    check_output_table(out)
    table = compare_published(input, rules, config)
    write_table(table, out)
    summary, missed = agreement(table)
    print_frame(f"rules {rules}: computed vs published", summary, list(summary.columns))
    if not missed.empty:
        print_frame(
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
    from carelens.services.assessment import saf_ratings
    from carelens.tables import check_output_table, write_table

    check_output_table(out)
    table = saf_ratings(input, method, config)
    write_table(table, out)
    shown = table[table["level"] != "quality_statement"]
    print_frame(
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
    rule_rating: str | None = typer.Option(
        None,
        "--rule-rating",
        help="Cross-check only: the rules' rating you expect (carelens computes it; refused if it differs).",
    ),
    key_question: str = typer.Option("Overall", "--key-question"),
    level: str = typer.Option("location", "--level", help="service, location or provider."),
    service: str = typer.Option("Overall", "--service"),
    method: str = typer.Option("judgement", "--method", help="e.g. rules:adult-social-care."),
    date: str = typer.Option(..., "--date", help="Effective date YYYY-MM-DD."),
    rationale: str | None = typer.Option(
        None, "--rationale", help="Required for a departure from the rules."
    ),
    db: DbOption = None,
) -> None:
    """Propose a rating (a draft in the append-only history). The rules' rating is computed from the
    ratings carelens holds; a departure needs --rationale. It is published by `rate approve`, by a chief
    inspector of the sector who is not its proposer."""
    from carelens.services.assessment import record_rating

    when = date_option(date, "--date")
    engine = open_store(db)
    actor = cli_actor(engine)
    new_id = record_rating(
        engine,
        actor,
        org_code,
        level=level,
        service=service,
        key_question=key_question,
        rating=rating,
        method=method,
        effective_date=when,
        rationale=rationale,
        expected_rule_rating=rule_rating,
    )
    typer.echo(f"proposed rating #{new_id}: {org_code} {key_question} {rating} (a draft until approved)")


@rate_app.command("approve")
@handles_errors
def rate_approve(
    rating_id: int = typer.Argument(..., help="The draft rating's id (from `rate record`)."),
    db: DbOption = None,
) -> None:
    """Approve a draft rating and publish it (a chief inspector of the sector, not its proposer)."""
    from carelens.services.assessment import approve_rating

    engine = open_store(db)
    new_id = approve_rating(engine, cli_actor(engine), rating_id)
    typer.echo(f"published rating #{new_id} (approves draft #{rating_id})")


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

    from carelens.services.assessment import record_trust_ratings

    when = date_option(on, "--on") if on else dt.date.today()
    engine = open_store(db)
    recorded = record_trust_ratings(engine, cli_actor(engine), when)
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
    from carelens.services.assessment import segments
    from carelens.tables import check_output_table, write_table

    check_output_table(out)
    table = segments(input, config)
    write_table(table, out)
    print_frame(
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
