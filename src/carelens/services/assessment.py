"""Ratings decided in carelens (``carelens.assess``): assessed ratings with their explanation and
history, the rating in effect at a date, and NHS Oversight Framework segments as league tables.

An assessed rating is published when its ``published`` flag is set; any other is a proposal, visible
only to roles whose ``unpublished_ratings`` rule reaches the organisation (404 for everyone else, as for
the regulator's own ratings in :mod:`carelens.services.ratings`).

Segmentation (:func:`carelens.assess.segmentation.segment`) needs a score from 1 (best) to 4 (worst)
per trust and metric. The store holds indicator values, not NHS England's metric scores, so
:func:`segmentation_table` scores each indicator that has a better direction by the trust's relative
position among trusts of the same kind in the indicator's latest period (NOF 2025/26 scores continuous
metrics by relative position): ``score = 1 + 3 x (rank - 1) / (n - 1)``, rank 1 the best value, ties
sharing their best rank. Only published figures are used (values suppressed for the public are left
out), so the table is published data that anyone may see. Every trust in the store is listed: one with
no metric to score is *not assessed* (no segment, no rank; its explanation says so), never placed in a
quarter by default.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.model.access import Actor, Role, Scope
from carelens.model.dates import date_in_words
from carelens.services import Forbidden, Invalid, NotFound
from carelens.services._db import Db, Page, author, page_bounds, page_query, plain, reading, writing
from carelens.services.observations import small_number
from carelens.services.reach import reach
from carelens.store import schema
from carelens.store.repository import confidential_indicators
from carelens.store.schema_assess import assessed_rating

ASSESSED_COLUMNS = [
    "id",
    "org_code",
    "level",
    "service",
    "key_question",
    "rating",
    "rule_rating",
    "method",
    "effective_date",
    "departure",
    "rationale",
    "approved_by",
    "proposed_by",
    "published",
    "recorded_by",
    "recorded_at",
    "supersedes_id",
]


def _visible(connection: sa.Connection, actor: Actor) -> sa.ColumnElement[bool]:
    t = assessed_rating
    within = reach(connection, actor, actor.rules.unpublished_ratings)
    if within.empty:
        return t.c.published.is_(True)
    return sa.or_(t.c.published.is_(True), within.clause(t.c.org_code))


def _current(t: sa.Table) -> sa.ColumnElement[bool]:
    """SQL: the current rows: per organisation, level, service and key question the published row with
    the latest effective date (then id), and a draft no newer row has replaced. A draft never displaces
    the published rating, so to a role that may not see drafts "current" is the same with or without
    one."""
    other = t.alias("other")
    same = [other.c[k] == t.c[k] for k in ("org_code", "level", "service", "key_question")]
    later = sa.or_(
        other.c.effective_date > t.c.effective_date,
        sa.and_(other.c.effective_date == t.c.effective_date, other.c.id > t.c.id),
    )
    newest_published = sa.and_(
        t.c.published.is_(True),
        ~sa.exists().where(*same, other.c.published.is_(True), later),
    )
    pending_draft = sa.and_(t.c.published.is_(False), ~sa.exists().where(other.c.supersedes_id == t.c.id))
    return sa.or_(newest_published, pending_draft)


def _row(row) -> dict[str, Any]:
    item = plain(row)
    item["published"] = bool(item["published"])
    item["departure"] = bool(item["departure"])
    return item


def assessed_ratings(
    db: Db,
    actor: Actor,
    org_code: str | None = None,
    key_question: str | None = None,
    history: bool = False,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Assessed ratings the actor may see (current ones, or every row with ``history``), newest first."""
    t = assessed_rating
    with reading(db) as connection:
        query = sa.select(*(t.c[c] for c in ASSESSED_COLUMNS)).where(_visible(connection, actor))
        if not history:
            query = query.where(_current(t))
        if org_code:
            query = query.where(t.c.org_code == org_code)
        if key_question:
            query = query.where(t.c.key_question == key_question)
        order = [t.c.effective_date.desc(), t.c.id.desc()]
        return page_query(connection, query, order, page, page_size, ASSESSED_COLUMNS, _row)


def get_assessed_rating(db: Db, actor: Actor, rating_id: int) -> dict[str, Any]:
    """One assessed rating with its explanation (the rules' reasons, and any departure's rationale)."""
    t = assessed_rating
    with reading(db) as connection:
        row = (
            connection.execute(
                sa.select(*(t.c[c] for c in ASSESSED_COLUMNS), t.c.detail).where(
                    t.c.id == rating_id, _visible(connection, actor)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no assessed rating {rating_id}")
    item = _row(row)
    detail = item.pop("detail") or {}
    item["explanation"] = explain_assessed(item, detail)
    item["detail"] = detail
    return item


def explain_assessed(row: dict[str, Any], detail: dict[str, Any]) -> str:
    """Plain English: the rating, why the rules gave it, and why (and with whose approval) it departs."""
    what = "overall" if row["key_question"] == "Overall" else f"for {row['key_question'].lower()}"
    status = "" if row["published"] else " (proposed, not yet published)"
    text = f"Rated {row['rating']} {what} from {date_in_words(row['effective_date'])}{status}."
    why = detail.get("explanation")
    if why:
        text += f" {why}"
    if row["departure"]:
        text += (
            f" The rules gave {row['rule_rating']}; the rating departs from them because: "
            f"{row['rationale']}"
            + (f" (approved by {row['approved_by']})." if row["approved_by"] else " (not yet approved).")
        )
    return text


def provider_ratings(db: Db, actor: Actor, code: str) -> list[dict[str, Any]]:
    """An organisation's current provider-level ratings the actor may see (an NHS trust's ratings aggregated
    from its locations' ratings, :mod:`carelens.assess.providers`): per key question the newest visible one
    (``Overall`` first), with the rule that produced it, how many location ratings of how many locations
    it came from, its explanation, and those location ratings (``based_on``)."""
    t = assessed_rating
    with reading(db) as connection:
        rows = (
            connection.execute(
                sa.select(*(t.c[c] for c in ASSESSED_COLUMNS), t.c.detail)
                .where(t.c.org_code == code, t.c.level == "provider", _visible(connection, actor))
                .order_by(t.c.effective_date.desc(), t.c.id.desc())
            )
            .mappings()
            .all()
        )
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        newest.setdefault(row["key_question"], _row(row))
    out = []
    for key_question in ("Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led"):
        if key_question not in newest:
            continue
        item = newest[key_question]
        detail = item.pop("detail") or {}
        item["rule"] = detail.get("rule")
        item["locations"] = detail.get("locations")
        item["ratings"] = detail.get("ratings")
        item["complete"] = bool(detail.get("complete", True))
        item["explanation"] = explain_assessed(item, detail)
        item["based_on"] = detail.get("based_on", [])
        out.append(item)
    return out


def ratings_at_date(db: Db, actor: Actor, code: str, on: dt.date) -> list[dict[str, Any]]:
    """Every rating of an organisation in effect on ``on`` that the actor may see (published regulator
    ratings and assessed ratings; the latest date wins, and on the same date an assessed rating)."""
    from carelens.services.ratings import _published

    t, p = assessed_rating, schema.rating
    keys = ("org_code", "level", "service", "key_question")
    with reading(db) as connection:
        assessed = connection.execute(
            sa.select(
                t.c.id,
                *(t.c[k] for k in keys),
                t.c.rating,
                t.c.effective_date.label("date"),
                t.c.method,
                t.c.published,
            ).where(t.c.org_code == code, t.c.effective_date <= on, _visible(connection, actor))
        ).mappings()
        frames = [pd.DataFrame([dict(r) for r in assessed]).assign(source="assessed", _priority=1)]
        within = reach(connection, actor, actor.rules.unpublished_ratings)
        visible = _published(p) if within.empty else sa.or_(_published(p), within.clause(p.c.org_code))
        published = connection.execute(
            sa.select(
                p.c.id,
                *(p.c[k] for k in keys),
                p.c.rating,
                p.c.report_date.label("date"),
                p.c.method,
                _published(p).label("published"),
            ).where(p.c.org_code == code, p.c.report_date <= on, visible)
        ).mappings()
        frames.append(pd.DataFrame([dict(r) for r in published]).assign(source="published", _priority=0))
    both = (
        pd.concat([f for f in frames if not f.empty], ignore_index=True)
        if any(not f.empty for f in frames)
        else pd.DataFrame()
    )
    if both.empty:
        return []
    both["date"] = pd.to_datetime(both["date"]).dt.date
    latest = both.sort_values([*keys, "date", "_priority", "id"]).drop_duplicates(list(keys), keep="last")
    columns = [*keys, "rating", "date", "method", "published", "source"]
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        | {"published": bool(r["published"])}
        for r in latest[columns].to_dict("records")
    ]


SEGMENT_KINDS = ("nhs_trust",)
"""Organisation kinds segmented (NOF 2025/26 segments NHS trusts; ICBs are not segmented)."""


def metric_scores(connection: sa.Connection, kinds: tuple[str, ...] = SEGMENT_KINDS) -> pd.DataFrame:
    """Scores 1 (best) to 4 (worst) per trust and indicator by relative position (module docstring)."""
    obs, org, ind = schema.observation, schema.organisation, schema.indicator
    definitions = dict(connection.execute(sa.select(ind.c.id, ind.c.definition)).all())
    confidential = confidential_indicators(connection)  # people's experiences: no oversight metric
    ranked = {
        k: (d or {}).get("polarity")
        for k, d in definitions.items()
        if (d or {}).get("polarity") in ("higher_is_better", "lower_is_better") and k not in confidential
    }
    frames = []
    for indicator_id, polarity in sorted(ranked.items()):
        latest = sa.select(sa.func.max(obs.c.period)).where(
            obs.c.indicator_id == indicator_id, obs.c.superseded_by.is_(None)
        )
        rows = connection.execute(
            sa.select(obs.c.org_code, org.c.name, org.c.kind, org.c.subtype, obs.c.value)
            .join(org, org.c.code == obs.c.org_code)
            .where(
                obs.c.indicator_id == indicator_id,
                obs.c.period == latest.scalar_subquery(),
                obs.c.superseded_by.is_(None),
                org.c.kind.in_(kinds),
                obs.c.value.is_not(None),
                sa.not_(small_number(obs)),
            )
        ).all()
        if len(rows) < 2:
            continue
        frame = pd.DataFrame(rows, columns=["org_code", "org_name", "kind", "subtype", "value"])
        frame["trust_type"] = frame["subtype"].fillna(frame["kind"]).replace("", None).fillna(frame["kind"])
        rank = frame.groupby("trust_type")["value"].rank(
            method="min", ascending=polarity == "lower_is_better"
        )
        n = frame.groupby("trust_type")["value"].transform("count")
        frame["score"] = (1 + 3 * (rank - 1) / (n - 1).where(n > 1)).fillna(1.0)
        frame["metric"] = indicator_id
        frames.append(frame[["org_code", "org_name", "trust_type", "metric", "score"]])
    if not frames:
        return pd.DataFrame(columns=["org_code", "org_name", "trust_type", "metric", "score"])
    return pd.concat(frames, ignore_index=True)


def segment_trusts(connection: sa.Connection, kinds: tuple[str, ...] = SEGMENT_KINDS) -> pd.DataFrame:
    """Every organisation segmented (``org_code``, ``org_name``, ``trust_type`` as :func:`metric_scores`
    gives it), whether or not it has a metric to score."""
    org = schema.organisation
    frame = pd.DataFrame(
        connection.execute(
            sa.select(org.c.code, org.c.name, org.c.kind, org.c.subtype).where(org.c.kind.in_(kinds))
        ).all(),
        columns=["org_code", "org_name", "kind", "subtype"],
    )
    frame["trust_type"] = frame["subtype"].fillna(frame["kind"]).replace("", None).fillna(frame["kind"])
    return frame[["org_code", "org_name", "trust_type"]]


def segmentation_table(
    db: Db,
    actor: Actor,
    trust_type: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Segments and league-table ranks of NHS trusts (published figures only: open to everyone); trusts
    with no metric to score are listed after each table as not assessed."""
    from carelens.assess.segmentation import INPUT_COLUMNS, OUTPUT_COLUMNS, load_oversight, segment

    page, size = page_bounds(page, page_size)
    with reading(db) as connection:
        scores = metric_scores(connection)
        trusts = segment_trusts(connection)
    if scores.empty and trusts.empty:
        return Page([], 0, page, size, list(OUTPUT_COLUMNS))
    if scores.empty:
        scores = pd.DataFrame({c.name: pd.Series(dtype=object) for c in INPUT_COLUMNS})
    table = segment(scores, load_oversight(), source="store", trusts=trusts)
    if trust_type:
        if trust_type not in set(table["trust_type"]):
            raise Invalid(f"no trusts of type {trust_type!r}")
        table = table[table["trust_type"] == trust_type]
    chosen = table.iloc[(page - 1) * size : page * size]
    items = [
        {c: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for c, v in r.items()}
        for r in chosen.to_dict("records")
    ]
    return Page(items, len(table), page, size, list(OUTPUT_COLUMNS))


# --- rating rules on a user's own file, and recording ratings --------------------------------------


def compare_published(path: Any, rules: str, config: Any = None) -> pd.DataFrame:
    """The rating rules ``rules`` applied per location of a file of published CQC ratings, each computed
    rating beside the published one (:func:`carelens.assess.compare.compare_published`)."""
    from carelens.assess.compare import compare_published as compare
    from carelens.assess.config import load_rules
    from carelens.tables import read_table

    return compare(read_table(path), rules, load_rules(config), source=str(path))


def agreement(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How often computed and published ratings agree, and the ratings where they do not."""
    from carelens.assess.compare import agreement as summary
    from carelens.assess.compare import disagreements

    return summary(table), disagreements(table)


def saf_ratings(path: Any, method: str | None = None, config: Any = None) -> pd.DataFrame:
    """Single Assessment Framework scores of a file to quality statement, key question and overall
    ratings (:func:`carelens.assess.saf.score`)."""
    from carelens.assess.saf import load_saf, score
    from carelens.tables import read_table

    return score(read_table(path), load_saf(config), method=method, source=str(path))


def segments(path: Any, config: Any = None) -> pd.DataFrame:
    """NHS Oversight Framework segments and league tables of a file of metric scores."""
    from carelens.assess.segmentation import load_oversight, segment
    from carelens.tables import read_table

    return segment(read_table(path), load_oversight(config), source=str(path))


def may_approve_ratings(actor: Actor, sector: str | None) -> bool:
    """Whether the actor may approve (publish) ratings of an organisation in ``sector``: a chief
    inspector of that sector. That the approver is not the proposer is checked with the rating."""
    return actor.role is Role.CHIEF_INSPECTOR and sector is not None and actor.sector == sector


def _organisation_in_reach(connection: sa.Connection, actor: Actor, org_code: str) -> str | None:
    """The sector of an organisation whose unpublished ratings the actor reaches. An organisation not
    in the store is bad input named as such (InputError); one outside the reach does not exist for the
    actor (NotFound)."""
    org = schema.organisation
    found = connection.execute(sa.select(org.c.sector).where(org.c.code == org_code)).first()
    if found is None:
        raise InputError(Problem("rating", None, "org_code", f"no organisation {org_code!r} in the store"))
    within = reach(connection, actor, actor.rules.unpublished_ratings)
    if not within.includes(org_code, found.sector):
        raise NotFound(f"no organisation {org_code!r}")
    return found.sector


def rule_rating_for(
    connection: sa.Connection,
    org_code: str,
    sector: str | None,
    level: str,
    service: str,
    key_question: str,
    on: dt.date,
    held: dict[str, str] | None = None,
) -> tuple[str | None, str | None]:
    """What carelens's own rules give for a rating, and why, from the ratings it holds: an overall
    rating from the key-question ratings in effect on ``on`` (``held`` adds or replaces some, e.g. a
    proposal's own); None for a key question, which is judged on the evidence, not aggregated. An
    overall rating whose key questions are too few for the rules is refused (InputError)."""
    from carelens.assess.history import ratings_at
    from carelens.assess.rules import overall_from_key_questions
    from carelens.assess.scale import KEY_QUESTIONS, OVERALL

    if key_question != OVERALL:
        return None, None
    table = ratings_at(connection, on, [org_code])
    table = table[(table["level"] == level) & (table["service"] == service)]
    ratings = {
        q: r for q, r in zip(table["key_question"], table["rating"], strict=True) if q in KEY_QUESTIONS
    }
    ratings.update(held or {})
    rule, why = overall_from_key_questions(ratings, sector)
    if rule is None:
        raise InputError(
            Problem("rating", None, "key_question", f"{org_code}: the rules cannot rate it overall: {why}")
        )
    return rule, why


def record_rating(
    db: Db,
    actor: Actor,
    org_code: str,
    *,
    rating: str,
    effective_date: dt.date,
    key_question: str = "Overall",
    level: str = "location",
    service: str = "Overall",
    method: str = "judgement",
    rationale: str | None = None,
    expected_rule_rating: str | None = None,
) -> int:
    """Propose a rating (a draft, audited as the actor's) of an organisation in the actor's
    ``unpublished_ratings`` reach. The rules' rating is computed here from the ratings carelens holds
    (:func:`rule_rating_for`), never taken from the caller: ``expected_rule_rating`` is only a
    cross-check, refused when it differs. A rating other than the rules' needs a rationale. It is
    published by :func:`approve_rating`, by someone else."""
    from carelens.assess.history import record_rating as record
    from carelens.assess.history import refuse_rewriting_history

    who = author(actor)
    with writing(db) as connection:
        sector = _organisation_in_reach(connection, actor, org_code)
        refuse_rewriting_history(connection, org_code, level, service, key_question, effective_date)
        rule, why = rule_rating_for(
            connection, org_code, sector, level, service, key_question, effective_date
        )
        if expected_rule_rating is not None and expected_rule_rating != rule:
            raise InputError(
                Problem(
                    "rating",
                    None,
                    "rule_rating",
                    f"the rules give {rule or 'no rating'} for {org_code} {key_question} "
                    f"({why or 'a key question is judged on the evidence'}), not {expected_rule_rating}",
                )
            )
        return record(
            connection,
            org_code=org_code,
            level=level,
            service=service,
            key_question=key_question,
            rating=rating,
            rule_rating=rule,
            method=method,
            effective_date=effective_date,
            rationale=rationale,
            user=who,
            published=False,
            detail={"explanation": why} if why else None,
        )


def approve_rating(db: Db, actor: Actor, rating_id: int) -> int:
    """Approve a pending draft rating and so publish it: a new published row replacing the draft, naming
    the draft's proposer and the actor as approver, audited. The approver must be a second person, a
    chief inspector of the organisation's sector (:func:`carelens.services.approvals.require_second_person`);
    a draft already replaced, or dated before the published rating, is refused."""
    from carelens.assess.history import pending_draft
    from carelens.assess.history import record_rating as record
    from carelens.services.approvals import require_second_person

    who = author(actor)
    t = assessed_rating
    with writing(db) as connection:
        draft = (
            connection.execute(sa.select(t).where(t.c.id == rating_id, _visible(connection, actor)))
            .mappings()
            .first()
        )
        if draft is None:
            raise NotFound(f"no assessed rating {rating_id}")
        _organisation_in_reach(connection, actor, draft["org_code"])
        proposer = draft["proposed_by"] or draft["recorded_by"]
        require_second_person(
            connection,
            actor,
            proposer,
            roles=[Role.CHIEF_INSPECTOR],
            org_code=draft["org_code"],
            what="a rating",
        )
        keys = (draft["org_code"], draft["level"], draft["service"], draft["key_question"])
        pending = pending_draft(connection, *keys)
        if draft["published"] or pending is None or pending["id"] != rating_id:
            raise Invalid(
                f"rating {rating_id} is not a pending draft (published, or replaced by a newer row)"
            )
        return record(
            connection,
            **{k: draft[k] for k in ("org_code", "level", "service", "key_question", "rating")},
            **{k: draft[k] for k in ("rule_rating", "method", "effective_date", "rationale", "detail")},
            user=who,
            proposed_by=proposer,
            approved_by=who,
            published=True,
            supersedes_id=rating_id,
        )


def record_trust_ratings(db: Db, actor: Actor, on: dt.date) -> int:
    """Aggregate every NHS trust's location ratings in effect ``on`` a date to trust ratings and record
    them, audited as the actor's, who must reach every organisation's unpublished ratings."""
    from carelens.assess.providers import record_trust_ratings as record

    if actor.rules.unpublished_ratings is not Scope.ALL:
        raise Forbidden("trust ratings are aggregated for every trust at once")
    return record(db, on, author(actor))
