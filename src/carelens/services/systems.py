"""Local system reviews and accountable care organisations (``carelens.systems``), through the role rules.

Who sees what is the role's ``local_systems`` rule (:mod:`carelens.model.access`, data, not code):

* **Published review reports** -- a review reported to its health and wellbeing board on or before
  today -- and their findings are open to everyone, as published ratings are.
* **Review work** -- the ranking of places for review with why, unpublished (planned) reviews, action
  plans, ACO settlements and market concentration -- covers the places and ACOs the rule reaches: a
  place or ACO is reached when it, or one of its current members, is in the actor's reach (a
  commissioner: the places and ACOs its own area's organisations belong to). Roles whose rule reaches
  nothing may not use these (:class:`Forbidden`); a place, ACO or unpublished review outside the reach
  does not exist for the actor (:class:`NotFound`).
* **The programme** -- directions with their budgets, the selection ranking every place, and the
  budget what-if -- needs a rule reaching every organisation (``Scope.ALL``), else :class:`Forbidden`.

Read-only by design: directing, selecting, recording findings and action plans take files and are
done by the regulator's staff with ``carelens systems review ...`` and ``carelens aco settle``, which
validate and audit every change; the budget what-if stores nothing. The methods (ranking, plan,
settlement) are the domain's own functions with the packaged configuration
(``config/systems/systems.yaml``).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from carelens.fund.scenario import year_label
from carelens.model.access import Actor, Scope
from carelens.model.organisations import OrgKind
from carelens.services import Forbidden, Invalid, NotFound
from carelens.services._db import Db, Page, author, organisation_names, page_of, plain, reading, records
from carelens.services.reach import Reach, covers_any, reach
from carelens.store import schema
from carelens.store.schema_systems import systems_direction, systems_finding, systems_selection
from carelens.systems import aco, places, selection
from carelens.systems import reviews as review_store

if TYPE_CHECKING:
    from carelens.model.indicators import IndicatorDefinition
    from carelens.systems.config import SystemsConfig

RULE = "local_systems"
"""The :class:`carelens.model.access.RoleRules` field deciding who sees review work."""

REVIEW_COLUMNS = [
    "review_id",
    "reference",
    "place_code",
    "place_name",
    "status",
    "published",
    "board",
    "reported_on",
    "summit_on",
    "findings",
    "directed_by",
    "power",
]
ACTION_COLUMNS = [
    "reference",
    "place_code",
    "place_name",
    "number",
    "stage",
    "action",
    "owner",
    "deadline",
    "status",
    "completed_on",
    "overdue",
    "days_overdue",
]
REVIEW_ACTION_COLUMNS = [c for c in ACTION_COLUMNS if c not in ("reference", "place_name")]
"""Columns of one review's action plan (:func:`review`'s ``actions``)."""
DIRECTION_COLUMNS = [
    "reference",
    "directed_by",
    "power",
    "scope",
    "directed_on",
    "budget_gbp",
    "cost_per_review_gbp",
    "fixed_cost_gbp",
    "period",
    "places_ranked",
    "places_not_assessed",
    "reviews_affordable",
    "reviews_selected",
    "total_cost_gbp",
    "remaining_gbp",
    "reviews",
    "reviews_published",
    "user_name",
    "recorded_at",
]
SETTLEMENT_COLUMNS = [
    "id",
    "aco_code",
    "aco_name",
    "year",
    "financial_year",
    "population",
    "risk_model",
    "benchmark_gbp",
    "expenditure_gbp",
    "pooled_budget_gbp",
    "savings_gbp",
    "savings_rate",
    "minimum_rate",
    "quality_passed",
    "quality_assessed",
    "quality_worse",
    "quality_reason",
    "outcome",
    "payment_gbp",
    "service_lines",
    "flagged_service_lines",
    "user_name",
    "settled_at",
    "superseded_by",
]
CONCENTRATION_COLUMNS = [
    "settlement_id",
    "aco_code",
    "aco_name",
    "year",
    "financial_year",
    "service_line",
    "providers",
    "hhi",
    "largest_share",
    "concentration",
    "flagged",
]


@cache
def method() -> tuple[SystemsConfig, dict[str, IndicatorDefinition]]:
    """The packaged systems configuration and indicator definitions the services rank and explain with."""
    from carelens.model.indicators import load_indicators
    from carelens.systems.config import load_config

    return load_config(), load_indicators()


def ranking_columns() -> list[str]:
    """Columns of a place ranking row: one capped adverse z-score column per weighted indicator."""
    config = method()[0]
    weighted = [f"z_{i.id}" for i in config.indicators if i.weight > 0]
    return [
        "rank",
        "place_code",
        "place_name",
        "period",
        "score",
        "indicators_scored",
        "assessed",
        "worse",
        "better",
        "why",
        *weighted,
    ]


# --- who sees what ---------------------------------------------------------------------------------


def has_review_work(actor: Actor) -> bool:
    """Whether the actor's role has review work at all (its local-systems rule is not NONE): the places
    and ACOs its rule reaches, beyond the published review reports everyone sees. The functions here
    refuse review work (Forbidden) to an actor whose rule reaches nothing."""
    return getattr(actor.rules, RULE) is not Scope.NONE


def sees_programme(actor: Actor) -> bool:
    """Whether the actor sees the review programme as a whole (directions, budgets, every place's
    selection, the budget what-if): its local-systems rule reaches every place. Others get Forbidden."""
    return getattr(actor.rules, RULE) is Scope.ALL


def _within(connection: sa.Connection, actor: Actor) -> Reach:
    """The organisations the actor's review-work rule reaches; Forbidden when none."""
    rule = getattr(actor.rules, RULE)
    if not covers_any(actor, rule):
        raise Forbidden(
            "local system review work is for the regulator, the national board, policy makers and "
            "commissioners (their area); published review reports are open to everyone"
        )
    return reach(connection, actor, rule)


def _programme(actor: Actor) -> None:
    if not sees_programme(actor):
        raise Forbidden("the review programme ranks every place: only for roles that see every place")


def _groups_in_reach(connection: sa.Connection, within: Reach, kind: OrgKind) -> set[str] | None:
    """Places (or ACOs) in reach -- the group itself or one of its current members is -- or None for all."""
    if within.everything:
        return None
    org, rel = schema.organisation, schema.org_relationship
    today = dt.date.today()
    own = sa.select(org.c.code).where(org.c.kind == kind.value, within.clause(org.c.code))
    via_members = sa.select(rel.c.object_code).where(
        rel.c.kind == places.MEMBERSHIP[kind].value,
        sa.or_(rel.c.valid_from.is_(None), rel.c.valid_from <= today),
        sa.or_(rel.c.valid_to.is_(None), rel.c.valid_to >= today),
        within.clause(rel.c.subject_code),
    )
    return set(connection.execute(own).scalars()) | set(connection.execute(via_members).scalars())


def _only(frame: pd.DataFrame, column: str, visible: set[str] | None) -> pd.DataFrame:
    return frame if visible is None else frame[frame[column].isin(visible)]


def _group(connection: sa.Connection, actor: Actor, code: str, kind: OrgKind) -> tuple[Reach, str | None]:
    """(reach, name) of a place or ACO the actor may see; NotFound when it is not one or out of reach."""
    within = _within(connection, actor)
    org = schema.organisation
    found = connection.execute(sa.select(org.c.kind, org.c.name).where(org.c.code == code)).first()
    visible = _groups_in_reach(connection, within, kind)
    if found is None or found.kind != kind.value or (visible is not None and code not in visible):
        raise NotFound(f"no {'place' if kind is OrgKind.PLACE else 'ACO'} {code!r}")
    return within, found.name


# --- places ranked for review -----------------------------------------------------------------------


def _ranking(connection: sa.Connection, period: dt.date | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every place compared on the transition indicators and ranked by selection score, with why."""
    config, definitions = method()
    compared = places.place_indicators(connection, config, definitions, period)
    if compared.empty:
        raise NotFound(
            f"no place has transition indicators for {period.isoformat()}"
            if period
            else "no place-level transition indicators are stored: load them with "
            "`carelens ingest place-transitions FILE`"
        )
    ranking = selection.selection_scores(compared, config, places.place_codes(connection))
    ranking["why"] = selection.selection_reasons(compared, ranking, config)
    weighted = compared[compared["indicator_id"].isin([i.id for i in config.indicators if i.weight > 0])]
    counts = pd.crosstab(weighted["org_code"], weighted["assessment"])
    for label in ("worse", "better"):
        column = counts[label] if label in counts else pd.Series(dtype="int64")
        ranking[label] = ranking["org_code"].map(column).fillna(0).astype(int)
    ranking["period"] = compared["period"].iloc[0]
    names = organisation_names(connection, set(ranking["org_code"]))
    ranking["place_name"] = ranking["org_code"].map(names)
    return compared, ranking.rename(columns={"org_code": "place_code"})


def place_periods(db: Db, actor: Actor) -> list[str]:
    """Periods with place-level transition indicators, latest first."""
    with reading(db) as connection:
        _within(connection, actor)
        return [p.isoformat() for p in places.transition_periods(connection, method()[0])]


def place_ranking(
    db: Db, actor: Actor, period: dt.date | None = None, page: int = 1, page_size: int | None = None
) -> Page:
    """Places ranked for review by the documented selection score (worst first) with why; ranks are
    among every place, rows only those in reach. A place with no weighted indicator compared in the
    period is listed after the ranked ones, not assessed (``assessed`` false, no rank, no score, why)."""
    with reading(db) as connection:
        within = _within(connection, actor)
        visible = _groups_in_reach(connection, within, OrgKind.PLACE)
        _, ranking = _ranking(connection, period)
    columns = ranking_columns()
    rows = records(_only(ranking, "place_code", visible)[columns])
    return page_of(rows, page, page_size, columns)


def place(db: Db, actor: Actor, code: str, period: dt.date | None = None) -> dict[str, Any]:
    """One place: its current members, every transition indicator compared with all places (values,
    peers' level, limits, assessment), its rank and why, and the reviews of it the actor may see."""
    config = method()[0]
    with reading(db) as connection:
        within, name = _group(connection, actor, code, OrgKind.PLACE)
        members = places.members(connection, OrgKind.PLACE)
        try:
            compared, ranking = _ranking(connection, period)
        except NotFound:
            if period is not None:
                raise
            compared, ranking = pd.DataFrame(columns=places.COMPARISON_COLUMNS), None
        reviewed = _visible_reviews(connection, actor, within)
    mine = members[(members["group_code"] == code) & members["member_code"].notna()]
    indicators = compared[compared["org_code"] == code].copy()
    indicators["title"] = indicators["indicator_id"].map(lambda i: config.indicator(i).title.strip())
    indicators["weight"] = indicators["indicator_id"].map(lambda i: config.indicator(i).weight)
    order = {i.id: n for n, i in enumerate(config.indicators)}
    indicators = indicators.sort_values("indicator_id", key=lambda s: s.map(order))
    row = None if ranking is None else ranking[ranking["place_code"] == code]
    ranked = records(row[ranking_columns()])[0] if row is not None and not row.empty else None
    return {
        "place": {"code": code, "name": name},
        "members": records(mine[["member_code", "member_name", "member_kind", "valid_from", "valid_to"]]),
        "period": ranked["period"] if ranked else (period.isoformat() if period else None),
        "places_ranked": 0 if ranking is None else int(ranking["assessed"].sum()),
        "ranking": ranked,
        "indicators": records(
            indicators[
                [
                    "indicator_id",
                    "title",
                    "weight",
                    "numerator",
                    "denominator",
                    "value",
                    "target",
                    "lower",
                    "upper",
                    "assessment",
                    "adverse_z",
                ]
            ]
        ),
        "reviews": records(reviewed[reviewed["place_code"] == code][REVIEW_COLUMNS]),
    }


# --- reviews, findings and action plans ------------------------------------------------------------


def _published(frame: pd.DataFrame, on: dt.date) -> pd.Series:
    reported = frame["status"] == review_store.REPORTED
    dated = [pd.notna(d) and d <= on for d in frame["reported_on"]]
    return reported & pd.Series(dated, index=frame.index, dtype=bool)


def _visible_reviews(connection: sa.Connection, actor: Actor, within: Reach | None = None) -> pd.DataFrame:
    """Every review the actor may see: published ones, and any of a place its review-work rule reaches."""
    frame = review_store.reviews(connection)
    frame["published"] = _published(frame, dt.date.today())
    if within is None and has_review_work(actor):
        within = reach(connection, actor, getattr(actor.rules, RULE))
    if within is None or within.empty:
        frame = frame[frame["published"]]
    else:
        visible = _groups_in_reach(connection, within, OrgKind.PLACE)
        if visible is not None:
            frame = frame[frame["published"] | frame["place_code"].isin(visible)]
    d = systems_direction
    directions = pd.DataFrame(
        connection.execute(sa.select(d.c.reference, d.c.directed_by, d.c.power)).mappings().all(),
        columns=["reference", "directed_by", "power"],
    )
    frame = frame.merge(directions, on="reference", how="left")
    frame["place_name"] = frame["place_code"].map(organisation_names(connection, set(frame["place_code"])))
    return frame


def review_list(
    db: Db,
    actor: Actor,
    reference: str | None = None,
    place_code: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Reviews the actor may see (published ones to everyone), by programme and place."""
    with reading(db) as connection:
        frame = _visible_reviews(connection, actor)
    for column, wanted in (("reference", reference), ("place_code", place_code), ("status", status)):
        if wanted is not None:
            frame = frame[frame[column] == wanted]
    return page_of(records(frame[REVIEW_COLUMNS]), page, page_size, REVIEW_COLUMNS)


def review(db: Db, actor: Actor, review_id: int) -> dict[str, Any]:
    """One review with its findings by pathway stage (never a rating), and its action plan when the
    actor's review-work rule reaches the place (``actions`` is None otherwise)."""
    config = method()[0]
    with reading(db) as connection:
        frame = _visible_reviews(connection, actor)
        found = frame[frame["review_id"] == review_id]
        if found.empty:
            raise NotFound(f"no review {review_id}")
        row = records(found[REVIEW_COLUMNS])[0]
        f = systems_finding
        findings = connection.execute(
            sa.select(f.c.stage, f.c.finding).where(f.c.review_id == review_id).order_by(f.c.id)
        ).all()
        within = reach(connection, actor, getattr(actor.rules, RULE))
        visible = _groups_in_reach(connection, within, OrgKind.PLACE)
        actions = None
        if has_review_work(actor) and not within.empty and (visible is None or row["place_code"] in visible):
            plan = review_store.action_plan(connection, dt.date.today(), row["reference"])
            actions = records(plan[plan["place_code"] == row["place_code"]].drop(columns="reference"))
    stages = list(config.stages) + sorted({s for s, _ in findings} - set(config.stages))
    by_stage = [
        {
            "stage": stage,
            "title": stage.replace("_", " ").capitalize(),
            "findings": [text for s, text in findings if s == stage],
        }
        for stage in stages
    ]
    return {**row, "findings_by_stage": by_stage, "actions": actions}


def action_list(
    db: Db,
    actor: Actor,
    reference: str | None = None,
    place_code: str | None = None,
    overdue_only: bool = False,
    as_of: dt.date | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Actions of the review action plans in reach, with ``overdue`` (open past its deadline on
    ``as_of``, default today); overdue only: most overdue first."""
    with reading(db) as connection:
        within = _within(connection, actor)
        visible = _groups_in_reach(connection, within, OrgKind.PLACE)
        plan = review_store.action_plan(connection, as_of or dt.date.today(), reference)
        plan["place_name"] = plan["place_code"].map(organisation_names(connection, set(plan["place_code"])))
    plan = _only(plan, "place_code", visible)
    if place_code is not None:
        plan = plan[plan["place_code"] == place_code]
    if overdue_only:
        plan = plan[plan["overdue"]].sort_values("days_overdue", ascending=False, kind="stable")
    return page_of(records(plan[ACTION_COLUMNS]), page, page_size, ACTION_COLUMNS)


# --- the programme: directions, selection, budget what-if -------------------------------------------


def _plans(connection: sa.Connection) -> list[dict[str, Any]]:
    """Every direction with its programme figures from its recorded selection (or none yet)."""
    d, s = systems_direction, systems_selection
    directions = connection.execute(sa.select(d).order_by(d.c.directed_on.desc(), d.c.id.desc())).mappings()
    chosen = pd.DataFrame(
        connection.execute(sa.select(s.c.direction_id, s.c.place_code, s.c.period, s.c.rank, s.c.score))
        .mappings()
        .all(),
        columns=["direction_id", "place_code", "period", "rank", "score"],
    )
    reviewed = review_store.reviews(connection)
    reviewed["published"] = _published(reviewed, dt.date.today())
    out = []
    for row in directions:
        ranking = chosen[chosen["direction_id"] == row["id"]].rename(columns={"place_code": "org_code"})
        plan = selection.plan_programme(
            ranking, row["budget_gbp"], row["cost_per_review_gbp"], row["fixed_cost_gbp"]
        )
        mine = reviewed[reviewed["reference"] == row["reference"]]
        out.append(
            {
                **plain(row),
                "period": ranking["period"].iloc[0].isoformat() if not ranking.empty else None,
                "places_ranked": int(ranking["rank"].notna().sum()),
                "places_not_assessed": int(ranking["rank"].isna().sum()),
                "reviews_affordable": plan.reviews_affordable,
                "reviews_selected": plan.reviews,
                "total_cost_gbp": plan.total_cost_gbp,
                "remaining_gbp": plan.remaining_gbp,
                "reviews": len(mine),
                "reviews_published": int(mine["published"].sum()),
            }
        )
    return out


def directions(db: Db, actor: Actor, page: int = 1, page_size: int | None = None) -> Page:
    """Directions to review local systems (newest first) with what each budget buys and has reported."""
    _programme(actor)
    with reading(db) as connection:
        rows = [{c: r[c] for c in DIRECTION_COLUMNS} for r in _plans(connection)]
    return page_of(rows, page, page_size, DIRECTION_COLUMNS)


def direction(db: Db, actor: Actor, reference: str) -> dict[str, Any]:
    """One direction: its programme figures, the recorded selection (every place ranked, with the capped
    adverse z-score per indicator) and its reviews."""
    _programme(actor)
    s = systems_selection
    with reading(db) as connection:
        found = next((r for r in _plans(connection) if r["reference"] == reference), None)
        if found is None:
            raise NotFound(f"no direction {reference!r}")
        chosen = pd.DataFrame(
            connection.execute(
                sa.select(
                    s.c.rank, s.c.place_code, s.c.score, s.c.indicators_scored, s.c.selected, s.c.detail
                )
                .where(s.c.direction_id == found["id"])
                .order_by(s.c.rank.is_(None), s.c.rank, s.c.place_code)  # not assessed (no rank) last
            )
            .mappings()
            .all(),
            columns=["rank", "place_code", "score", "indicators_scored", "selected", "detail"],
        )
        chosen.insert(
            2,
            "place_name",
            chosen["place_code"].map(organisation_names(connection, set(chosen["place_code"]))),
        )
        reviewed = _visible_reviews(connection, actor)
    reviewed = reviewed[reviewed["reference"] == reference]
    return {
        **{c: found[c] for c in DIRECTION_COLUMNS},
        "selection": records(chosen.rename(columns={"detail": "adverse_z"})),
        "reviews": records(reviewed[REVIEW_COLUMNS]),
    }


def programme_whatif(
    db: Db,
    actor: Actor,
    budget_gbp: float,
    cost_per_review_gbp: float | None = None,
    period: dt.date | None = None,
) -> dict[str, Any]:
    """What-if: how many reviews a budget buys (default cost: the previous programme's) and which places
    the ranking would send them to. Nothing is stored."""
    from carelens.errors import InputError

    _programme(actor)
    config = method()[0]
    with reading(db) as connection:
        _, ranking = _ranking(connection, period)
    cost = config.cost_per_review_gbp if cost_per_review_gbp is None else cost_per_review_gbp
    try:
        plan = selection.plan_programme(
            ranking.rename(columns={"place_code": "org_code"}), budget_gbp, cost, config.fixed_cost_gbp
        )
    except InputError as error:
        raise Invalid("; ".join(f"{p.field}: {p.reason}" for p in error.problems)) from None
    chosen = plan.places[plan.places["selected"]].rename(columns={"org_code": "place_code"})
    summary = plan.as_dict()
    summary["selected"] = records(chosen[["rank", "place_code", "place_name", "score", "why"]])
    return {**summary, "period": ranking["period"].iloc[0].isoformat()}


# --- accountable care organisations ----------------------------------------------------------------


def _settlements(connection: sa.Connection, actor: Actor, history: bool) -> pd.DataFrame:
    """Settlements of the ACOs in reach, flattened for listing (current ones unless ``history``)."""
    within = _within(connection, actor)
    visible = _groups_in_reach(connection, within, OrgKind.ACO)
    frame = _only(aco.settlements(connection, history=history), "aco_code", visible)
    frame = frame.assign(
        aco_name=frame["aco_code"].map(organisation_names(connection, set(frame["aco_code"])))
    )
    detail = frame["detail"]
    frame["financial_year"] = frame["year"].map(year_label)
    frame["risk_model"] = [d.get("inputs", {}).get("risk_model") for d in detail]
    frame["quality_assessed"] = [d.get("quality", {}).get("assessed") for d in detail]
    frame["quality_worse"] = [d.get("quality", {}).get("worse") for d in detail]
    frame["quality_reason"] = [d.get("quality", {}).get("reason") for d in detail]
    lines = [d.get("hhi") for d in detail]
    frame["service_lines"] = [None if x is None else len(x) for x in lines]
    frame["flagged_service_lines"] = [
        None if x is None else ", ".join(line["service_line"] for line in x if line.get("flagged"))
        for x in lines
    ]
    return frame


def aco_settlements(
    db: Db,
    actor: Actor,
    year: int | None = None,
    aco_code: str | None = None,
    history: bool = False,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """ACO settlements in reach: benchmark, spend, savings against the minimum savings rate, quality
    gate, outcome and payment, and how many service lines are flagged as highly concentrated."""
    with reading(db) as connection:
        frame = _settlements(connection, actor, history)
    if year is not None:
        frame = frame[frame["year"] == year]
    if aco_code is not None:
        frame = frame[frame["aco_code"] == aco_code]
    return page_of(records(frame[SETTLEMENT_COLUMNS]), page, page_size, SETTLEMENT_COLUMNS)


def aco_settlement(db: Db, actor: Actor, settlement_id: int) -> dict[str, Any]:
    """One settlement with its inputs, members, quality gate and market concentration per service line."""
    with reading(db) as connection:
        frame = _settlements(connection, actor, history=True)
    found = frame[frame["id"] == settlement_id]
    if found.empty:
        raise NotFound(f"no ACO settlement {settlement_id}")
    detail = found["detail"].iloc[0]
    return {
        **records(found[SETTLEMENT_COLUMNS])[0],
        "inputs": detail.get("inputs"),
        "members": detail.get("members", []),
        "quality": detail.get("quality"),
        "concentration": detail.get("hhi"),
        "config": detail.get("config"),
    }


def market_concentration(
    db: Db,
    actor: Actor,
    year: int | None = None,
    aco_code: str | None = None,
    flagged_only: bool = False,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Herfindahl-Hirschman index per ACO and service line from the current settlements, most
    concentrated first; ``flagged`` lines are highly concentrated (patient choice at risk)."""
    with reading(db) as connection:
        frame = _settlements(connection, actor, history=False)
    rows = [
        {
            "settlement_id": settlement["id"],
            "aco_code": settlement["aco_code"],
            "aco_name": settlement["aco_name"],
            "year": settlement["year"],
            "financial_year": settlement["financial_year"],
            **line,
        }
        for settlement in frame.to_dict("records")
        for line in settlement["detail"].get("hhi") or []
        if (year is None or settlement["year"] == year)
        and (aco_code is None or settlement["aco_code"] == aco_code)
        and (line.get("flagged") or not flagged_only)
    ]
    table = pd.DataFrame(rows, columns=CONCENTRATION_COLUMNS)
    table = table.sort_values(["hhi", "aco_code", "service_line"], ascending=[False, True, True])
    return page_of(records(table), page, page_size, CONCENTRATION_COLUMNS)


# --- running the review programme and settling ACOs (the command line; the API could call these too) --
# Each needs the whole programme in reach (``sees_programme``); changes are audited as the actor's.


def programme_settings(config: Any = None) -> tuple[Any, dict[str, Any]]:
    """The systems configuration (default: the packaged one) and the indicator definitions."""
    from carelens.model.indicators import load_indicators
    from carelens.systems.config import load_config

    return load_config(config), load_indicators()


def place_selection(
    db: Db, actor: Actor, config: Any, definitions: dict, period: dt.date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Every place's comparisons on the transition indicators in ``period`` (default the latest) and
    their selection ranking (None when no place indicator is stored)."""
    _programme(actor)
    compared = places.place_indicators(db, config, definitions, period)
    if compared.empty:
        return compared, None
    with reading(db) as connection:
        return compared, selection.selection_scores(compared, config, places.place_codes(connection))


def programme_plan(
    db: Db, actor: Actor, config: Any, definitions: dict, budget: float, cost: float | None, period=None
) -> Any:
    """What-if: how many reviews ``budget`` buys at ``cost`` each (default the configured) and which
    places they would be; nothing is stored."""
    _programme(actor)
    ranking = selection.selection_scores(places.place_indicators(db, config, definitions, period), config)
    return selection.plan_programme(
        ranking, budget, cost or config.cost_per_review_gbp, config.fixed_cost_gbp
    )


def record_direction(db: Db, actor: Actor, config: Any, **direction: Any) -> tuple[int, str]:
    """Record a direction to review local systems (``direction``: reference, directed_by, scope,
    directed_on, budget_gbp, and power and cost_per_review_gbp, default the configured); its id and
    the power it was made under."""
    from carelens.systems.reviews import Direction
    from carelens.systems.reviews import record_direction as record

    _programme(actor)
    made = Direction(
        **direction
        | {
            "power": direction.get("power") or config.power,
            "cost_per_review_gbp": config.cost_per_review_gbp
            if direction.get("cost_per_review_gbp") is None
            else direction["cost_per_review_gbp"],
            "fixed_cost_gbp": config.fixed_cost_gbp,
        }
    )
    return record(db, made, author(actor)), made.power


def select_places(
    db: Db, actor: Actor, reference: str, config: Any, definitions: dict, period: dt.date | None = None
) -> Any:
    """Select the places a direction's budget buys reviews for, recorded (:func:`carelens.systems.
    reviews.select_places`)."""
    from carelens.systems.reviews import select_places as select

    _programme(actor)
    return select(db, reference, config, definitions, author(actor), period)


def record_review(
    db: Db, actor: Actor, reference: str, place_code: str, findings: Any, config: Any, **report: Any
) -> int:
    """Record a review's findings from a file (stage, finding) and its report to the board (``report``:
    board, reported_on, summit_on)."""
    from carelens.systems.reviews import read_findings
    from carelens.systems.reviews import record_review as record

    _programme(actor)
    found = read_findings(findings)
    return record(db, reference, place_code, found, config, author(actor), source=str(findings), **report)


def record_actions(db: Db, actor: Actor, reference: str, place_code: str, path: Any) -> dict[str, int]:
    """Add or update a review's actions from a file: counts added, updated, unchanged."""
    from carelens.systems.reviews import read_actions
    from carelens.systems.reviews import record_actions as record

    _programme(actor)
    return record(db, reference, place_code, read_actions(path), author(actor), str(path))


def action_plans(db: Db, actor: Actor, as_of: dt.date, reference: str | None = None) -> pd.DataFrame:
    """Every action (of one direction, or all) with whether it is overdue on ``as_of``."""
    from carelens.systems.reviews import action_plan

    _programme(actor)
    return action_plan(db, as_of, reference)


def settle_acos(
    db: Db, actor: Actor, finance: Any, year: int, config: Any, definitions: dict, market: Any = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Settle each ACO of a finance file for a financial year against its benchmark and store it; the
    settlement and the market's concentration (HHI) by service line when a market file is given."""
    _programme(actor)
    activity = aco.read_market(market) if market else None
    settled = aco.settle_year(
        db, aco.read_finance(finance), year, config, definitions, author(actor), activity, str(finance)
    )
    return settled, (aco.hhi(activity, config) if activity is not None else None)


def bundle_prices(episodes: Any, config: Any = None) -> pd.DataFrame:
    """Bundled payment per care pathway from a file of episode costs (a user's own file: no rule)."""
    from carelens.systems.config import load_config
    from carelens.tables import Column, read_table, validate

    frame = read_table(episodes, ["pathway", "pathway_id", "stage", "cost_gbp"])
    columns = [Column(c, "text") for c in ("pathway", "pathway_id", "stage")]
    validate(frame, [*columns, Column("cost_gbp", "number", min_value=0)], str(episodes))
    return aco.bundle_prices(frame.astype({"cost_gbp": float}), load_config(config))
