"""Ratings history: record ratings (the rules give a default; departures need a rationale and an approver),
and ask for the rating of anything at any date.

Rows of ``assessed_rating`` are append-only; each write and its audit event share one transaction
(``carelens.store.repository.audit``), so a refused or failed write leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from carelens.assess.scale import ALL_LABELS, OVERALL
from carelens.errors import InputError, Problem
from carelens.store import repository, schema
from carelens.store.engine import writing
from carelens.store.schema_assess import assessed_rating

LEVELS = ("service", "location", "provider")
KEY = ("org_code", "level", "service", "key_question")


def record_rating(
    bind: sa.Engine | sa.Connection,
    *,
    org_code: str,
    key_question: str,
    rating: str,
    rule_rating: str | None,
    method: str,
    effective_date: dt.date,
    user: str,
    level: str = "location",
    service: str = OVERALL,
    rationale: str | None = None,
    approved_by: str | None = None,
    published: bool = False,
    detail: dict | None = None,
) -> int:
    """Append a rating to the history and audit it; return its id.

    A *departure* is a ``rating`` different from the rules' ``rule_rating``: it is refused (InputError,
    nothing written) unless a non-empty ``rationale`` and an ``approved_by`` other than ``user`` are given.
    """
    source = "rating"
    rationale = (rationale or "").strip() or None
    approved_by = (approved_by or "").strip() or None
    problems = []
    if rating not in ALL_LABELS:
        problems.append(Problem(source, None, "rating", f"{rating!r} is not one of: {', '.join(ALL_LABELS)}"))
    if rule_rating is not None and rule_rating not in ALL_LABELS:
        problems.append(Problem(source, None, "rule_rating", f"{rule_rating!r} is not a rating"))
    if level not in LEVELS:
        problems.append(Problem(source, None, "level", f"{level!r} is not one of: {', '.join(LEVELS)}"))
    if not (user or "").strip():
        problems.append(Problem(source, None, "user", "who records the rating must be named"))
    departure = rule_rating is not None and rating != rule_rating
    if departure:
        if rationale is None:
            problems.append(
                Problem(
                    source,
                    None,
                    "rationale",
                    f"departure from the rules ({rule_rating} -> {rating}) refused: a written rationale is required",
                )
            )
        if approved_by is None:
            problems.append(
                Problem(
                    source, None, "approved_by", "departure from the rules refused: an approver is required"
                )
            )
        elif approved_by == user:
            problems.append(
                Problem(
                    source,
                    None,
                    "approved_by",
                    "a departure must be approved by someone other than its author",
                )
            )
    if problems:
        raise InputError(problems)
    with writing(bind) as connection:
        previous = current_row(connection, org_code, level, service, key_question)
        values = dict(
            org_code=org_code,
            level=level,
            service=service,
            key_question=key_question,
            rating=rating,
            rule_rating=rule_rating,
            method=method,
            effective_date=effective_date,
            departure=departure,
            rationale=rationale,
            approved_by=approved_by,
            published=published,
            recorded_by=user,
            recorded_at=dt.datetime.now(dt.UTC),
            supersedes_id=previous["id"] if previous else None,
            detail=detail,
        )
        new_id = int(connection.execute(assessed_rating.insert().values(**values)).inserted_primary_key[0])
        repository.audit(
            connection,
            user,
            "rating.departure" if departure else "rating.recorded",
            "assessed_rating",
            str(new_id),
            {
                "org_code": org_code,
                "level": level,
                "service": service,
                "key_question": key_question,
                "rating": rating,
                "rule_rating": rule_rating,
                "method": method,
                "effective_date": effective_date,
                "rationale": rationale,
                "approved_by": approved_by,
                "supersedes_id": values["supersedes_id"],
            },
        )
    return new_id


def current_row(
    connection: sa.Connection, org_code: str, level: str, service: str, key_question: str
) -> dict | None:
    """The newest recorded row for a key (latest effective date, then latest id), or None."""
    t = assessed_rating
    query = (
        sa.select(t)
        .where(
            t.c.org_code == org_code,
            t.c.level == level,
            t.c.service == service,
            t.c.key_question == key_question,
        )
        .order_by(t.c.effective_date.desc(), t.c.id.desc())
        .limit(1)
    )
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


def ratings_at(
    bind: sa.Engine | sa.Connection,
    on: dt.date,
    org_codes: Iterable[str] | None = None,
    *,
    include_published: bool = True,
) -> pd.DataFrame:
    """The rating of every organisation x level x service x key question in effect on date ``on``.

    Candidates are rows of ``assessed_rating`` with ``effective_date <= on`` and, with
    ``include_published``, the regulator's published ratings (core ``rating`` table) with ``report_date <=
    on``; the latest date wins, and on the same date a rating decided here wins over the published one
    (then the latest id). Returns columns org_code, level, service, key_question, rating, date, method,
    departure, rationale, approved_by, source ('assessed' or 'published').
    """
    t = assessed_rating
    assessed_query = sa.select(
        t.c.id,
        *(t.c[c] for c in KEY),
        t.c.rating,
        t.c.effective_date.label("date"),
        t.c.method,
        t.c.departure,
        t.c.rationale,
        t.c.approved_by,
    ).where(t.c.effective_date <= on)
    p = schema.rating
    published_query = sa.select(
        p.c.id, *(p.c[c] for c in KEY), p.c.rating, p.c.report_date.label("date"), p.c.method
    ).where(p.c.report_date <= on)
    with writing(bind) as connection:
        if org_codes is not None:
            codes = list(org_codes)
            assessed = repository.select_in(connection, assessed_query, t.c.org_code, codes)
            published = (
                repository.select_in(connection, published_query, p.c.org_code, codes)
                if include_published
                else None
            )
        else:
            assessed = pd.DataFrame(connection.execute(assessed_query).mappings().all())
            published = (
                pd.DataFrame(connection.execute(published_query).mappings().all())
                if include_published
                else None
            )
    columns = [*KEY, "rating", "date", "method", "departure", "rationale", "approved_by", "source"]
    frames = []
    if not assessed.empty:
        frames.append(assessed.assign(source="assessed", _priority=1))
    if published is not None and not published.empty:
        frames.append(
            published.assign(
                source="published", departure=False, rationale=None, approved_by=None, _priority=0
            )
        )
    if not frames:
        return pd.DataFrame(columns=columns)
    both = pd.concat(frames, ignore_index=True)
    both["date"] = pd.to_datetime(both["date"]).dt.date
    both = both.sort_values([*KEY, "date", "_priority", "id"])
    latest = both.drop_duplicates(list(KEY), keep="last")
    return latest[columns].reset_index(drop=True)


def rating_at(
    bind: sa.Engine | sa.Connection,
    org_code: str,
    on: dt.date,
    *,
    level: str = "location",
    service: str = OVERALL,
    key_question: str = OVERALL,
    include_published: bool = True,
) -> dict | None:
    """The rating of one thing in effect on ``on`` (see :func:`ratings_at`), or None if it had none."""
    table = ratings_at(bind, on, [org_code], include_published=include_published)
    match = table[
        (table["level"] == level) & (table["service"] == service) & (table["key_question"] == key_question)
    ]
    return match.iloc[0].to_dict() if len(match) else None


def history(bind: sa.Engine | sa.Connection, org_code: str) -> pd.DataFrame:
    """Every rating recorded for an organisation, oldest first (the audit trail of its ratings)."""
    t = assessed_rating
    with writing(bind) as connection:
        rows = (
            connection.execute(
                sa.select(t).where(t.c.org_code == org_code).order_by(t.c.effective_date, t.c.id)
            )
            .mappings()
            .all()
        )
    return pd.DataFrame(rows, columns=[c.name for c in t.columns])
