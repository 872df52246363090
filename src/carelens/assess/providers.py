"""NHS trust ratings from the ratings of the trust's locations, by the published NHS trust rating principles,
recorded in the rating history with the rule that produced them and the location ratings they came from.

Input: for every NHS trust, the key-question ratings of its current locations (``provider_location``
links) in effect on a date, among *published* ratings only (the regulator's own, and ratings decided here
and published): a proposal is not yet a rating, so nothing is aggregated from it. The kernel is
:func:`carelens.assess.rules.trust_from_locations` (levels 5 and 6 of the principles: location key
questions -> trust key question; trust key questions -> trust overall; Well-led is the trust-level
well-led assessment, not aggregated, so it stays unrated without one). An aggregate follows mechanically
from published ratings by published rules, so it is recorded as published, with ``rule_rating`` equal
to the rating (no departure) and the date of the newest rating it came from.

Independent providers are not aggregated: the principles give provider-level ratings for NHS trusts only.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from carelens.assess.config import RulesConfig, load_rules
from carelens.assess.history import current_row, record_rating
from carelens.assess.rules import trust_from_locations
from carelens.assess.scale import KEY_QUESTIONS, OVERALL, RATINGS
from carelens.model.organisations import OrgKind, RelationshipKind
from carelens.store import schema
from carelens.store.schema_assess import assessed_rating

METHOD = "rules:nhs-trust"
"""The rule set, as the location ratings decided by the same principles record it (level ``provider``)."""
RULE = (
    "NHS trust rating principles (CQC), levels 5 and 6: each trust key question from its locations' "
    "ratings for that question, the trust overall from the trust key questions; Well-led from the "
    "trust-level well-led assessment"
)
"""What produced a provider rating, in words (stored with every one)."""
REGULATOR_METHOD = "published"
"""Method of the ratings read from the regulator's publication (``carelens.ingest.sources.cqc_ratings``)."""


def published_location_ratings(connection: sa.Connection, on: dt.date) -> pd.DataFrame:
    """Key-question ratings of every NHS trust's current locations in effect on ``on``, published only.

    Columns provider_id, location_id, key_question, rating, date, source ('published' for the regulator's,
    'assessed' for one decided here and published), rating_id. The latest date wins; on the same date a
    published rating decided here wins over the regulator's (as in :func:`carelens.assess.history.ratings_at`).
    """
    rel, org, p, a = schema.org_relationship, schema.organisation, schema.rating, assessed_rating
    links = (
        sa.select(rel.c.subject_code.label("provider_id"), rel.c.object_code.label("location_id"))
        .join(org, org.c.code == rel.c.subject_code)
        .where(
            rel.c.kind == RelationshipKind.PROVIDER_LOCATION.value,
            rel.c.valid_to.is_(None),
            org.c.kind == OrgKind.NHS_TRUST.value,
        )
        .subquery()
    )
    questions = list(KEY_QUESTIONS)
    regulator = (
        sa.select(
            links.c.provider_id,
            links.c.location_id,
            p.c.key_question,
            p.c.rating,
            p.c.report_date.label("date"),
            p.c.id.label("rating_id"),
            sa.literal("published").label("source"),
            sa.literal(0).label("priority"),
        )
        .join(p, p.c.org_code == links.c.location_id)
        .where(
            p.c.level == "location",
            p.c.service == OVERALL,
            p.c.key_question.in_(questions),
            p.c.method == REGULATOR_METHOD,
            p.c.superseded_by.is_(None),
            p.c.report_date <= on,
        )
    )
    decided = (
        sa.select(
            links.c.provider_id,
            links.c.location_id,
            a.c.key_question,
            a.c.rating,
            a.c.effective_date.label("date"),
            a.c.id.label("rating_id"),
            sa.literal("assessed").label("source"),
            sa.literal(1).label("priority"),
        )
        .join(a, a.c.org_code == links.c.location_id)
        .where(
            a.c.level == "location",
            a.c.service == OVERALL,
            a.c.key_question.in_(questions),
            a.c.published.is_(True),
            a.c.effective_date <= on,
        )
    )
    rows = [dict(r) for q in (regulator, decided) for r in connection.execute(q).mappings()]
    columns = ["provider_id", "location_id", "key_question", "rating", "date", "source", "rating_id"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame = frame.sort_values(["location_id", "key_question", "date", "priority", "rating_id"])
    latest = frame.drop_duplicates(["provider_id", "location_id", "key_question"], keep="last")
    return latest[latest["rating"].isin(RATINGS)][columns].reset_index(drop=True)


def trust_ratings(locations: pd.DataFrame, config: RulesConfig | None = None) -> pd.DataFrame:
    """One row per trust x key question (the five and ``Overall``) that the principles rate: provider_id,
    key_question, rating, reason, explanation, effective_date (newest input), locations and ratings
    (how many it came from) and based_on (the location ratings, as records)."""
    columns = [
        "provider_id",
        "key_question",
        "rating",
        "reason",
        "explanation",
        "effective_date",
        "locations",
        "ratings",
        "based_on",
        "complete",
    ]
    if locations.empty:
        return pd.DataFrame(columns=columns)
    questions, overall = trust_from_locations(locations, config=config or load_rules())
    inputs = {
        provider: group[["location_id", "key_question", "rating", "date", "source", "rating_id"]]
        .assign(date=group["date"].astype(str))
        .to_dict("records")
        for provider, group in locations.groupby("provider_id")
    }
    newest = locations.groupby("provider_id")["date"].max()
    sites = locations.groupby("provider_id")["location_id"].nunique()
    questions = questions.assign(complete=True)  # a key question is not an aggregate of key questions
    both = pd.concat([questions, overall.assign(key_question=OVERALL)], ignore_index=True)
    both = both[both["rating"].isin(RATINGS)].copy()
    based = [
        [r for r in inputs[p] if k == OVERALL or r["key_question"] == k]
        for p, k in zip(both["provider_id"], both["key_question"], strict=True)
    ]
    both["based_on"] = based
    both["ratings"] = [len(b) for b in based]
    both["locations"] = both["provider_id"].map(sites).to_numpy()
    both["effective_date"] = both["provider_id"].map(newest).to_numpy()
    order = {q: i for i, q in enumerate((OVERALL, *KEY_QUESTIONS))}
    both = both.assign(_order=both["key_question"].map(order)).sort_values(["provider_id", "_order"])
    return both[columns].reset_index(drop=True)


def record_trust_ratings(engine: sa.Engine, on: dt.date, user: str, config: RulesConfig | None = None) -> int:
    """Aggregate every NHS trust's published location ratings in effect on ``on`` and record each trust
    rating that differs from the trust's current one (so running it again records nothing); every row
    is audited, all in one transaction. Returns how many were recorded."""
    recorded = 0
    with engine.begin() as connection:
        table = trust_ratings(published_location_ratings(connection, on), config)
        for row in table.itertuples(index=False):
            current = current_row(connection, row.provider_id, "provider", OVERALL, row.key_question)
            if (
                current is not None
                and current["method"] == METHOD
                and current["rating"] == row.rating
                and current["effective_date"] == row.effective_date
            ):
                continue
            record_rating(
                connection,
                org_code=row.provider_id,
                level="provider",
                key_question=row.key_question,
                rating=row.rating,
                rule_rating=row.rating,
                method=METHOD,
                effective_date=row.effective_date,
                user=user,
                published=True,
                detail={
                    "rule": RULE,
                    "reason": row.reason,
                    "explanation": row.explanation,
                    "locations": int(row.locations),
                    "ratings": int(row.ratings),
                    "based_on": row.based_on,
                    "complete": bool(row.complete),  # False: rated on part of the five key questions
                },
            )
            recorded += 1
    return recorded
