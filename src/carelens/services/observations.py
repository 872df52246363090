"""Indicator values per organisation and period, with small-number suppression for published figures.

Observations come from published official statistics, so anyone may read them; but counts from 1 to
``small_number_threshold - 1`` are suppressed (with the value they would reveal) unless the actor is
entitled to the organisation's confidential data (its own provider, its commissioner, the regulator).
A confidential indicator's (:mod:`carelens.services.confidential`) are left out for anyone who may not
see them, and its definition is not found.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.services import NotFound
from carelens.services._db import Db, Page, page_query, plain, reading
from carelens.services.confidential import shown
from carelens.services.reach import Reach, reach
from carelens.services.settings import AccessSettings, get_settings
from carelens.store import schema

OBSERVATION_COLUMNS = [
    "indicator_id",
    "org_code",
    "period",
    "numerator",
    "denominator",
    "expected",
    "value",
    "suppressed",
]


def small_number(table: sa.Table) -> sa.ColumnElement[bool]:
    """SQL: the row has a count (numerator or denominator) from 1 to the threshold minus one."""
    threshold = get_settings().small_number_threshold
    return sa.or_(
        sa.and_(table.c.numerator > 0, table.c.numerator < threshold),
        sa.and_(table.c.denominator > 0, table.c.denominator < threshold),
    )


def suppressed_flag(table: sa.Table, within: Reach) -> sa.ColumnElement:
    """SQL: 1 when the row's figures must be hidden from this actor, else 0."""
    if within.everything:
        return sa.literal(0)
    return sa.case((sa.and_(small_number(table), sa.not_(within.clause(table.c.org_code))), 1), else_=0)


def suppress(row: dict[str, Any]) -> dict[str, Any]:
    """Blank the figures of a row flagged ``suppressed``; make the flag a boolean."""
    row["suppressed"] = bool(row.get("suppressed"))
    if row["suppressed"]:
        for key in ("numerator", "denominator", "expected", "value"):
            if key in row:
                row[key] = None
    return row


def _any_indicator(table: sa.Table) -> sa.ColumnElement[bool]:
    """SQL: the row's indicator is a defined one. Always true, but it lets the (indicator, organisation,
    period) index serve one organisation's rows (one index search per indicator, in the same query)."""
    return table.c.indicator_id.in_(sa.select(schema.indicator.c.id))


def observations(
    db: Db,
    actor: Actor,
    indicator_id: str | None = None,
    org_code: str | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Current observations, filtered and paged, ordered by indicator, organisation and period."""
    obs = schema.observation
    with reading(db) as connection:
        within = reach(connection, actor, actor.rules.confidential_data)
        visible = shown(connection, actor, within).clause(obs.c.indicator_id, obs.c.org_code)
        query = sa.select(
            *(obs.c[c] for c in OBSERVATION_COLUMNS[:-1]), suppressed_flag(obs, within).label("suppressed")
        ).where(obs.c.superseded_by.is_(None), visible)
        if indicator_id:
            query = query.where(obs.c.indicator_id == indicator_id)
        elif org_code:  # lets the (indicator, organisation, period) index serve an organisation's rows
            query = query.where(_any_indicator(obs))
        if org_code:
            query = query.where(obs.c.org_code == org_code)
        if period_from:
            query = query.where(obs.c.period >= period_from)
        if period_to:
            query = query.where(obs.c.period <= period_to)
        order = [obs.c.indicator_id, obs.c.org_code, obs.c.period]
        return page_query(
            connection, query, order, page, page_size, OBSERVATION_COLUMNS, lambda r: suppress(plain(r))
        )


@lru_cache(maxsize=1)
def _definition_query() -> sa.Select:
    ind = schema.indicator
    return sa.select(ind.c.definition).where(ind.c.id == sa.bindparam("indicator_id"))


def indicator_definition(db: Db, actor: Actor, indicator_id: str) -> dict[str, Any]:
    """One indicator's definition (public, but a confidential one only for those who see it);
    :class:`NotFound` when there is none."""
    with reading(db) as connection:
        row = connection.execute(_definition_query(), {"indicator_id": indicator_id}).first()
        if row is not None and shown(connection, actor).hidden(indicator_id):
            row = None
    if row is None:
        raise NotFound(f"no indicator {indicator_id!r}")
    return row[0] or {}


@lru_cache(maxsize=4)
def _latest_figures(confidential: bool, settings: AccessSettings) -> sa.Select:
    """The statement behind :func:`latest_by_indicator` (bound parameter ``code``), built once per
    shape: building and cache-keying it costs about ten times what running it does."""
    obs, ind = schema.observation, schema.indicator
    current = sa.and_(
        _any_indicator(obs),
        obs.c.org_code == sa.bindparam("code"),
        obs.c.superseded_by.is_(None),
    )
    spans = (
        sa.select(
            obs.c.indicator_id,
            sa.func.max(obs.c.period).label("latest"),
            sa.func.min(obs.c.period).label("first"),
            sa.func.count().label("periods"),
        )
        .where(current)
        .group_by(obs.c.indicator_id)
        .subquery()
    )
    return (
        sa.select(
            obs.c.indicator_id,
            ind.c.title,
            ind.c.definition,
            obs.c.period,
            obs.c.numerator,
            obs.c.denominator,
            obs.c.expected,
            obs.c.value,
            spans.c.first,
            spans.c.periods,
            (sa.literal(0) if confidential else sa.case((small_number(obs), 1), else_=0)).label("suppressed"),
        )
        .join(spans, sa.and_(spans.c.indicator_id == obs.c.indicator_id, spans.c.latest == obs.c.period))
        .join(ind, ind.c.id == obs.c.indicator_id)
        .where(current)
        .order_by(obs.c.indicator_id)
    )


def latest_by_indicator(
    connection: sa.Connection, actor: Actor, code: str, sector: str | None, within: Reach | None = None
) -> list[dict[str, Any]]:
    """For one organisation: each indicator's latest figure, how many periods it has, and its title.
    ``within``: the actor's confidential-data reach, if the caller has it already."""
    if within is None:
        within = reach(connection, actor, actor.rules.confidential_data)
    query = _latest_figures(within.includes(code, sector), get_settings())
    visible = shown(connection, actor, within)
    out = []
    for row in connection.execute(query, {"code": code}).mappings():
        if not visible.shows(row["indicator_id"], code, sector):
            continue
        item = plain(row)
        definition = item.pop("definition") or {}
        item["polarity"] = definition.get("polarity")
        item["value_type"] = definition.get("value_type")
        out.append(suppress(item))
    return out


def list_indicators(db: Db, actor: Actor) -> list[dict[str, Any]]:
    """Every indicator definition (public; a confidential one only for those who see it)."""
    ind = schema.indicator
    with reading(db) as connection:
        visible = shown(connection, actor)
        rows = connection.execute(sa.select(ind).order_by(ind.c.id)).mappings()
        return [
            {"id": r["id"], "version": r["version"], "title": r["title"], **_summary(r["definition"])}
            for r in rows
            if not visible.hidden(r["id"])
        ]


def _summary(definition: dict | None) -> dict[str, Any]:
    definition = definition or {}
    keys = ("domain", "key_question", "value_type", "polarity", "peer_group", "method", "source")
    return {k: definition.get(k) for k in keys}


def get_indicator(db: Db, actor: Actor, indicator_id: str) -> dict[str, Any]:
    """One indicator's whole definition, with the periods it has data for (a confidential one only for
    those who see it)."""
    ind, obs = schema.indicator, schema.observation
    with reading(db) as connection:
        row = connection.execute(sa.select(ind).where(ind.c.id == indicator_id)).mappings().first()
        if row is None or shown(connection, actor).hidden(indicator_id):
            raise NotFound(f"no indicator {indicator_id!r}")
        periods = connection.execute(
            sa.select(obs.c.period)
            .where(obs.c.indicator_id == indicator_id, obs.c.superseded_by.is_(None))
            .distinct()
            .order_by(obs.c.period)
        ).scalars()
        return {
            "id": row["id"],
            "version": row["version"],
            "title": row["title"],
            "definition": row["definition"],
            "periods": [p.isoformat() for p in periods],
        }
