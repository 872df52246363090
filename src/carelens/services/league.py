"""League tables: organisations ranked on one indicator in one period, best first, each with the
verdict the monitoring run stored for it (:mod:`carelens.services.judgements`).

A table reads one run (the default run: the latest complete one, or a run asked for by id) and any
period that run judged. Ranking follows the indicator's polarity (a neutral indicator has no better
direction, so no league table). Rows whose figures are suppressed for this actor (small numbers) are
listed last, unranked, without their verdict. Ties share a rank (1, 2, 2, 4). A confidential indicator
(:mod:`carelens.services.confidential`) has no table for anyone who may not see it (not found), and
for those who may, only the organisations in their reach. Runs never change, so the
order of a whole table is cached per run; the statements a page runs are built once
(``functools.cache``) with their values as bound parameters, as building and cache-keying a statement
costs more than running it.
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
from carelens.services.confidential import Shown, shown
from carelens.services.judgements import (
    FIGURES,
    comparison,
    judgements_shown,
    resolve_run,
    run_indicators,
    suppress_figures,
)
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
    "comparison.verdict",
    "comparison.direction",
    "comparison.level",
    "comparison.target",
    "comparison.lower",
    "comparison.upper",
    "comparison.peers",
    "comparison.out_of_date",
    "comparison.run_id",
]
"""Columns of a league table (``comparison.x``: a field of the row's ``comparison`` object)."""


_CACHE: OrderedDict[tuple, list[tuple[str, int | None, bool]]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _ranking(
    connection: sa.Connection,
    run_id: int,
    indicator_id: str,
    period: dt.date,
    kind: str | None,
    higher_is_better: bool,
    within: Reach,
    visible: Shown,
) -> list[tuple[str, int | None, bool]]:
    """The whole table's order as (org_code, rank, suppressed): ranked rows best first (ties share a
    rank), then suppressed rows. Cached per run (runs never change), so a page costs one small query
    once the table has been ranked."""
    j, org = judgements_shown(), schema.organisation
    only_within = indicator_id in visible.confidential
    key = (
        str(connection.engine.url),
        run_id,
        indicator_id,
        period,
        kind,
        higher_is_better,
        within,
        only_within,
    )
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    threshold = get_settings().small_number_threshold
    small = sa.or_(
        sa.and_(j.c.numerator > 0, j.c.numerator < threshold),
        sa.and_(j.c.denominator > 0, j.c.denominator < threshold),
    )
    hidden = (
        sa.literal(0)
        if within.everything
        else sa.case((sa.and_(small, sa.not_(within.clause(j.c.org_code))), 1), else_=0)
    )
    query = sa.select(j.c.org_code, j.c.value, hidden.label("suppressed")).where(
        j.c.run_id == run_id,
        j.c.indicator_id == indicator_id,
        j.c.period == period,
        visible.clause(j.c.indicator_id, j.c.org_code),
    )
    if kind:
        query = query.where(j.c.org_code.in_(sa.select(org.c.code).where(org.c.kind == kind)))
    rows = connection.execute(query).all()
    shown = sorted(
        ((code, value) for code, value, hidden in rows if not hidden and value is not None),
        key=lambda r: (-r[1] if higher_is_better else r[1], r[0]),
    )
    ranking: list[tuple[str, int | None, bool]] = []
    previous, rank = None, 0
    for position, (code, value) in enumerate(shown, start=1):
        if value != previous:
            rank, previous = position, value
        ranking.append((code, rank, False))
    ranking += [(code, None, False) for code, value, hidden in sorted(rows) if not hidden and value is None]
    ranking += [(code, None, True) for code, _, hidden in sorted(rows) if hidden]
    with _CACHE_LOCK:
        _CACHE[key] = ranking
        while len(_CACHE) > get_settings().league_cache_entries:
            _CACHE.popitem(last=False)
    return ranking


@cache
def _definition() -> sa.Select:
    ind = schema.indicator
    return sa.select(ind.c.definition).where(ind.c.id == sa.bindparam("indicator_id"))


@cache
def _page_details() -> sa.Select:
    """The judgements and names of the organisations on one page (bound parameters ``run``,
    ``indicator_id``, ``period`` and ``codes``)."""
    j, org = judgements_shown(), schema.organisation
    return (
        sa.select(j, org.c.name, org.c.kind)
        .outerjoin(org, org.c.code == j.c.org_code)
        .where(
            j.c.run_id == sa.bindparam("run"),
            j.c.indicator_id == sa.bindparam("indicator_id"),
            j.c.period == sa.bindparam("period"),
            j.c.org_code.in_(sa.bindparam("codes", expanding=True)),
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
    run_id: int | None = None,
) -> Page:
    """One page of the league table for ``indicator_id`` in ``period`` (default: the run's latest period
    of the indicator), from run ``run_id`` (default: the latest complete run)."""
    page, size = page_bounds(page, page_size)
    with reading(db) as connection:
        definition = connection.execute(_definition(), {"indicator_id": indicator_id}).scalar()
        within = reach(connection, actor, actor.rules.confidential_data)
        visible = shown(connection, actor, within)
        if definition is None or visible.hidden(indicator_id):
            raise NotFound(f"no indicator {indicator_id!r}")
        polarity = (definition or {}).get("polarity")
        if polarity not in ("higher_is_better", "lower_is_better"):
            raise Invalid(f"indicator {indicator_id!r} is neutral: it has no better direction to rank by")
        run = resolve_run(connection, run_id)
        info = run_indicators(connection, run["id"]).get(indicator_id)
        if info is None:
            raise NotFound(f"indicator {indicator_id!r} was not judged in monitoring run {run['id']}")
        period = period or dt.date.fromisoformat(info["latest_period"])
        first, last = info["first_judged"], info["latest_period"]
        if not first <= period.isoformat() <= last:
            raise NotFound(
                f"monitoring run {run['id']} judged {indicator_id!r} from {first} to {last}, not "
                f"{period.isoformat()} (settings judgements.history_periods)"
            )
        ranking = _ranking(
            connection, run["id"], indicator_id, period, kind, polarity == "higher_is_better", within, visible
        )
        chosen = ranking[(page - 1) * size : page * size]
        details = {}
        if chosen:
            values = {
                "run": run["id"],
                "indicator_id": indicator_id,
                "period": period,
                "codes": [code for code, _, _ in chosen],
            }
            rows = connection.execute(_page_details(), values).mappings()
            details = {row["org_code"]: plain(row) for row in rows}
        items = []
        for code, rank, hidden in chosen:
            row = details[code]
            figures = suppress_figures({k: row[k] for k in FIGURES}, hidden)
            items.append(
                {
                    "rank": rank,
                    "org_code": code,
                    "name": row["name"],
                    "kind": row["kind"],
                    "period": row["period"],
                    **figures,
                    "comparison": comparison(row, info, run, hidden, row["kind"]),
                }
            )
        total = len(ranking)
    return Page(items, total, page, size, LEAGUE_COLUMNS)
