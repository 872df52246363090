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
    proposed_by: str | None = None,
    published: bool = False,
    supersedes_id: int | None = None,
    detail: dict | None = None,
) -> int:
    """Append a rating to the history and audit it; return its id.

    ``rule_rating`` is what the rules give (computed by the caller from ratings carelens holds, never
    taken from a user); a *departure* is a ``rating`` different from it and needs a non-empty
    ``rationale``. A published rating names its approver (``approved_by``), who may not be its proposer
    (``proposed_by``, default ``user``); a published departure needs one. Refused (InputError, nothing
    written): an organisation not in the store, and an effective date before that of the current
    published rating of the same thing (published history is corrected by a newer row, never rewritten
    by an older date). ``supersedes_id`` names the row this one replaces (default: the pending draft of
    the same thing, which a newer draft or its publication replaces; else, for a published rating, the
    current published one).
    """
    source = "rating"
    rationale = (rationale or "").strip() or None
    approved_by = (approved_by or "").strip() or None
    proposed_by = (proposed_by or "").strip() or user
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
    if departure and rationale is None:
        problems.append(
            Problem(
                source,
                None,
                "rationale",
                f"departure from the rules ({rule_rating} -> {rating}) refused: a written rationale is required",
            )
        )
    if published and departure and approved_by is None:
        problems.append(
            Problem(source, None, "approved_by", "departure from the rules refused: an approver is required")
        )
    if published and approved_by is not None and approved_by == proposed_by:
        problems.append(
            Problem(
                source,
                None,
                "approved_by",
                "a rating must be approved by someone other than its author",
            )
        )
    if problems:
        raise InputError(problems)
    with writing(bind) as connection:
        org = schema.organisation
        if connection.execute(sa.select(org.c.code).where(org.c.code == org_code)).first() is None:
            raise InputError(Problem(source, None, "org_code", f"no organisation {org_code!r} in the store"))
        refuse_rewriting_history(connection, org_code, level, service, key_question, effective_date)
        if supersedes_id is None:
            replaced = pending_draft(connection, org_code, level, service, key_question)
            if replaced is None and published:
                replaced = current_published(connection, org_code, level, service, key_question)
            supersedes_id = replaced["id"] if replaced else None
        now = dt.datetime.now(dt.UTC)
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
            approved_by=approved_by if published else None,
            approved_at=now if published and approved_by else None,
            proposed_by=proposed_by,
            published=published,
            recorded_by=user,
            recorded_at=now,
            supersedes_id=supersedes_id,
            detail=detail,
        )
        new_id = int(connection.execute(assessed_rating.insert().values(**values)).inserted_primary_key[0])
        action = "rating.departure" if departure else "rating.published" if published else "rating.proposed"
        repository.audit(
            connection,
            user,
            action,
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
                "proposed_by": proposed_by,
                "approved_by": values["approved_by"],
                "published": published,
                "supersedes_id": supersedes_id,
            },
        )
    return new_id


def refuse_rewriting_history(
    connection: sa.Connection,
    org_code: str,
    level: str,
    service: str,
    key_question: str,
    effective_date: dt.date,
) -> None:
    """InputError when ``effective_date`` is before that of the current published rating of the same
    thing: published history is corrected by a newer row, never rewritten by an older date."""
    standing = current_published(connection, org_code, level, service, key_question)
    if standing is not None and effective_date < standing["effective_date"]:
        raise InputError(
            Problem(
                "rating",
                None,
                "effective_date",
                f"{effective_date} is before the published {key_question} rating of {org_code} "
                f"effective {standing['effective_date']} (#{standing['id']}): published history is "
                "never rewritten; record a correction from that date or later",
            )
        )


def _key(t: sa.Table, org_code: str, level: str, service: str, key_question: str) -> list:
    return [
        t.c.org_code == org_code,
        t.c.level == level,
        t.c.service == service,
        t.c.key_question == key_question,
    ]


def current_row(
    connection: sa.Connection,
    org_code: str,
    level: str,
    service: str,
    key_question: str,
    published_only: bool = False,
) -> dict | None:
    """The newest recorded row for a key (latest effective date, then latest id), or None;
    ``published_only``: the current published row, drafts never counting."""
    t = assessed_rating
    where = [*_key(t, org_code, level, service, key_question)]
    if published_only:
        where.append(t.c.published.is_(True))
    query = sa.select(t).where(*where).order_by(t.c.effective_date.desc(), t.c.id.desc()).limit(1)
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


def current_published(
    connection: sa.Connection, org_code: str, level: str, service: str, key_question: str
) -> dict | None:
    """The current published row for a key: the latest effective date, then the latest id; drafts
    never count."""
    return current_row(connection, org_code, level, service, key_question, published_only=True)


def pending_draft(
    connection: sa.Connection, org_code: str, level: str, service: str, key_question: str
) -> dict | None:
    """The draft of a key that no newer row has replaced (a newer draft, or its publication), or None."""
    t = assessed_rating
    newer = t.alias("newer")
    query = (
        sa.select(t)
        .where(
            *_key(t, org_code, level, service, key_question),
            t.c.published.is_(False),
            ~sa.exists().where(newer.c.supersedes_id == t.c.id),
        )
        .order_by(t.c.id.desc())
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
