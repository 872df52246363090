"""Inspection planning and the failure regime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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

plan_app = typer.Typer(
    help="Inspection planning: demand, schedule and inspector capacity.", no_args_is_help=True
)
app.add_typer(plan_app, name="plan")


def _plan_inputs(db, weeks, as_of, inspectors, leave, regions, concerns, settings):
    from carelens.services.planning import plan_inputs

    engine = open_store(db)
    day = date_option(as_of, "--as-of")
    return engine, plan_inputs(engine, weeks, day, inspectors, leave, regions, concerns, settings)


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
    from carelens.services.planning import make_schedule, save_schedule, schedule_teams
    from carelens.tables import write_table

    engine, inputs = _plan_inputs(db, weeks, as_of, inspectors, leave, regions, concerns, settings)
    with stderr_console().status("Scheduling..."):
        result = make_schedule(inputs, method)
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
        write_table(schedule_teams(result, inputs.inspectors), teams)
        typer.echo(f"wrote {teams}")
    if save:
        schedule_id = save_schedule(engine, cli_actor(user), result, inputs.inspectors, inputs.as_of)
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
    from carelens.services.planning import capacity, capacity_chart, why_flat

    try:
        numbers = sorted({int(x) for x in extra.split(",") if x.strip()})
    except ValueError:
        raise InputError(Problem("--extra", None, None, f"not a list of whole numbers: {extra!r}")) from None
    if not numbers or numbers[0] < 0:
        raise InputError(Problem("--extra", None, None, "give numbers of extra inspectors, 0 or more"))
    _, inputs = _plan_inputs(db, weeks, as_of, inspectors, leave, regions, concerns, settings)
    with stderr_console().status("Solving the what-if..."):
        curve = capacity(inputs, numbers)
    typer.echo(
        f"What-if from {inputs.as_of} for {weeks} weeks: {curve.attrs['high_risk_total']} high-risk locations due, "
        f"{curve.attrs['due_total']} with a deadline before the end"
    )
    typer.echo(curve.to_string(index=False))
    for line in why_flat(curve):
        typer.echo(line)
    if svg:
        svg.write_text(capacity_chart(curve))
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
    from carelens.services.planning import open_case

    case_id = open_case(open_store(db), cli_actor(user), regime, org_code, reason, date_option(at, "--at"))
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
    from carelens.services.planning import move_case

    case = move_case(open_store(db), cli_actor(user), case_id, event, reason, date_option(at, "--at"))
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

    from carelens.services.planning import inadequate_without_special_measures, overdue_cases

    engine, actor = open_store(db), cli_actor()
    day = date_option(as_of, "--as-of") or dt.date.today()
    late = overdue_cases(engine, actor, day)
    print_frame(
        "overdue actions",
        late,
        ["id", "regime", "org_code", "state", "deadline", "deadline_action", "days_overdue"],
    )
    due = inadequate_without_special_measures(engine, actor, day)
    print_frame(
        "rated Inadequate, not in special measures", due, ["org_code", "level", "rating", "date", "source"]
    )


@regime_app.command("adopt-interventions")
@handles_errors
def regime_adopt(
    user: WhoOption = ...,
    db: DbOption = None,
) -> None:
    """Take over the open commissioner interventions decided by the national board (carelens fund)."""
    from carelens.services.planning import adopt_interventions

    cases = adopt_interventions(open_store(db), cli_actor(user))
    typer.echo(f"adopted {len(cases)} intervention(s) as commissioner cases {cases}")
