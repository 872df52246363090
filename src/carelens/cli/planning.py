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
        schedule_id = save_schedule(engine, cli_actor(engine), result, inputs.inspectors, inputs.as_of)
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
EffectiveDateOption = Annotated[str | None, typer.Option("--at", help="Effective date (ISO; default today).")]


@regime_app.command("open")
@handles_errors
def regime_open(
    regime: str = typer.Argument(..., help="provider, nhs_trust or commissioner."),
    org_code: str = typer.Argument(..., help="Organisation code."),
    reason: ReasonOption = ...,
    at: EffectiveDateOption = None,
    db: DbOption = None,
) -> None:
    """Open a failure-regime case."""
    from carelens.services.planning import open_case

    engine = open_store(db)
    case_id = open_case(engine, cli_actor(engine), regime, org_code, reason, date_option(at, "--at"))
    typer.echo(f"opened {regime} case {case_id} for {org_code}")


@regime_app.command("move")
@handles_errors
def regime_move(
    case_id: int = typer.Argument(..., help="Case id."),
    event: str = typer.Argument(..., help="Transition, e.g. warning_notice, enter_special_measures."),
    reason: ReasonOption = ...,
    at: EffectiveDateOption = None,
    db: DbOption = None,
) -> None:
    """Move a case (illegal transitions are refused with exit code 2)."""
    from carelens.services.planning import move_case

    engine = open_store(db)
    case = move_case(engine, cli_actor(engine), case_id, event, reason, date_option(at, "--at"))
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

    engine = open_store(db)
    actor = cli_actor(engine)
    day = date_option(as_of, "--as-of") or dt.date.today()
    late = overdue_cases(engine, actor, day)
    print_frame(
        "overdue actions (escalate with `regime escalate`)",
        late,
        ["id", "regime", "org_code", "state", "deadline", "deadline_action", "days_overdue", "escalate_to"],
    )
    due = inadequate_without_special_measures(engine, actor, day)
    print_frame(
        "rated Inadequate, not in special measures", due, ["org_code", "level", "rating", "date", "source"]
    )


@regime_app.command("adopt-interventions")
@handles_errors
def regime_adopt(
    db: DbOption = None,
) -> None:
    """Take over the open commissioner interventions decided by the national board (carelens fund)."""
    from carelens.services.planning import adopt_interventions

    engine = open_store(db)
    cases = adopt_interventions(engine, cli_actor(engine))
    typer.echo(f"adopted {len(cases)} intervention(s) as commissioner cases {cases}")


@regime_app.command("cases")
@handles_errors
def regime_list(
    regime: str | None = typer.Option(None, "--regime", help="Only this regime's cases."),
    org_code: str | None = typer.Option(None, "--org", help="Only this organisation's cases."),
    open_only: bool = typer.Option(False, "--open", help="Only cases still open."),
    db: DbOption = None,
) -> None:
    """Failure-regime cases, by id."""
    import pandas as pd

    from carelens.services.planning import regime_cases

    store = open_store(db)
    page = regime_cases(store, cli_actor(store), org_code, regime, open_only, page_size=10**6)
    frame = pd.DataFrame(page.items, columns=page.columns)
    print_frame("regime cases", frame, ["id", "regime", "org_code", "name", "state", "deadline", "closed"])


@regime_app.command("escalate")
@handles_errors
def regime_escalate(
    case_id: int = typer.Argument(..., help="Case id."),
    reason: ReasonOption = ...,
    at: EffectiveDateOption = None,
    db: DbOption = None,
) -> None:
    """Take an overdue case to its next step (enforcement; cancellation of registration last)."""
    from carelens.services.planning import escalate_case

    store = open_store(db)
    case = escalate_case(store, cli_actor(store), case_id, reason, date_option(at, "--at"))
    due = f"; next: {case['deadline_action']} by {case['deadline']}" if case["deadline"] else ""
    typer.echo(f"case {case_id} escalated to {case['state']}{due}")


action_app = typer.Typer(help="Recovery actions of a failure-regime case.", no_args_is_help=True)
regime_app.add_typer(action_app, name="action")


@action_app.command("add")
@handles_errors
def action_add(
    case_id: int = typer.Argument(..., help="Case id."),
    action: str = typer.Option(..., "--action", help="What must be done."),
    owner: str = typer.Option(..., "--owner", help="Who must do it."),
    due: str = typer.Option(..., "--due", help="By when (ISO date)."),
    db: DbOption = None,
) -> None:
    """Add a recovery action with its owner and due date."""
    from carelens.services.planning import add_recovery_action

    store = open_store(db)
    row = add_recovery_action(store, cli_actor(store), case_id, action, owner, date_option(due, "--due"))
    typer.echo(
        f"added recovery action {row['id']} to case {case_id}: {row['action']} ({row['owner']}, due {row['due_date']})"
    )


@action_app.command("done")
@handles_errors
def action_done(
    action_id: int = typer.Argument(..., help="Recovery action id."),
    note: str = typer.Option(..., "--note", help="The evidence it was done (recorded)."),
    on: str | None = typer.Option(None, "--on", help="When (ISO; default today)."),
    db: DbOption = None,
) -> None:
    """Mark a recovery action done, with the evidence."""
    from carelens.services.planning import complete_recovery_action

    store = open_store(db)
    row = complete_recovery_action(store, cli_actor(store), action_id, note, date_option(on, "--on"))
    typer.echo(f"recovery action {action_id} done on {row['done_on']}")


@action_app.command("list")
@handles_errors
def action_list(case_id: int = typer.Argument(..., help="Case id."), db: DbOption = None) -> None:
    """A case's recovery actions, by due date."""
    import pandas as pd

    from carelens.services.planning import regime_case

    store = open_store(db)
    case = regime_case(store, cli_actor(store), case_id)
    frame = pd.DataFrame(case["actions"], columns=["id", "action", "owner", "due_date", "status", "done_on"])
    print_frame(f"recovery actions of case {case_id}", frame, list(frame.columns))
