"""Inspection plans and the failure regime (``carelens.plan``), read through the role rules.

Which inspections an actor may read is its ``inspection_plans`` rule, interpreted with every other
scope in :mod:`carelens.services.reach`: an inspector the inspections assigned to it and those of the
organisations it is tied to (``Scope.ASSIGNED``), a chief inspector its sector, analysts and admins
all. Providers, the public, the national board and
policy makers get :class:`~carelens.services.NotFound` (404, never 403) for any planned inspection and
never see an unannounced window; they see completed inspections only, without window or plan details.

Failure-regime cases (warning notices, conditions, special measures...) are the regulator's
enforcement work in progress; NHS trust oversight and commissioner interventions are the national
board's. Who sees a regime's cases is the role rule :data:`REGIME_RULES` names for it (data, not code):
roles reaching nothing by any of them may not use the area (:class:`Forbidden`); others see the cases
of the organisations in their reach, and a case outside it does not exist for them. Changes (open,
move, escalate, recovery actions) need the ``regime_changes`` rule and the case in reach; the guards
themselves are the domain's (:mod:`carelens.plan.regime`), refusing in words why.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import pandas as pd
import sqlalchemy as sa

from carelens.model.access import Actor, Scope
from carelens.plan import regime
from carelens.plan import service as plan_service
from carelens.services import Forbidden, Invalid, NotFound
from carelens.services._db import (
    Db,
    Page,
    author,
    organisation_names,
    page_bounds,
    page_of,
    plain,
    reading,
    records,
)
from carelens.services.organisations import get_organisation
from carelens.services.reach import Reach, covers_any, inspections, reach
from carelens.store import schema
from carelens.store.schema_plan import (
    plan_assignment,
    plan_inspection,
    plan_recovery_action,
    plan_regime_case,
    plan_regime_transition,
    plan_schedule,
)

INSPECTION_STATUSES = tuple(plan_service.STATUS_MOVES)
"""The statuses an inspection in a saved plan may have (the moves between them are the plan's rules)."""

CASE_TABLE_COLUMNS = {
    "transitions": list(plan_regime_transition.columns.keys()),
    "actions": list(plan_recovery_action.columns.keys()),
}
"""Columns of a case's history and of its recovery actions (:func:`regime_case`), even when empty."""

REGIME_RULE = "inspection_plans"
"""The :class:`carelens.model.access.RoleRules` field deciding who sees failure-regime cases: the
regulator's roles (an inspector the organisations it is tied to, a chief inspector its sector, analysts
and admins all). Enforcement in progress is as confidential as the plan of inspections it drives."""

PLAN_COLUMNS = [
    "id",
    "schedule_id",
    "org_code",
    "name",
    "sector",
    "region",
    "inspection_type",
    "unannounced",
    "start_date",
    "end_date",
    "window_start",
    "window_end",
    "team_size",
    "days",
    "risk",
    "due_date",
    "deadline",
    "reasons",
    "unscheduled_reason",
    "status",
    "team",
    "lead",
]
"""Columns of an inspection plan row: the inspection, its confidential window, its team (inspector
ids, lead first) and whether the asking inspector leads it."""


def may_see_plans(actor: Actor) -> bool:
    """Whether the actor's role may see inspection plans at all (its ``inspection_plans`` rule reaches
    something); anyone else gets NotFound (404, never 403) for every plan and planned inspection."""
    return actor.rules.inspection_plans is not Scope.NONE


def plans_own_assignments(actor: Actor) -> bool:
    """Whether the plan the actor sees is its own assignments (an inspector's), not a sector's or all."""
    return actor.rules.inspection_plans is Scope.ASSIGNED


def _inspections_clause(actor: Actor) -> sa.ColumnElement[bool] | None:
    """SQL: the planned inspections ``actor`` may see (None: none at all), as its ``inspection_plans``
    scope reaches them (:func:`carelens.services.reach.inspections`)."""
    return inspections(actor, actor.rules.inspection_plans)


def _plan_frame(connection: sa.Connection, actor: Actor, schedule_id: int | None) -> pd.DataFrame:
    """The planned inspections of a schedule (default: the latest) that ``actor`` may see; NotFound (404)
    for roles without the inspection-plans right, or with nothing in reach."""
    clause = _inspections_clause(actor)
    if clause is None:
        raise NotFound("no such inspection plan")
    s = plan_schedule
    schedule_id = schedule_id or connection.execute(sa.select(sa.func.max(s.c.id))).scalar()
    if schedule_id is None:
        raise NotFound("no such inspection plan")
    i = plan_inspection
    # Scheduled inspections first, by date; then the unscheduled (SQLite sorts NULL first otherwise).
    query = (
        sa.select(i)
        .where(i.c.schedule_id == schedule_id, clause)
        .order_by(i.c.start_date.is_(None), i.c.start_date, i.c.org_code)
    )
    frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in i.columns])
    if frame.empty and actor.rules.inspection_plans is not Scope.ALL:
        raise NotFound("no such inspection plan")
    return frame


@lru_cache(maxsize=256)
def _organisation_queries(actor: Actor) -> tuple[sa.Select | None, sa.Select]:
    """The statements behind an organisation's inspections for ``actor`` (bound parameter ``code``): its
    view of the plan (None if it has none) and the public view of completed inspections. Built once per
    actor, since building a statement costs more than running it."""
    i = plan_inspection
    clause = _inspections_clause(actor)
    planned = None
    if clause is not None:
        # Re-planning saves a new schedule: an earlier schedule's inspections that never started were
        # replaced by the latest one's, so only those that took place (or are taking place) are kept.
        latest = sa.select(sa.func.max(plan_schedule.c.id)).scalar_subquery()
        current = sa.or_(i.c.schedule_id == latest, i.c.status.in_(plan_service.TOOK_PLACE))
        planned = sa.select(i).where(i.c.org_code == sa.bindparam("code"), clause, current).order_by(i.c.id)
    done = (
        sa.select(*(i.c[c] for c in plan_service.PUBLIC_COLUMNS))
        .where(i.c.org_code == sa.bindparam("code"), i.c.status == "completed")
        .order_by(i.c.id)
    )
    return planned, done


def _teams(connection: sa.Connection, ids: list[int]) -> dict[int, list[tuple[str, bool]]]:
    """Each inspection's team (inspector id, lead), lead first."""
    if not ids:
        return {}
    a = plan_assignment
    query = (
        sa.select(a.c.inspection_id, a.c.inspector_id, a.c.lead)
        .where(a.c.inspection_id.in_(ids))
        .order_by(a.c.inspection_id, a.c.lead.desc(), a.c.inspector_id)
    )
    teams: dict[int, list[tuple[str, bool]]] = {}
    for row in connection.execute(query):
        teams.setdefault(int(row.inspection_id), []).append((row.inspector_id, bool(row.lead)))
    return teams


def inspection_plan(
    db: Db,
    actor: Actor,
    schedule_id: int | None = None,
    page: int = 1,
    page_size: int | None = None,
    status: str | None = None,
) -> Page:
    """The planned inspections of a schedule (default: the latest) that ``actor`` may see, with windows
    and teams: an inspector's assignments, a chief inspector's sector, everything for analysts;
    scheduled ones first by date, then those that could not be scheduled. ``status`` keeps one status
    (:data:`carelens.plan.service.STATUS_MOVES`). Anyone else gets NotFound (404)."""
    with reading(db) as connection:
        if schedule_id is not None:
            schedule_summary(connection, actor, schedule_id)  # NotFound for a schedule that does not exist
        frame = _plan_frame(connection, actor, schedule_id)
        if status is not None:
            if status not in plan_service.STATUS_MOVES:
                raise Invalid(f"status must be one of {', '.join(plan_service.STATUS_MOVES)}, not {status!r}")
            frame = frame[frame["status"] == status]
        page, size = page_bounds(page, page_size)
        rows = records(frame.iloc[(page - 1) * size : page * size])  # teams and names of this page only
        teams = _teams(connection, [int(r["id"]) for r in rows])
        names = organisation_names(connection, {r["org_code"] for r in rows})
    for row in rows:
        team = teams.get(int(row["id"]), [])
        row["name"] = names.get(row["org_code"])
        row["team"] = [member for member, _ in team]
        row["lead"] = any(member == actor.inspector_id and lead for member, lead in team)
    return Page([{c: r.get(c) for c in PLAN_COLUMNS} for r in rows], len(frame), page, size, PLAN_COLUMNS)


def inspection(db: Db, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """One inspection as ``actor`` may see it, with its team when the actor may see the plan. Planned (not
    completed) inspections, and every unannounced window, exist only for roles that may see the plan:
    anyone else gets NotFound (404), never 403. A completed inspection is shown to anyone without its
    window or plan details."""
    i = plan_inspection
    with reading(db) as connection:
        found = connection.execute(sa.select(i).where(i.c.id == inspection_id)).mappings().first()
        if found is None:
            raise NotFound(f"no inspection {inspection_id}")
        clause = _inspections_clause(actor)
        visible = (
            clause is not None
            and connection.execute(sa.select(i.c.id).where(i.c.id == inspection_id, clause)).first()
        )
        if visible:
            row = plain(dict(found))
        elif found["status"] == "completed":
            row = plain({k: found[k] for k in plan_service.PUBLIC_COLUMNS})
        else:
            raise NotFound(f"no inspection {inspection_id}")
        if "window_start" in row:
            row["team"] = [m for m, _ in _teams(connection, [inspection_id]).get(inspection_id, [])]
    return row


def organisation_inspections(
    db: Db, actor: Actor, code: str, page: int = 1, page_size: int | None = None
) -> Page:
    """An organisation's inspections as ``actor`` may see them: the whole plan for roles entitled to it,
    completed inspections only (no window, nothing planned) for anyone else."""
    with reading(db) as connection:
        get_organisation(connection, actor, code)
        rows, columns = _organisation_inspections(connection, actor, code)
    return page_of(rows, page, page_size, columns)


def _organisation_inspections(
    connection: sa.Connection, actor: Actor, code: str
) -> tuple[list[dict[str, Any]], list[str]]:
    planned, done = _organisation_queries(actor)
    rows = []
    if planned is not None:
        rows = [dict(row) for row in connection.execute(planned, {"code": code}).mappings()]
    if not rows:
        rows = [dict(row) for row in connection.execute(done, {"code": code}).mappings()]
    shown = rows[0] if rows else plan_service.PUBLIC_COLUMNS
    columns = [c for c in shown if c not in ("evidence", "proposed_ratings")]
    return [plain({c: row[c] for c in columns}) for row in rows], columns


def profile_inspections(connection: sa.Connection, actor: Actor, code: str) -> list[dict[str, Any]]:
    """The inspections an organisation profile shows ``actor`` (see :func:`organisation_inspections`)."""
    return _organisation_inspections(connection, actor, code)[0]


def schedule_summary(db: Db, actor: Actor, schedule_id: int | None = None) -> dict[str, Any]:
    """A schedule's status and summary (default: the latest), for roles that may see inspection plans."""
    if not may_see_plans(actor):
        raise NotFound("no such inspection plan")
    s = plan_schedule
    with reading(db) as connection:
        query = sa.select(s).order_by(s.c.id.desc()).limit(1)
        if schedule_id is not None:
            query = sa.select(s).where(s.c.id == schedule_id)
        row = connection.execute(query).mappings().first()
    if row is None:
        raise NotFound("no such inspection plan")
    return plain(row)


# --- failure regime -------------------------------------------------------------------------------

REGIME_RULES = {"provider": REGIME_RULE, "nhs_trust": "board_cases", "commissioner": "board_cases"}
"""Whose each regime's cases are, as the :class:`carelens.model.access.RoleRules` field deciding who sees
them: the regulator's enforcement against providers (``inspection_plans``), the national board's NHS
trust oversight and commissioner interventions (``board_cases``). A regime not named here is the
regulator's."""


def _rule(regime_name: str) -> str:
    return REGIME_RULES.get(regime_name, REGIME_RULE)


def _regime_reaches(connection: sa.Connection, actor: Actor) -> dict[str, Reach]:
    """What each rule deciding who sees regime cases reaches for the actor (the rules it reaches
    nothing by are left out); Forbidden when none reaches anything."""
    rules = {rule: getattr(actor.rules, rule) for rule in set(REGIME_RULES.values()) | {REGIME_RULE}}
    reaches = {
        rule: reach(connection, actor, scope) for rule, scope in rules.items() if covers_any(actor, scope)
    }
    if not reaches:
        raise Forbidden("failure-regime cases are for the regulator's and the national board's roles")
    return reaches


def may_see_regime(actor: Actor) -> bool:
    """Whether some regime's rule (:data:`REGIME_RULES`) reaches an organisation for the actor: who may
    use the failure regime's cases at all (anyone else is refused, 403)."""
    rules = set(REGIME_RULES.values()) | {REGIME_RULE}
    return any(covers_any(actor, getattr(actor.rules, rule)) for rule in rules)


def _codes(connection: sa.Connection, within: Reach, codes: set[str]) -> set[str]:
    """Those of ``codes`` in reach."""
    if within.everything or not codes:
        return set(codes)
    org = schema.organisation
    found = connection.execute(
        sa.select(org.c.code).where(org.c.code.in_(sorted(codes)), within.clause(org.c.code))
    ).scalars()
    return set(found) | (codes & set(within.codes))


def _visible(
    connection: sa.Connection, reaches: dict[str, Reach], frame: pd.DataFrame, extra: Reach | None = None
) -> pd.DataFrame:
    """The cases of ``frame`` the actor sees: each by its regime's rule, or by ``extra`` (any regime)."""
    if frame.empty:
        return frame
    keep = pd.Series(False, index=frame.index)
    for rule, within in reaches.items():
        mine = frame["regime"].map(_rule) == rule
        keep |= mine & frame["org_code"].isin(_codes(connection, within, set(frame.loc[mine, "org_code"])))
    if extra is not None and not extra.empty:
        keep |= frame["org_code"].isin(_codes(connection, extra, set(frame["org_code"])))
    return frame[keep]


def regime_cases(
    db: Db,
    actor: Actor,
    org_code: str | None = None,
    regime_name: str | None = None,
    open_only: bool = False,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Failure-regime cases the actor sees (each regime's by its rule, :data:`REGIME_RULES`), by id,
    with each one's name: the national board every case it owns, the regulator's roles theirs."""
    with reading(db) as connection:
        reaches = _regime_reaches(connection, actor)
        frame = _visible(connection, reaches, regime.cases(connection, org_code, open_only))
        if regime_name:
            frame = frame[frame["regime"] == regime_name]
        frame.insert(
            list(frame.columns).index("org_code") + 1,
            "name",
            frame["org_code"].map(organisation_names(connection, set(frame["org_code"]))),
        )
    return page_of(records(frame), page, page_size, list(frame.columns))


def _visible_case(connection: sa.Connection, actor: Actor, case_id: int) -> dict[str, Any]:
    """One case the actor sees (NotFound if it does not exist or is outside its reach)."""
    reaches = _regime_reaches(connection, actor)
    c = plan_regime_case
    found = pd.DataFrame(
        connection.execute(sa.select(c).where(c.c.id == case_id)).mappings().all(),
        columns=[col.name for col in c.columns],
    )
    found = _visible(connection, reaches, found)
    if found.empty:
        raise NotFound(f"no regime case {case_id}")
    return records(found)[0]


def regime_case(db: Db, actor: Actor, case_id: int) -> dict[str, Any]:
    """One case with its history (every transition: who, when, why) and its recovery actions; NotFound
    outside the reach."""
    with reading(db) as connection:
        case = _visible_case(connection, actor, case_id)
        history = regime.transitions(connection, case_id)
        actions = regime.actions(connection, case_id)
    return {**case, "transitions": records(history), "actions": records(actions)}


def case_steps(db: Db, actor: Actor, case_id: int, on: dt.date | None = None) -> dict[str, Any]:
    """What the actor may do with a case now, for the pages to offer only that: the events its regime
    allows from the case's state (``events``), the event an escalation would take when the case is
    overdue on ``on`` (default today; ``escalate_to``, else None) and whether it may add and complete
    recovery actions (``actions``). By the same rule as the changes, which still check everything (the
    guards among them) when taken; nothing for a closed case. NotFound as :func:`regime_case`."""
    on = on or dt.date.today()
    nothing = {"events": [], "escalate_to": None, "actions": False}
    with reading(db) as connection:
        case = _visible_case(connection, actor, case_id)
        if case["closed"] or not actor.signed_in:
            return nothing
        try:
            _may_change(connection, actor, case["regime"], case["org_code"])
        except (Forbidden, NotFound):
            return nothing
    events, escalation = regime.moves_from(case["regime"], case["state"])
    overdue = case["deadline"] is not None and str(case["deadline"]) < on.isoformat()
    return {"events": events, "escalate_to": escalation if overdue else None, "actions": True}


def overdue_actions(
    db: Db, actor: Actor, as_of: dt.date | None = None, page: int = 1, page_size: int | None = None
) -> Page:
    """Open cases on the actor's list whose next action was due before ``as_of`` (default today), most
    overdue first, each with the step that escalates it."""
    frame = overdue_cases(db, actor, as_of or dt.date.today())
    return page_of(records(frame), page, page_size, list(frame.columns))


def _may_change(connection: sa.Connection, actor: Actor, regime_name: str, org_code: str) -> str:
    """The name a change to a case of ``regime_name`` for ``org_code`` is recorded under: Forbidden for
    a role that does not act on failure-regime cases, NotFound outside the regime's reach."""
    author(actor)
    if not actor.rules.regime_changes:
        raise Forbidden("failure-regime cases are changed by chief inspectors and the national board")
    scope = getattr(actor.rules, _rule(regime_name))
    if not covers_any(actor, scope):
        raise Forbidden(f"{regime_name} cases are not yours to change")
    within = reach(connection, actor, scope)
    if not within.everything and not _codes(connection, within, {org_code}):
        raise NotFound(f"no organisation {org_code!r} in reach")
    return author(actor)


def _changed_case(connection: sa.Connection, actor: Actor, case_id: int) -> tuple[dict[str, Any], str]:
    """A case the actor may change, and the name the change is recorded under."""
    case = _visible_case(connection, actor, case_id)
    return case, _may_change(connection, actor, case["regime"], case["org_code"])


def open_case(
    db: Db, actor: Actor, regime_name: str, org_code: str, reason: str, at: dt.date | None = None
) -> int:
    """Open a failure-regime case for an organisation in the store and in the actor's reach, recorded as
    done by it."""
    with reading(db) as connection:
        user = _may_change(connection, actor, regime_name, org_code)
    return regime.open_case(db, regime_name, org_code, user, reason, at)


def move_case(
    db: Db, actor: Actor, case_id: int, event: str, reason: str, at: dt.date | None = None
) -> dict[str, Any]:
    """Apply ``event`` to a case in the actor's reach (:func:`carelens.plan.regime.transition`, with its
    guards), recorded as done by it; the case as it now is."""
    with reading(db) as connection:
        _, user = _changed_case(connection, actor, case_id)
    return plain(regime.transition(db, case_id, event, user, reason, at))


def escalate_case(
    db: Db, actor: Actor, case_id: int, reason: str, at: dt.date | None = None
) -> dict[str, Any]:
    """Take an overdue case in the actor's reach to its next step (:func:`carelens.plan.regime.escalate`)."""
    with reading(db) as connection:
        _, user = _changed_case(connection, actor, case_id)
    return plain(regime.escalate(db, case_id, user, reason, at))


def add_recovery_action(
    db: Db, actor: Actor, case_id: int, action: str, owner: str, due_date: dt.date
) -> dict[str, Any]:
    """Add a recovery action (what, whose, by when) to a case the actor may change."""
    with reading(db) as connection:
        _, user = _changed_case(connection, actor, case_id)
    new_id = regime.add_action(db, case_id, action, owner, due_date, user)
    return recovery_action(db, actor, new_id)


def _visible_action(connection: sa.Connection, actor: Actor, action_id: int) -> dict[str, Any]:
    found = regime.actions(connection)
    found = found[found["id"] == action_id]
    if found.empty:
        raise NotFound(f"no recovery action {action_id}")
    _visible_case(connection, actor, int(found["case_id"].iloc[0]))  # NotFound outside the reach
    return records(found)[0]


def recovery_action(db: Db, actor: Actor, action_id: int) -> dict[str, Any]:
    """One recovery action of a case the actor sees."""
    with reading(db) as connection:
        return _visible_action(connection, actor, action_id)


def complete_recovery_action(
    db: Db, actor: Actor, action_id: int, note: str, on: dt.date | None = None
) -> dict[str, Any]:
    """Mark a recovery action of a case the actor may change done, with the evidence (``note``)."""
    with reading(db) as connection:
        action = _visible_action(connection, actor, action_id)
        _, user = _changed_case(connection, actor, int(action["case_id"]))
    return plain(regime.complete_action(db, action_id, user, note, on))


def overdue_cases(db: Db, actor: Actor, as_of: dt.date) -> pd.DataFrame:
    """Open cases on the actor's list whose next action was due before ``as_of``, most overdue first:
    those it sees by their regime's rule, and every regime's in its ``escalations`` reach (the chief
    inspector's sector, the national board's all)."""
    with reading(db) as connection:
        reaches = _regime_reaches(connection, actor)
        extra = reach(connection, actor, actor.rules.escalations)
        return _visible(connection, reaches, regime.overdue(connection, as_of), extra)


def inadequate_without_special_measures(db: Db, actor: Actor, on: dt.date) -> pd.DataFrame:
    """Organisations in the regulator's reach rated Inadequate overall on ``on`` that are not in
    special measures."""
    with reading(db) as connection:
        within = _regime_reaches(connection, actor).get(REGIME_RULE)
        frame = regime.inadequate_without_special_measures(connection, on)
        if within is None:
            return frame.iloc[0:0]
        return frame[frame["org_code"].isin(_codes(connection, within, set(frame["org_code"])))]


def adopt_interventions(db: Db, actor: Actor) -> list[int]:
    """Take over the open commissioner interventions decided by the national board as commissioner cases,
    recorded as done by the actor, who must act on commissioner cases of every organisation."""
    user = author(actor)
    if not (actor.rules.regime_changes and getattr(actor.rules, _rule("commissioner")) is Scope.ALL):
        raise Forbidden(
            "taking over the national board's interventions needs every commissioner case in reach"
        )
    return regime.adopt_fund_interventions(db, user)


# --- making plans ---------------------------------------------------------------------------------


def plan_inputs(db: Db, weeks: int, as_of: dt.date | None, *files: Any) -> Any:
    """What a plan is made from: demand from the store, the inspectorate, leave, regions, concerns and
    settings files (:func:`carelens.plan.programme.load_inputs`)."""
    from carelens.plan.programme import load_inputs

    return load_inputs(db, weeks, as_of, *files)


def make_schedule(inputs: Any, method: str = "milp") -> Any:
    """Schedule the inspections due (:func:`carelens.plan.programme.schedule`); nothing is stored."""
    from carelens.plan.programme import schedule

    return schedule(inputs, method)


def schedule_teams(result: Any, inspectors: pd.DataFrame) -> pd.DataFrame:
    """The team of each scheduled inspection, by inspector id."""
    from carelens.plan.schedule import with_inspector_ids

    return with_inspector_ids(result, inspectors)


def save_schedule(db: Db, actor: Actor, result: Any, inspectors: pd.DataFrame, as_of: dt.date) -> int:
    """Store a schedule as a draft, recorded as done by the actor, who must see every inspection plan."""
    if actor.rules.inspection_plans is not Scope.ALL:
        raise Forbidden("saving a schedule needs every inspection plan in reach")
    return plan_service.save_schedule(db, result, inspectors, author(actor), as_of)


def capacity(inputs: Any, extra: list[int]) -> pd.DataFrame:
    """What-if: the plan with each number of extra inspectors (:func:`carelens.plan.programme.capacity`)."""
    from carelens.plan.programme import capacity as curve

    return curve(inputs, extra)


def capacity_chart(curve: pd.DataFrame) -> str:
    """The capacity curve as an SVG chart."""
    from carelens.plan.whatif import curve_svg

    return curve_svg(curve)


def why_flat(curve: pd.DataFrame) -> list[str]:
    """Why the curve stops rising, in sentences (:func:`carelens.plan.whatif.why_flat`)."""
    from carelens.plan.whatif import why_flat as reasons

    return reasons(curve)
