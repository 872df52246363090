"""Planning's writes: save and approve schedules, record inspections (status, findings, evidence,
proposed ratings handed to ``carelens.assess``). Every change is audited in the same transaction. Who
may read inspection plans is decided in :mod:`carelens.services.planning`, the one place for it.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.plan.schedule import Schedule, with_inspector_ids
from carelens.store import repository
from carelens.store.engine import writing
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
TOOK_PLACE = ("in_progress", "completed")
"""Inspection statuses of visits that happened: shown from every schedule, not only the latest."""


def save_schedule(
    bind: sa.Engine | sa.Connection, schedule: Schedule, inspectors: pd.DataFrame, user: str, as_of: dt.date
) -> int:
    """Store a schedule as a draft: every inspection (scheduled or not, with its reason) and its team."""
    plan = schedule.inspections
    with writing(bind) as connection:
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
    with writing(bind) as connection:
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
    with writing(bind) as connection:
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
