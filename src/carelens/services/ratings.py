"""Ratings: current and history per organisation, one rating by id, search, and a plain-English explanation.

A rating is published when its method is one of the settings' ``published_rating_methods`` (ratings
read from the regulator); any other rating is a proposal. Unpublished ratings are visible only to roles
whose ``unpublished_ratings`` rule reaches the organisation; to everyone else they do not exist (404).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from carelens.assess.scale import KEY_QUESTIONS, RATINGS
from carelens.model.access import Actor
from carelens.model.dates import date_in_words
from carelens.services import NotFound
from carelens.services._db import Db, Page, page_query, plain, reading
from carelens.services.reach import Reach, reach
from carelens.services.settings import AccessSettings, get_settings
from carelens.store import schema

RATING_COLUMNS = [
    "id",
    "org_code",
    "level",
    "service",
    "key_question",
    "rating",
    "report_date",
    "report_link_id",
    "method",
    "published",
    "current",
]


def _published(rating: sa.Table) -> sa.ColumnElement[bool]:
    return rating.c.method.in_(get_settings().published_rating_methods)


def _visible(connection: sa.Connection, actor: Actor, rating: sa.Table) -> sa.ColumnElement[bool]:
    """SQL: the rating is published, or unpublished within the actor's reach."""
    return _visible_within(reach(connection, actor, actor.rules.unpublished_ratings), rating)


def _visible_within(within: Reach, rating: sa.Table) -> sa.ColumnElement[bool]:
    if within.empty:
        return _published(rating)
    return sa.or_(_published(rating), within.clause(rating.c.org_code))


def _select(rating: sa.Table) -> sa.Select:
    return sa.select(
        *(rating.c[c] for c in RATING_COLUMNS[:-2]),
        sa.case((_published(rating), True), else_=False).label("published"),
        rating.c.superseded_by.is_(None).label("current"),
    )


def _row(row) -> dict[str, Any]:
    item = plain(row)
    item["published"] = bool(item["published"])
    item["current"] = bool(item["current"])
    return item


@lru_cache(maxsize=256)
def _organisation_ratings(within: Reach, history: bool, settings: AccessSettings) -> sa.Select:
    """The statement for one organisation's ratings (bound parameter ``code``) visible to an actor whose
    unpublished-ratings reach is ``within``: built once per reach and settings, as it depends on nothing
    else, so a profile does not pay for building it."""
    rating = schema.rating
    query = _select(rating).where(rating.c.org_code == sa.bindparam("code"), _visible_within(within, rating))
    if not history:
        query = query.where(rating.c.superseded_by.is_(None))
    return query.order_by(
        rating.c.level, rating.c.service, rating.c.key_question, rating.c.report_date.desc(), rating.c.id
    )


def visible_ratings(
    db: Db, actor: Actor, code: str, sector: str | None = None, history: bool = False
) -> list[dict[str, Any]]:
    """An organisation's ratings the actor may see: current ones, or every one ever (``history``)."""
    with reading(db) as connection:
        within = reach(connection, actor, actor.rules.unpublished_ratings)
        query = _organisation_ratings(within, history, get_settings())
        return [_row(r) for r in connection.execute(query, {"code": code}).mappings()]


def get_rating(db: Db, actor: Actor, rating_id: int) -> dict[str, Any]:
    """One rating with its explanation; :class:`NotFound` if it does not exist or is not for this actor."""
    rating, org = schema.rating, schema.organisation
    with reading(db) as connection:
        row = (
            connection.execute(
                _select(rating).where(rating.c.id == rating_id, _visible(connection, actor, rating))
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no rating {rating_id}")
        item = _row(row)
        name = connection.execute(sa.select(org.c.name).where(org.c.code == item["org_code"])).scalar()
    item["explanation"] = explain({"code": item["org_code"], "name": name}, [item])
    return item


def search_ratings(
    db: Db,
    actor: Actor,
    rating_value: str | None = None,
    key_question: str | None = None,
    org_code: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Current ratings the actor may see, filtered and paged."""
    rating = schema.rating
    with reading(db) as connection:
        query = _select(rating).where(rating.c.superseded_by.is_(None), _visible(connection, actor, rating))
        if rating_value:
            query = query.where(rating.c.rating == rating_value)
        if key_question:
            query = query.where(rating.c.key_question == key_question)
        if org_code:
            query = query.where(rating.c.org_code == org_code)
        return page_query(connection, query, [rating.c.id], page, page_size, RATING_COLUMNS, _row)


def explain(
    organisation: dict[str, Any],
    ratings: list[dict[str, Any]],
    aggregated: list[dict[str, Any]] | None = None,
) -> str:
    """A plain-English summary of an organisation's current ratings, for the public; ``aggregated`` are its
    provider ratings aggregated from its locations' ratings (:func:`carelens.services.assessment.provider_ratings`)."""
    name = organisation.get("name") or organisation.get("code")
    current = [r for r in ratings if r.get("current", True)]
    if not current and aggregated:
        return explain_aggregated(name, aggregated)
    if not current:
        return f"{name} has no published rating yet."
    overall = [r for r in current if r["service"] == "Overall" and r["key_question"] == "Overall"]
    parts = []
    if overall:
        r = overall[0]
        when = f" in the report of {date_in_words(r['report_date'])}" if r.get("report_date") else ""
        status = "" if r["published"] else " (proposed, not yet published)"
        parts.append(f"{name} is rated {r['rating']} overall{when}{status}.")
    else:
        parts.append(f"{name} has no overall rating.")
    questions = sorted(
        (r for r in current if r["service"] == "Overall" and r["key_question"] in KEY_QUESTIONS),
        key=lambda r: KEY_QUESTIONS.index(r["key_question"]),
    )
    if questions:
        listed = "; ".join(f"{r['key_question'].lower()}: {r['rating']}" for r in questions)
        parts.append(
            f"For the five questions asked of every service (is it safe, effective, caring, "
            f"responsive and well-led?) the ratings are {listed}."
        )
    if overall and overall[0]["rating"] in RATINGS:
        # a partial set of key questions is never presented as complete: say what the overall rests on
        rated = {r["key_question"] for r in questions if r["rating"] in RATINGS}
        missing = [q for q in KEY_QUESTIONS if q not in rated]
        if missing:
            parts.append(
                f"The overall rating rests on {len(KEY_QUESTIONS) - len(missing)} of the "
                f"{len(KEY_QUESTIONS)} key questions: {', '.join(q.lower() for q in missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not rated."
            )
    # the key questions in CQC's order; the overall rating is not an area but the sum of them
    weak_ratings = {
        r["key_question"] for r in current if r["rating"] in ("Inadequate", "Requires improvement")
    }
    weak = [q for q in KEY_QUESTIONS if q in weak_ratings]
    if weak:
        parts.append("Areas needing improvement: " + ", ".join(w.lower() for w in weak) + ".")
    return " ".join(parts)


def explain_aggregated(name: str, aggregated: list[dict[str, Any]]) -> str:
    """Plain English for provider ratings aggregated from location ratings: the overall rating, the rule and
    how many location ratings it came from, and the key questions."""
    overall = [r for r in aggregated if r["key_question"] == "Overall"]
    parts = []
    if overall:
        r = overall[0]
        status = "" if r["published"] else " (proposed, not yet published)"
        parts.append(
            f"{name} is rated {r['rating']} overall from {date_in_words(r['effective_date'])}{status}: aggregated from "
            f"{r['ratings']} ratings of {r['locations']} of its locations by the {r['rule']}."
        )
        if not r.get("complete", True):  # a partial set of key questions is never presented as complete
            rated = {q["key_question"] for q in aggregated if q["rating"] in RATINGS} - {"Overall"}
            missing = [q for q in KEY_QUESTIONS if q not in rated]
            parts.append(
                f"It is not a complete rating: it rests on {len(KEY_QUESTIONS) - len(missing)} of the "
                f"{len(KEY_QUESTIONS)} key questions ({', '.join(q.lower() for q in missing)} not rated)."
            )
    else:
        parts.append(f"{name} has no overall rating.")
    questions = [r for r in aggregated if r["key_question"] != "Overall"]
    if questions:
        listed = "; ".join(f"{r['key_question'].lower()}: {r['rating']}" for r in questions)
        parts.append(f"Its key questions, aggregated the same way: {listed}.")
    return " ".join(parts)
