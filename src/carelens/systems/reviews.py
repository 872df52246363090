"""The system review programme: direction, selection of places, review records and action plans.

docs/methods/local-system-reviews.md: the Secretaries of State direct the regulator under s48 of the
Health and Social Care Act 2008 to review how a local system serves people aged 65+ moving between health
and social care. A *direction* records who directed it, under what power, its scope, date and budget;
*selection* ranks places by the documented score (:mod:`carelens.systems.selection`) and plans how many
reviews the budget buys; each *review* has findings by pathway stage (never a rating), is reported to the
place's health and wellbeing board, and has an *action plan* of actions with owners and deadlines,
tracked to completion (open actions past their deadline are overdue). Every change is audited in its
transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem, Refused
from carelens.model.indicators import IndicatorDefinition
from carelens.model.organisations import OrgKind
from carelens.store import repository, schema
from carelens.store.engine import reading
from carelens.store.schema_systems import (
    systems_action,
    systems_direction,
    systems_finding,
    systems_review,
    systems_selection,
)
from carelens.systems.config import SystemsConfig
from carelens.systems.places import place_codes, place_indicators
from carelens.systems.selection import (
    ProgrammePlan,
    plan_programme,
    reviews_affordable,
    selection_scores,
)

ACTION_STATUSES = ("open", "done")
PLANNED, REPORTED = "planned", "reported"
"""Review statuses: selected or named and not yet reported; reported to the health and wellbeing board
(a reported review's report is published from its ``reported_on`` date)."""


@dataclass(frozen=True)
class Direction:
    """A direction to review local systems."""

    reference: str
    directed_by: str
    power: str
    scope: str
    directed_on: dt.date
    budget_gbp: float
    cost_per_review_gbp: float
    fixed_cost_gbp: float = 0.0


def record_direction(engine: sa.Engine, direction: Direction, user: str) -> int:
    """Store a direction (its reference must be new) and audit it; returns its id."""
    problems = [
        Problem("direction", None, name, "value is missing")
        for name in ("reference", "directed_by", "power", "scope")
        if not str(getattr(direction, name) or "").strip()
    ]
    if not direction.budget_gbp >= 0:
        problems.append(Problem("direction", None, "budget_gbp", "must be >= 0"))
    if not direction.cost_per_review_gbp > 0:
        problems.append(Problem("direction", None, "cost_per_review_gbp", "must be > 0"))
    with engine.begin() as connection:
        exists = connection.execute(
            sa.select(systems_direction.c.id).where(systems_direction.c.reference == direction.reference)
        ).first()
        if exists:
            problems.append(
                Problem("direction", None, "reference", f"{direction.reference!r} already exists")
            )
        if problems:
            raise InputError(problems)
        values = dict(asdict(direction), user_name=user, recorded_at=dt.datetime.now(dt.UTC))
        new_id = int(connection.execute(systems_direction.insert().values(**values)).inserted_primary_key[0])
        repository.audit(
            connection,
            user,
            "systems.direction.recorded",
            systems_direction.name,
            direction.reference,
            asdict(direction),
        )
    return new_id


def direction(connection: sa.Connection, reference: str) -> sa.RowMapping:
    """The stored direction called ``reference`` (InputError if there is none)."""
    row = (
        connection.execute(sa.select(systems_direction).where(systems_direction.c.reference == reference))
        .mappings()
        .first()
    )
    if row is None:
        raise InputError(Problem("direction", None, "reference", f"no direction {reference!r}"))
    return row


def select_places(
    engine: sa.Engine,
    reference: str,
    config: SystemsConfig,
    definitions: dict[str, IndicatorDefinition],
    user: str,
    period: dt.date | None = None,
) -> ProgrammePlan:
    """Rank places on the transition indicators, plan the direction's programme and record the selection.

    A repeated selection replaces the earlier one (both are in the audit log); selected places get a
    review in status ``planned``. Every place in the store is recorded: one with no weighted indicator
    compared in the period is not assessed (no score, no rank) and never selected.
    """
    compared = place_indicators(engine, config, definitions, period)
    if compared.empty:
        raise InputError(Problem("selection", None, "period", "no place has transition indicators to rank"))
    scored_period = compared["period"].iloc[0]
    with engine.begin() as connection:
        found = direction(connection, reference)
        plan = plan_programme(
            selection_scores(compared, config, place_codes(connection)),
            found["budget_gbp"],
            found["cost_per_review_gbp"],
            found["fixed_cost_gbp"],
        )
        z_columns = [c for c in plan.places.columns if c.startswith("z_")]
        connection.execute(systems_selection.delete().where(systems_selection.c.direction_id == found["id"]))
        rows = [
            {
                "direction_id": found["id"],
                "place_code": r["org_code"],
                "period": scored_period,
                "rank": None if pd.isna(r["rank"]) else int(r["rank"]),  # null: not assessed
                "score": None if pd.isna(r["score"]) else float(r["score"]),
                "indicators_scored": int(r["indicators_scored"]),
                "selected": bool(r["selected"]),
                "detail": {c[2:]: None if pd.isna(r[c]) else round(float(r[c]), 6) for c in z_columns},
            }
            for r in plan.places.to_dict("records")
        ]
        connection.execute(systems_selection.insert(), rows)
        planned = set(
            connection.execute(
                sa.select(systems_review.c.place_code).where(systems_review.c.direction_id == found["id"])
            ).scalars()
        )
        now = dt.datetime.now(dt.UTC)
        new_reviews = [
            {
                "direction_id": found["id"],
                "place_code": code,
                "status": PLANNED,
                "user_name": user,
                "updated_at": now,
            }
            for code in plan.places.loc[plan.places["selected"], "org_code"]
            if code not in planned
        ]
        if new_reviews:
            connection.execute(systems_review.insert(), new_reviews)
        repository.audit(
            connection,
            user,
            "systems.selection.recorded",
            systems_selection.name,
            reference,
            dict(
                plan.as_dict(), period=scored_period, reviews_planned=[r["place_code"] for r in new_reviews]
            ),
        )
    return plan


def _within_programme(connection: sa.Connection, found: sa.RowMapping, place_code: str) -> None:
    """Refuse (saying why) a new review the direction did not provide for: of a place its selection did
    not select, or beyond the number of reviews its budget buys."""
    s = systems_selection
    selected = connection.execute(
        sa.select(s.c.selected, s.c.rank).where(s.c.direction_id == found["id"], s.c.place_code == place_code)
    ).first()
    reasons = []
    if selected is None or not selected.selected:
        ranked = (
            "no place has been selected under it yet"
            if selected is None
            else f"it ranked {selected.rank}"
            if selected.rank is not None
            else "it was not assessed"
        )
        reasons.append(f"{place_code!r} was not selected for review under {found['reference']} ({ranked})")
    budget = reviews_affordable(found["budget_gbp"], found["cost_per_review_gbp"], found["fixed_cost_gbp"])
    held = connection.execute(
        sa.select(sa.func.count())
        .select_from(systems_review)
        .where(systems_review.c.direction_id == found["id"])
    ).scalar()
    if held >= budget:
        reasons.append(
            f"{found['reference']}'s budget buys {budget} review(s) and {held} are planned or recorded"
        )
    if reasons:
        raise Refused([Problem("review", None, "place_code", why) for why in reasons])


def _review(connection: sa.Connection, reference: str, place_code: str, user: str, create: bool) -> int:
    found = direction(connection, reference)
    row = connection.execute(
        sa.select(systems_review.c.id).where(
            systems_review.c.direction_id == found["id"], systems_review.c.place_code == place_code
        )
    ).first()
    if row is not None:
        return int(row.id)
    kind = connection.execute(
        sa.select(schema.organisation.c.kind).where(schema.organisation.c.code == place_code)
    ).scalar()
    if kind != OrgKind.PLACE.value or not create:
        reason = (
            "is not a place in the store"
            if kind != OrgKind.PLACE.value
            else "has no review under this direction"
        )
        raise InputError(Problem("review", None, "place_code", f"{place_code!r} {reason}"))
    _within_programme(connection, found, place_code)
    values = {
        "direction_id": found["id"],
        "place_code": place_code,
        "status": PLANNED,
        "user_name": user,
        "updated_at": dt.datetime.now(dt.UTC),
    }
    return int(connection.execute(systems_review.insert().values(**values)).inserted_primary_key[0])


def record_review(
    engine: sa.Engine,
    reference: str,
    place_code: str,
    findings: pd.DataFrame,
    config: SystemsConfig,
    user: str,
    board: str | None = None,
    reported_on: dt.date | None = None,
    summit_on: dt.date | None = None,
    source: str = "findings",
) -> int:
    """Record a review's findings by pathway stage (replacing earlier ones) and its report to the health
    and wellbeing board. Only places the direction's selection chose are reviewed, within the number of
    reviews its budget buys (anything else is refused, saying why)."""
    problems = [
        Problem(source, i + 1, "stage", f"{stage!r} is not one of: {', '.join(config.stages)}")
        for i, stage in enumerate(findings["stage"])
        if stage not in config.stages
    ]
    if reported_on is not None and not (board or "").strip():
        problems.append(
            Problem(source, None, "board", "a reported review names the health and wellbeing board")
        )
    if problems:
        raise InputError(problems)
    with engine.begin() as connection:
        review_id = _review(connection, reference, place_code, user, create=True)
        connection.execute(systems_finding.delete().where(systems_finding.c.review_id == review_id))
        if not findings.empty:
            connection.execute(
                systems_finding.insert(),
                [
                    {"review_id": review_id, "stage": s, "finding": f}
                    for s, f in zip(findings["stage"], findings["finding"], strict=True)
                ],
            )
        connection.execute(
            systems_review.update()
            .where(systems_review.c.id == review_id)
            .values(
                status=REPORTED if reported_on else PLANNED,
                board=board,
                reported_on=reported_on,
                summit_on=summit_on,
                user_name=user,
                updated_at=dt.datetime.now(dt.UTC),
            )
        )
        by_stage = findings.groupby("stage").size().to_dict() if not findings.empty else {}
        repository.audit(
            connection,
            user,
            "systems.review.recorded",
            systems_review.name,
            f"{reference}/{place_code}",
            {
                "review_id": review_id,
                "findings_by_stage": by_stage,
                "board": board,
                "reported_on": reported_on,
            },
        )
    return review_id


def record_actions(
    engine: sa.Engine,
    reference: str,
    place_code: str,
    actions: pd.DataFrame,
    user: str,
    source: str = "actions",
) -> dict[str, int]:
    """Add or update actions of a review's plan, keyed by ``number`` (columns ``number``, ``action``,
    ``owner``, ``deadline``, optional ``stage``, ``status``, ``completed_on``); unchanged rows are left
    alone. Returns counts of added, updated and unchanged actions."""
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    now = dt.datetime.now(dt.UTC)
    fields = ("stage", "action", "owner", "deadline", "status", "completed_on")
    with engine.begin() as connection:
        review_id = _review(connection, reference, place_code, user, create=False)
        stored = {
            r["number"]: r
            for r in connection.execute(
                sa.select(systems_action).where(systems_action.c.review_id == review_id)
            )
            .mappings()
            .all()
        }
        for row in actions.to_dict("records"):
            number = int(row["number"])
            values = {f: row.get(f) for f in fields}
            values["status"] = values["status"] or "open"
            old = stored.get(number)
            if old is not None and all(old[f] == values[f] for f in fields):
                counts["unchanged"] += 1
                continue
            if old is None:
                connection.execute(
                    systems_action.insert().values(
                        review_id=review_id, number=number, user_name=user, updated_at=now, **values
                    )
                )
                counts["added"] += 1
                action = "systems.action.added"
            else:
                connection.execute(
                    systems_action.update()
                    .where(systems_action.c.id == old["id"])
                    .values(user_name=user, updated_at=now, **values)
                )
                counts["updated"] += 1
                action = "systems.action.updated"
            changed = {
                f: {"from": old[f], "to": values[f]}
                for f in fields
                if old is not None and old[f] != values[f]
            }
            repository.audit(
                connection,
                user,
                action,
                systems_action.name,
                f"{reference}/{place_code}/{number}",
                changed or values,
            )
    return counts


def action_plan(
    bind: sa.Engine | sa.Connection, as_of: dt.date, reference: str | None = None
) -> pd.DataFrame:
    """Every action (of one direction, or all) with ``overdue`` (open past its deadline on ``as_of``)
    and ``days_overdue``."""
    d, r, a = systems_direction, systems_review, systems_action
    query = (
        sa.select(
            d.c.reference,
            r.c.place_code,
            a.c.number,
            a.c.stage,
            a.c.action,
            a.c.owner,
            a.c.deadline,
            a.c.status,
            a.c.completed_on,
        )
        .join(r, r.c.id == a.c.review_id)
        .join(d, d.c.id == r.c.direction_id)
        .order_by(d.c.reference, r.c.place_code, a.c.number)
    )
    if reference is not None:
        query = query.where(d.c.reference == reference)
    with reading(bind) as connection:
        rows = connection.execute(query).mappings().all()
    out = pd.DataFrame(
        rows,
        columns=[
            "reference",
            "place_code",
            "number",
            "stage",
            "action",
            "owner",
            "deadline",
            "status",
            "completed_on",
        ],
    )
    late = [(as_of - deadline).days if deadline is not None else 0 for deadline in out["deadline"]]
    out["overdue"] = (out["status"] == "open") & (pd.Series(late, dtype="int64") > 0)
    out["days_overdue"] = pd.Series(late, dtype="int64").where(out["overdue"], 0)
    return out


def reviews(bind: sa.Engine | sa.Connection, reference: str | None = None) -> pd.DataFrame:
    """Reviews with their direction, status, board, report date and number of findings per stage."""
    d, r, f = systems_direction, systems_review, systems_finding
    query = (
        sa.select(
            d.c.reference,
            r.c.id.label("review_id"),
            r.c.place_code,
            r.c.status,
            r.c.board,
            r.c.reported_on,
            r.c.summit_on,
            sa.func.count(f.c.id).label("findings"),
        )
        .join(d, d.c.id == r.c.direction_id)
        .outerjoin(f, f.c.review_id == r.c.id)
        .group_by(
            d.c.reference, r.c.id, r.c.place_code, r.c.status, r.c.board, r.c.reported_on, r.c.summit_on
        )
        .order_by(d.c.reference, r.c.place_code)
    )
    if reference is not None:
        query = query.where(d.c.reference == reference)
    with reading(bind) as connection:
        rows = connection.execute(query).mappings().all()
    return pd.DataFrame(
        rows,
        columns=[
            "reference",
            "review_id",
            "place_code",
            "status",
            "board",
            "reported_on",
            "summit_on",
            "findings",
        ],
    )


# -- files ----------------------------------------------------------------------------------------


def read_findings(path: str | Path) -> pd.DataFrame:
    """Findings file: ``stage``, ``finding`` (every bad row reported; stages are checked on recording)."""
    from carelens.tables import Column, read_table, validate

    frame = read_table(path, ["stage", "finding"])
    validate(frame, [Column("stage", "text"), Column("finding", "text")], str(path))
    return pd.DataFrame(
        {"stage": frame["stage"].astype(str).str.strip(), "finding": frame["finding"].astype(str).str.strip()}
    )


def read_actions(path: str | Path) -> pd.DataFrame:
    """Action plan file: ``number``, ``action``, ``owner``, ``deadline``, optional ``stage``, ``status``
    (open/done), ``completed_on``. A ``done`` action needs ``completed_on``."""
    from carelens.tables import Column, check_unique, read_table, validate

    source = str(path)
    frame = read_table(path)
    for optional in ("stage", "status", "completed_on"):
        if optional not in frame.columns:
            frame[optional] = pd.Series([None] * len(frame), dtype=object)
    frame["status"] = frame["status"].astype("string").fillna("open")
    problems: list[Problem] = []
    columns = [
        Column("number", "count", positive=True),
        Column("action", "text"),
        Column("owner", "text"),
        Column("deadline", "date"),
        Column("status", "text", allowed=ACTION_STATUSES),
    ]
    for check in (lambda: validate(frame, columns, source), lambda: check_unique(frame, ["number"], source)):
        try:
            check()
        except InputError as error:
            problems += error.problems
    completed = pd.to_datetime(frame["completed_on"], errors="coerce")
    raw = frame["completed_on"].astype("string")
    for i in range(len(frame)):
        if pd.isna(completed.iloc[i]) and pd.notna(raw.iloc[i]) and raw.iloc[i].strip():
            problems.append(Problem(source, i + 1, "completed_on", f"not a date: {raw.iloc[i]!r}"))
        elif frame["status"].iloc[i] == "done" and pd.isna(completed.iloc[i]):
            problems.append(Problem(source, i + 1, "completed_on", "a done action needs its completion date"))
    if problems:
        raise InputError(problems)
    stage = frame["stage"].astype("string").str.strip()
    return pd.DataFrame(
        {
            "number": frame["number"].astype(int),
            "stage": stage.astype(object).where(stage.notna() & (stage != ""), None),
            "action": frame["action"].astype(str).str.strip(),
            "owner": frame["owner"].astype(str).str.strip(),
            "deadline": [d.date() for d in pd.to_datetime(frame["deadline"])],
            "status": frame["status"].astype(str).str.strip(),
            "completed_on": [d.date() if pd.notna(d) else None for d in completed],
        }
    )
