"""Planning services: save and approve schedules, record inspections (status, findings, evidence,
proposed ratings handed to ``carelens.assess``), and read inspection plans through access checks.

Who may see inspection plans is the role rule ``inspection_plans`` of :mod:`carelens.model.access`:
providers, the public, the national board and policy makers get :class:`carelens.services.NotFound`
(HTTP 404, as if nothing existed) for any planned inspection, and never see an unannounced window;
inspectors see the inspections they are assigned to; chief inspectors their sector; analysts all.
Every change is audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from functools import lru_cache

import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.model.access import Actor, Scope
from carelens.plan.schedule import Schedule, with_inspector_ids
from carelens.services import NotFound
from carelens.store import repository
from carelens.store.schema_plan import plan_assignment, plan_inspection, plan_schedule

SOURCE = "inspection"
STATUS_MOVES = {
    "planned": ("in_progress", "cancelled"),
    "in_progress": ("completed", "cancelled"),
    "completed": (),
    "cancelled": (),
    "unscheduled": (),
}
"""Allowed inspection status changes (completed and cancelled are final)."""
CONFIDENTIAL = ("window_start", "window_end")
PUBLIC_COLUMNS = ("id", "org_code", "inspection_type", "start_date", "end_date", "status")
"""What anyone may see of a completed inspection (its dates are past; no window, no plan)."""


def _tx(bind):
    return bind.begin() if isinstance(bind, sa.Engine) else nullcontext(bind)


def _read(bind):
    return bind.connect() if isinstance(bind, sa.Engine) else nullcontext(bind)


def save_schedule(
    bind: sa.Engine | sa.Connection, schedule: Schedule, inspectors: pd.DataFrame, user: str, as_of: dt.date
) -> int:
    """Store a schedule as a draft: every inspection (scheduled or not, with its reason) and its team."""
    plan = schedule.inspections
    with _tx(bind) as connection:
        schedule_id = int(
            connection.execute(
                plan_schedule.insert().values(
                    as_of=as_of,
                    weeks=int(schedule.summary["weeks"]),
                    method=schedule.summary["method"],
                    summary=schedule.summary,
                    status="draft",
                    created_by=user,
                    created_at=dt.datetime.now(dt.UTC),
                )
            ).inserted_primary_key[0]
        )
        rows = pd.DataFrame(
            {
                "schedule_id": schedule_id,
                "org_code": plan["org_code"],
                "sector": plan["sector"],
                "region": plan["region"],
                "inspection_type": plan["inspection_type"],
                "unannounced": plan["unannounced"].astype(bool),
                "start_date": plan["start_date"],
                "end_date": plan["end_date"],
                "window_start": plan["window_start"],
                "window_end": plan["window_end"],
                "team_size": plan["team"].astype(int),
                "days": plan["days"].astype(int),
                "risk": plan["risk"],
                "due_date": plan["due_date"],
                "deadline": plan["deadline"],
                "reasons": plan["reasons"].str.slice(0, 400),
                "unscheduled_reason": plan["unscheduled_reason"],
                "status": plan["status"],
            }
        )
        repository.insert_rows(connection, plan_inspection, rows)
        ids = pd.DataFrame(
            connection.execute(
                sa.select(plan_inspection.c.id, plan_inspection.c.org_code).where(
                    plan_inspection.c.schedule_id == schedule_id
                )
            )
            .mappings()
            .all(),
            columns=["id", "org_code"],
        )
        team = with_inspector_ids(schedule, inspectors).merge(ids, on="org_code")
        repository.insert_rows(
            connection,
            plan_assignment,
            pd.DataFrame(
                {
                    "inspection_id": team["id"],
                    "inspector_id": team["inspector_id"],
                    "lead": team["lead"].astype(bool),
                }
            ),
        )
        repository.audit(
            connection,
            user,
            "plan.schedule_saved",
            "plan_schedule",
            str(schedule_id),
            {k: v for k, v in schedule.summary.items() if isinstance(v, int | float | str)},
        )
    return schedule_id


def approve_schedule(bind: sa.Engine | sa.Connection, schedule_id: int, user: str) -> None:
    """Approve a draft schedule; the approver must not be its author."""
    with _tx(bind) as connection:
        row = (
            connection.execute(sa.select(plan_schedule).where(plan_schedule.c.id == schedule_id))
            .mappings()
            .first()
        )
        if row is None:
            raise InputError(Problem("schedule", None, "schedule_id", f"no schedule {schedule_id}"))
        if row["status"] != "draft":
            raise InputError(
                Problem("schedule", None, "status", f"schedule {schedule_id} is already {row['status']}")
            )
        if row["created_by"] == user:
            raise InputError(
                Problem(
                    "schedule", None, "user", "a schedule must be approved by someone other than its author"
                )
            )
        connection.execute(
            plan_schedule.update()
            .where(plan_schedule.c.id == schedule_id)
            .values(status="approved", approved_by=user, approved_at=dt.datetime.now(dt.UTC))
        )
        repository.audit(connection, user, "plan.schedule_approved", "plan_schedule", str(schedule_id))


def record_inspection(
    bind: sa.Engine | sa.Connection,
    inspection_id: int,
    user: str,
    *,
    status: str | None = None,
    findings: str | None = None,
    evidence: list | dict | None = None,
    proposed_ratings: dict[str, str] | None = None,
    effective_date: dt.date | None = None,
) -> dict:
    """Record progress on an inspection: a status change (planned -> in_progress -> completed, or
    cancelled), findings, evidence and proposed ratings (key question -> rating, 'Overall' included),
    which are handed to :func:`carelens.assess.history.record_rating` as unpublished ratings. One
    transaction with its audit event; a refused change writes nothing."""
    from carelens.assess.history import record_rating

    if not (user or "").strip():
        raise InputError(Problem(SOURCE, None, "user", "who records the inspection must be named"))
    with _tx(bind) as connection:
        row = (
            connection.execute(sa.select(plan_inspection).where(plan_inspection.c.id == inspection_id))
            .mappings()
            .first()
        )
        if row is None:
            raise InputError(Problem(SOURCE, None, "inspection_id", f"no inspection {inspection_id}"))
        new_status = status or row["status"]
        if status and status != row["status"] and status not in STATUS_MOVES.get(row["status"], ()):
            allowed = ", ".join(STATUS_MOVES.get(row["status"], ())) or "none (final)"
            raise InputError(
                Problem(
                    SOURCE,
                    None,
                    "status",
                    f"cannot go from {row['status']!r} to {status!r}; allowed: {allowed}",
                )
            )
        if proposed_ratings and new_status not in ("in_progress", "completed"):
            raise InputError(
                Problem(
                    SOURCE,
                    None,
                    "proposed_ratings",
                    "ratings are proposed by an inspection in progress or completed",
                )
            )
        rated_on = effective_date or row["end_date"] or dt.date.today()
        for question, rating in (proposed_ratings or {}).items():
            record_rating(
                connection,
                org_code=row["org_code"],
                key_question=question,
                rating=rating,
                rule_rating=None,
                method="inspection:proposed",
                effective_date=rated_on,
                user=user,
                published=False,
                detail={"inspection_id": inspection_id},
            )
        values = {"status": new_status, "updated_by": user, "updated_at": dt.datetime.now(dt.UTC)}
        if findings is not None:
            values["findings"] = findings
        if evidence is not None:
            values["evidence"] = evidence
        if proposed_ratings:
            values["proposed_ratings"] = {**(row["proposed_ratings"] or {}), **proposed_ratings}
        connection.execute(
            plan_inspection.update().where(plan_inspection.c.id == inspection_id).values(**values)
        )
        repository.audit(
            connection,
            user,
            "inspection.recorded",
            "plan_inspection",
            str(inspection_id),
            {
                "from": row["status"],
                "to": new_status,
                "findings": findings is not None,
                "evidence": evidence is not None,
                "proposed_ratings": proposed_ratings,
            },
        )
        return dict(
            connection.execute(sa.select(plan_inspection).where(plan_inspection.c.id == inspection_id))
            .mappings()
            .first()
        )


# --- access-checked reads -------------------------------------------------------------------------


def _plan_clause(actor: Actor) -> sa.ColumnElement[bool] | None:
    """A SQL condition selecting the planned inspections ``actor`` may see, or None for none at all."""
    scope = actor.rules.inspection_plans
    i = plan_inspection
    if scope is Scope.ALL:
        return sa.true()
    if scope is Scope.SECTOR:
        return i.c.sector == actor.sector if actor.sector else None
    if scope is Scope.OWN:
        parts = []
        if actor.inspector_id:
            parts.append(
                i.c.id.in_(
                    sa.select(plan_assignment.c.inspection_id).where(
                        plan_assignment.c.inspector_id == actor.inspector_id
                    )
                )
            )
        if actor.organisations:
            parts.append(i.c.org_code.in_(sorted(actor.organisations)))
        return sa.or_(*parts) if parts else None
    return None


def inspection_plan(
    bind: sa.Engine | sa.Connection, actor: Actor, schedule_id: int | None = None
) -> pd.DataFrame:
    """The planned inspections (with unannounced windows and teams) of a schedule (default: the latest)
    that ``actor`` may see. Roles without the inspection-plans right get NotFound (404)."""
    with _read(bind) as connection:
        clause = _plan_clause(actor)
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


def get_inspection(bind: sa.Engine | sa.Connection, actor: Actor, inspection_id: int) -> dict:
    """One inspection. Planned (not completed) inspections, and every unannounced window, exist only for
    roles that may see the plan: anyone else gets NotFound (404), never 403. A completed inspection is
    shown to anyone without its window or plan details."""
    with _read(bind) as connection:
        i = plan_inspection
        row = connection.execute(sa.select(i).where(i.c.id == inspection_id)).mappings().first()
        if row is None:
            raise NotFound(f"no inspection {inspection_id}")
        clause = _plan_clause(actor)
        visible = (
            clause is not None
            and connection.execute(sa.select(i.c.id).where(i.c.id == inspection_id, clause)).first()
        )
        if visible:
            return dict(row)
        if row["status"] == "completed":
            return {k: row[k] for k in PUBLIC_COLUMNS}
        raise NotFound(f"no inspection {inspection_id}")


TOOK_PLACE = ("in_progress", "completed")
"""Inspection statuses of visits that happened: shown from every schedule, not only the latest."""


@lru_cache(maxsize=256)
def _organisation_queries(actor: Actor) -> tuple[sa.Select | None, sa.Select]:
    """The statements behind :func:`organisation_inspections` for ``actor`` (bound parameter ``code``):
    its view of the plan (None if it has none) and the public view of completed inspections. Built once
    per actor, since building a statement costs more than running it."""
    i = plan_inspection
    clause = _plan_clause(actor)
    planned = None
    if clause is not None:
        # Re-planning saves a new schedule: an earlier schedule's inspections that never started were
        # replaced by the latest one's, so only those that took place (or are taking place) are kept.
        latest = sa.select(sa.func.max(plan_schedule.c.id)).scalar_subquery()
        current = sa.or_(i.c.schedule_id == latest, i.c.status.in_(TOOK_PLACE))
        planned = sa.select(i).where(i.c.org_code == sa.bindparam("code"), clause, current).order_by(i.c.id)
    done = (
        sa.select(*(i.c[c] for c in PUBLIC_COLUMNS))
        .where(i.c.org_code == sa.bindparam("code"), i.c.status == "completed")
        .order_by(i.c.id)
    )
    return planned, done


def organisation_inspections(
    bind: sa.Engine | sa.Connection, actor: Actor, org_code: str
) -> list[dict[str, object]]:
    """An organisation's inspections as ``actor`` may see them, by id: for roles that may see the plan,
    every column of the latest schedule's inspections and of earlier ones that took place
    (:data:`TOOK_PLACE`); for anyone else only completed inspections, with :data:`PUBLIC_COLUMNS` (no
    window, nothing planned). Plain rows rather than a frame: an organisation has a handful, and every
    profile asks."""
    planned, done = _organisation_queries(actor)
    with _read(bind) as connection:
        if planned is not None:
            rows = [dict(row) for row in connection.execute(planned, {"code": org_code}).mappings()]
            if rows:
                return rows
        return [dict(row) for row in connection.execute(done, {"code": org_code}).mappings()]
