"""League tables: organisations ranked on one indicator in one period, best first.

Ranking follows the indicator's polarity (a neutral indicator has no better direction, so no league
table). Rows whose figures are suppressed for this actor (small numbers) are listed last, unranked.
Ties share a rank (1, 2, 2, 4). The order of a whole table is cached per store version, so paging
through a national table does not re-sort it on every request; the statements a page runs are built
once (``functools.cache``) with their values as bound parameters, as building and cache-keying a
statement costs more than running it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from functools import cache

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.services import Invalid, NotFound
from carelens.services._db import Db, Page, page_bounds, plain, reading
from carelens.services.observations import suppress, suppressed_flag
from carelens.services.reach import Reach, reach
from carelens.services.settings import get_settings
from carelens.store import schema

LEAGUE_COLUMNS = [
    "rank",
    "org_code",
    "name",
    "kind",
    "period",
    "numerator",
    "denominator",
    "expected",
    "value",
    "suppressed",
]


_CACHE: OrderedDict[tuple, list[tuple[str, int | None, bool]]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _ranking(
    connection: sa.Connection,
    indicator_id: str,
    period: dt.date | None,
    kind: str | None,
    higher_is_better: bool,
    within: Reach,
) -> list[tuple[str, int | None, bool]]:
    """The whole table's order as (org_code, rank, suppressed): ranked rows best first (ties share a
    rank), then suppressed rows. Cached per store version (the newest import id), so a page costs one
    small query once the table has been ranked."""
    obs, org = schema.observation, schema.organisation
    version = connection.execute(_store_version()).scalar()
    key = (str(connection.engine.url), version, indicator_id, period, kind, higher_is_better, within)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    query = sa.select(obs.c.org_code, obs.c.value, suppressed_flag(obs, within).label("suppressed")).where(
        obs.c.indicator_id == indicator_id, obs.c.period == period, obs.c.superseded_by.is_(None)
    )
    if kind:
        query = query.where(obs.c.org_code.in_(sa.select(org.c.code).where(org.c.kind == kind)))
    rows = connection.execute(query).all()
    shown = sorted(
        ((code, value) for code, value, hidden in rows if not hidden),
        key=lambda r: (-r[1] if higher_is_better else r[1], r[0]),
    )
    ranking: list[tuple[str, int | None, bool]] = []
    previous, rank = None, 0
    for position, (code, value) in enumerate(shown, start=1):
        if value != previous:
            rank, previous = position, value
        ranking.append((code, rank, False))
    ranking += [(code, None, True) for code, _, hidden in sorted(rows) if hidden]
    with _CACHE_LOCK:
        _CACHE[key] = ranking
        while len(_CACHE) > get_settings().league_cache_entries:
            _CACHE.popitem(last=False)
    return ranking


@cache
def _store_version() -> sa.Select:
    """The newest import's id: any import changes it, so cached orderings keyed by it never go stale."""
    return sa.select(sa.func.max(schema.import_record.c.id))


@cache
def _latest_period() -> sa.Select:
    obs = schema.observation
    return sa.select(sa.func.max(obs.c.period)).where(obs.c.indicator_id == sa.bindparam("indicator_id"))


def latest_period(connection: sa.Connection, indicator_id: str) -> dt.date | None:
    return connection.execute(_latest_period(), {"indicator_id": indicator_id}).scalar()


@cache
def _definition() -> sa.Select:
    ind = schema.indicator
    return sa.select(ind.c.definition).where(ind.c.id == sa.bindparam("indicator_id"))


@cache
def _page_details() -> sa.Select:
    """The figures and names of the organisations on one page (bound parameters ``indicator_id``,
    ``period`` and ``codes``; the period is the page's, so it is not read back for every row)."""
    obs, org = schema.observation, schema.organisation
    return (
        sa.select(
            obs.c.org_code,
            obs.c.numerator,
            obs.c.denominator,
            obs.c.expected,
            obs.c.value,
            org.c.name,
            org.c.kind,
        )
        .join(org, org.c.code == obs.c.org_code)
        .where(
            obs.c.indicator_id == sa.bindparam("indicator_id"),
            obs.c.period == sa.bindparam("period"),
            obs.c.superseded_by.is_(None),
            obs.c.org_code.in_(sa.bindparam("codes", expanding=True)),
        )
    )


def league_table(
    db: Db,
    actor: Actor,
    indicator_id: str,
    period: dt.date | None = None,
    kind: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """One page of the league table for ``indicator_id`` in ``period`` (default: its latest period)."""
    page, size = page_bounds(page, page_size)
    with reading(db) as connection:
        definition = connection.execute(_definition(), {"indicator_id": indicator_id}).scalar()
        if definition is None:
            raise NotFound(f"no indicator {indicator_id!r}")
        polarity = (definition or {}).get("polarity")
        if polarity not in ("higher_is_better", "lower_is_better"):
            raise Invalid(f"indicator {indicator_id!r} is neutral: it has no better direction to rank by")
        period = period or latest_period(connection, indicator_id)
        within = reach(connection, actor, actor.rules.confidential_data)
        ranking = _ranking(connection, indicator_id, period, kind, polarity == "higher_is_better", within)
        chosen = ranking[(page - 1) * size : page * size]
        details = {}
        if chosen:
            values = {
                "indicator_id": indicator_id,
                "period": period,
                "codes": [code for code, _, _ in chosen],
            }
            rows = connection.execute(_page_details(), values).mappings()
            details = {row["org_code"]: plain(row) for row in rows}
        items = []
        for code, rank, hidden in chosen:
            item = suppress(
                {**details[code], "period": period.isoformat(), "rank": rank, "suppressed": hidden}
            )
            items.append({c: item.get(c) for c in LEAGUE_COLUMNS})
        total = len(ranking)
    return Page(items, total, page, size, LEAGUE_COLUMNS)
