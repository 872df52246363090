"""Inspection plans and the failure regime (``carelens.plan``), read through the role rules.

Inspections are read only through the access-checked functions of :mod:`carelens.plan.service`
(rule ``inspection_plans``): providers, the public, the national board and policy makers get
:class:`~carelens.services.NotFound` (404, never 403) for any planned inspection and never see an
unannounced window; they see completed inspections only, without window or plan details.

Failure-regime cases (warning notices, conditions, special measures...) are the regulator's
enforcement work in progress. Who sees them is the role rule named by :data:`REGIME_RULE` (data, not
code): roles whose scope reaches no organisation may not use the area (:class:`Forbidden`); others see
the cases of the organisations in their reach, and a case outside it does not exist for them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa

from carelens.model.access import Actor, Scope
from carelens.plan import regime
from carelens.plan import service as plan_service
from carelens.services import Invalid, NotFound
from carelens.services._db import Db, Page, organisation_names, page_bounds, page_of, plain, reading, records
from carelens.services.organisations import get_organisation
from carelens.services.reach import Reach, reach_or_forbidden
from carelens.store import schema
from carelens.store.schema_plan import plan_assignment, plan_schedule

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
    and teams: an inspector's own assignments, a chief inspector's sector, everything for analysts;
    scheduled ones first by date, then those that could not be scheduled. ``status`` keeps one status
    (:data:`carelens.plan.service.STATUS_MOVES`). Anyone else gets NotFound (404)."""
    with reading(db) as connection:
        if schedule_id is not None:
            schedule_summary(connection, actor, schedule_id)  # NotFound for a schedule that does not exist
        frame = plan_service.inspection_plan(connection, actor, schedule_id)
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
    """One inspection as ``actor`` may see it (:func:`carelens.plan.service.get_inspection`), with its
    team when the actor may see the plan."""
    with reading(db) as connection:
        row = plain(plan_service.get_inspection(connection, actor, inspection_id))
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
    rows = plan_service.organisation_inspections(connection, actor, code)
    shown = rows[0] if rows else plan_service.PUBLIC_COLUMNS
    columns = [c for c in shown if c not in ("evidence", "proposed_ratings")]
    return [plain({c: row[c] for c in columns}) for row in rows], columns


def profile_inspections(connection: sa.Connection, actor: Actor, code: str) -> list[dict[str, Any]]:
    """The inspections an organisation profile shows ``actor`` (see :func:`organisation_inspections`)."""
    return _organisation_inspections(connection, actor, code)[0]


def schedule_summary(db: Db, actor: Actor, schedule_id: int | None = None) -> dict[str, Any]:
    """A schedule's status and summary (default: the latest), for roles that may see inspection plans."""
    if actor.rules.inspection_plans is Scope.NONE:
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


def _regime_reach(connection: sa.Connection, actor: Actor) -> Reach:
    why = "failure-regime cases are for the regulator's roles"
    return reach_or_forbidden(connection, actor, getattr(actor.rules, REGIME_RULE), why)


def _in_reach(connection: sa.Connection, within: Reach, frame: pd.DataFrame) -> pd.DataFrame:
    if within.everything or frame.empty:
        return frame
    org = schema.organisation
    codes = set(connection.execute(sa.select(org.c.code).where(within.clause(org.c.code))).scalars())
    return frame[frame["org_code"].isin(codes | set(within.codes))]


def regime_cases(
    db: Db,
    actor: Actor,
    org_code: str | None = None,
    regime_name: str | None = None,
    open_only: bool = False,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Failure-regime cases of the organisations in the actor's reach, by id, with each one's name."""
    with reading(db) as connection:
        within = _regime_reach(connection, actor)
        frame = _in_reach(connection, within, regime.cases(connection, org_code, open_only))
        if regime_name:
            frame = frame[frame["regime"] == regime_name]
        frame.insert(
            list(frame.columns).index("org_code") + 1,
            "name",
            frame["org_code"].map(organisation_names(connection, set(frame["org_code"]))),
        )
    return page_of(records(frame), page, page_size, list(frame.columns))


def regime_case(db: Db, actor: Actor, case_id: int) -> dict[str, Any]:
    """One case with its history (every transition: who, when, why); NotFound outside the reach."""
    with reading(db) as connection:
        within = _regime_reach(connection, actor)
        frame = _in_reach(connection, within, regime.cases(connection))
        found = frame[frame["id"] == case_id]
        if found.empty:
            raise NotFound(f"no regime case {case_id}")
        history = regime.transitions(connection, case_id)
    return {**records(found)[0], "transitions": records(history)}


def overdue_actions(
    db: Db, actor: Actor, as_of: dt.date | None = None, page: int = 1, page_size: int | None = None
) -> Page:
    """Open cases in reach whose next action was due before ``as_of`` (default today), most overdue first."""
    with reading(db) as connection:
        within = _regime_reach(connection, actor)
        frame = _in_reach(connection, within, regime.overdue(connection, as_of or dt.date.today()))
    return page_of(records(frame), page, page_size, list(frame.columns))
