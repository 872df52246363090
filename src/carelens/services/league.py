"""League tables: organisations ranked on one indicator in one period, best first, each with the
verdict the monitoring run stored for it (:mod:`carelens.services.judgements`).

A table may be narrowed to one kind of organisation and one NHS England region (the organisation's
current ``organisation_region`` or ``commissioner_region`` link) and sorted by rank, band, name, type,
region or value; suppressed rows stay last whatever the order, so no order reveals their figures. An
indicator the publisher bands (SHMI: a published verdict is stored for its figures) is *banded*: each
row carries its significance band ("higher than expected", "as expected", "lower than expected", from
the stored judgement), which pages show instead of a rank, as NHS England does. An indicator is banded
when its definition sets ``levels`` (the limits a publisher bands it at) or a published verdict is
stored for its figures.

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
from collections.abc import Iterator
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.model.organisations import OrgKind, RelationshipKind
from carelens.services import Invalid, NotFound
from carelens.services._db import Db, Page, Rows, organisation_names, page_bounds, plain, reading
from carelens.services.confidential import Shown, shown
from carelens.services.judgements import (
    FIGURES,
    PUBLISHER_VERDICT,
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
    "band",
    "region_code",
    "region",
]
"""Columns of a league table (``comparison.x``: a field of the row's ``comparison`` object)."""

BANDS = {"higher": "higher than expected", "within": "as expected", "lower": "lower than expected"}
"""A banded indicator's significance bands by the stored direction (NHS England's words for SHMI)."""
SORTS = ("rank", "band", "name", "type", "region", "value")
"""What a league table may be sorted by (default: rank, or band for a banded indicator)."""
BAND_ORDER = {"worse": 0, "as expected": 1, "better": 2}
"""Bands listed worse first."""


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


class Entry(NamedTuple):
    """One organisation's place in a whole league table (what sorting, filtering and paging need)."""

    code: str
    rank: int | None
    hidden: bool
    value: float | None
    name: str
    kind: str | None
    region: str | None
    verdict: str | None
    band: str | None


_CACHE: OrderedDict[tuple, tuple[list[Entry], bool]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
REGION_LINKS = (RelationshipKind.ORGANISATION_REGION.value, RelationshipKind.COMMISSIONER_REGION.value)


def _region_of(code: sa.ColumnElement) -> sa.ScalarSelect:
    """The NHS England region an organisation is in now (its current region link)."""
    rel = schema.org_relationship
    return (
        sa.select(sa.func.min(rel.c.object_code))
        .where(
            rel.c.subject_code == code,
            rel.c.kind.in_(REGION_LINKS),
            rel.c.valid_to.is_(None),
            rel.c.ended_by.is_(None),
        )
        .scalar_subquery()
    )


def _ranking(
    connection: sa.Connection,
    run_id: int,
    indicator_id: str,
    period: dt.date,
    higher_is_better: bool,
    within: Reach,
    visible: Shown,
    officially_banded: bool,
) -> tuple[list[Entry], bool]:
    """The whole table (every kind and region) ranked best first (ties share a rank), then rows without
    a value, then suppressed rows; and whether the indicator is banded (``officially_banded``: its
    definition sets the publisher's levels; or a published verdict is stored for one of its rows).
    Cached per run (runs never change), so a page costs one small query once the table has been
    ranked."""
    j, org = judgements_shown(), schema.organisation
    key = (
        str(connection.engine.url),
        run_id,
        indicator_id,
        period,
        higher_is_better,
        within,
        indicator_id in visible.confidential,
        officially_banded,
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
    query = (
        sa.select(
            j.c.org_code,
            j.c.value,
            hidden.label("suppressed"),
            org.c.name,
            org.c.kind,
            _region_of(j.c.org_code).label("region"),
            j.c.verdict,
            j.c.direction,
            j.c.verdict_source,
        )
        .select_from(j.outerjoin(org, org.c.code == j.c.org_code))
        .where(
            j.c.run_id == run_id,
            j.c.indicator_id == indicator_id,
            j.c.period == period,
            visible.clause(j.c.indicator_id, j.c.org_code),
        )
    )
    rows = sorted(connection.execute(query).all())
    banded = officially_banded or any(r.verdict_source == PUBLISHER_VERDICT for r in rows)

    def entry(r, rank: int | None) -> Entry:
        if r.suppressed:
            return Entry(r.org_code, None, True, None, r.name or r.org_code, r.kind, r.region, None, None)
        band = BANDS.get(r.direction) if banded else None
        return Entry(
            r.org_code, rank, False, r.value, r.name or r.org_code, r.kind, r.region, r.verdict, band
        )

    shown = sorted(
        (r for r in rows if not r.suppressed and r.value is not None),
        key=lambda r: (-r.value if higher_is_better else r.value, r.org_code),
    )
    ranking: list[Entry] = []
    previous, rank = None, 0
    for position, r in enumerate(shown, start=1):
        if r.value != previous:
            rank, previous = position, r.value
        ranking.append(entry(r, rank))
    ranking += [entry(r, None) for r in rows if not r.suppressed and r.value is None]
    ranking += [entry(r, None) for r in rows if r.suppressed]
    with _CACHE_LOCK:
        _CACHE[key] = (ranking, banded)
        while len(_CACHE) > get_settings().league_cache_entries:
            _CACHE.popitem(last=False)
    return ranking, banded


def _reranked(entries: list[Entry]) -> list[Entry]:
    """``entries`` (in ranking order) with their ranks counted again among themselves."""
    previous, rank, out = None, 0, []
    for position, e in enumerate(entries, start=1):
        if e.rank is not None and e.value != previous:
            rank, previous = position, e.value
        out.append(e._replace(rank=rank if e.rank is not None else None))
    return out


_SORT_KEYS = {
    "rank": lambda e: (e.rank,),
    "band": lambda e: (BAND_ORDER.get(e.verdict or "", 3), e.name.casefold()),
    "name": lambda e: (e.name.casefold(),),
    "type": lambda e: (_KIND_ORDER.get(e.kind, len(_KIND_ORDER)), e.rank),
    "region": lambda e: (e.region or "", e.rank),
    "value": lambda e: (e.value,),
}
_KIND_ORDER = {kind.value: n for n, kind in enumerate(OrgKind)}


def _ordered(
    ranking: list[Entry], kind: str | None, region: str | None, sort: str, descending: bool, by_kind: bool
) -> list[Entry]:
    """The entries of one kind and region in the order asked for; ranks are re-counted within the
    filter (1 is the best of those shown), and within each kind of organisation when ``by_kind`` (the
    table is then grouped by kind, in :class:`~carelens.model.organisations.OrgKind` order). Rows without
    a value, then suppressed rows, stay last (of their group)."""
    chosen = [
        e for e in ranking if (kind is None or e.kind == kind) and (region is None or e.region == region)
    ]
    if kind is not None or region is not None:
        chosen = _reranked(chosen)
    groups = [chosen]
    if by_kind and kind is None:
        kinds = sorted({e.kind for e in chosen}, key=lambda k: _KIND_ORDER.get(k, len(_KIND_ORDER)))
        groups = [_reranked([e for e in chosen if e.kind == k]) for k in kinds]
    out: list[Entry] = []
    for group in groups:
        ranked = [e for e in group if e.rank is not None]
        ranked.sort(key=lambda e: (*_SORT_KEYS[sort](e), e.code), reverse=descending)
        out += ranked + [e for e in group if e.rank is None]
    return out


def _items(
    connection: sa.Connection,
    run: dict[str, Any],
    info: dict[str, Any],
    indicator_id: str,
    period: dt.date,
    entries: list[Entry],
    region_names: dict[str, str | None],
) -> list[dict[str, Any]]:
    """The rows of ``entries`` as a league table gives them: figures (blanked when suppressed), the
    stored comparison, band and region."""
    if not entries:
        return []
    values = {
        "run": run["id"],
        "indicator_id": indicator_id,
        "period": period,
        "codes": [e.code for e in entries],
    }
    details = {row["org_code"]: plain(row) for row in connection.execute(_page_details(), values).mappings()}
    items = []
    for e in entries:
        row = details[e.code]
        figures = suppress_figures({k: row[k] for k in FIGURES}, e.hidden)
        items.append(
            {
                "rank": e.rank,
                "org_code": e.code,
                "name": row["name"],
                "kind": row["kind"],
                "period": row["period"],
                **figures,
                "comparison": comparison(row, info, run, e.hidden, row["kind"]),
                "band": e.band,
                "region_code": e.region,
                "region": region_names.get(e.region) if e.region else None,
            }
        )
    return items


class _Table(NamedTuple):
    run: dict[str, Any]
    info: dict[str, Any]
    period: dt.date
    entries: list[Entry]
    banded: bool
    kinds: list[str]
    regions: dict[str, str | None]


def _table(
    connection: sa.Connection,
    actor: Actor,
    indicator_id: str,
    period: dt.date | None,
    kind: str | None,
    region: str | None,
    sort: str | None,
    descending: bool,
    run_id: int | None,
    by_kind: bool = False,
) -> _Table:
    """The checks every league table makes (the indicator is rankable and judged in that period of the
    run) and its entries in the order asked for."""
    if sort is not None and sort not in SORTS:
        raise Invalid(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
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
    officially_banded = bool((definition or {}).get("levels"))
    ranking, banded = _ranking(
        connection,
        run["id"],
        indicator_id,
        period,
        polarity == "higher_is_better",
        within,
        visible,
        officially_banded,
    )
    entries = _ordered(ranking, kind, region, sort or ("band" if banded else "rank"), descending, by_kind)
    codes = sorted({e.region for e in ranking if e.region})
    return _Table(
        run,
        info,
        period,
        entries,
        banded,
        sorted({e.kind for e in ranking if e.kind}),
        organisation_names(connection, set(codes)),
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
    region: str | None = None,
    sort: str | None = None,
    descending: bool = False,
    by_kind: bool = False,
) -> Page:
    """One page of the league table for ``indicator_id`` in ``period`` (default: the run's latest period
    of the indicator), from run ``run_id`` (default: the latest complete run), of the organisations of
    ``kind`` in ``region`` (default: all), sorted by ``sort`` (one of :data:`SORTS`; ``descending``
    reverses it), grouped by kind with ranks within each kind when ``by_kind``."""
    page, size = page_bounds(page, page_size)
    with reading(db) as connection:
        table = _table(
            connection, actor, indicator_id, period, kind, region, sort, descending, run_id, by_kind
        )
        chosen = table.entries[(page - 1) * size : page * size]
        items = _items(connection, table.run, table.info, indicator_id, table.period, chosen, table.regions)
    return Page(items, len(table.entries), page, size, LEAGUE_COLUMNS)


def league_options(db: Db, actor: Actor, indicator_id: str, period: dt.date | None = None) -> dict[str, Any]:
    """What a league table can be narrowed to and how it is shown: the organisation kinds and regions in
    it (regions as code → name), and whether the indicator is banded."""
    with reading(db) as connection:
        table = _table(connection, actor, indicator_id, period, None, None, None, False, None)
    return {"kinds": table.kinds, "regions": table.regions, "banded": table.banded}


LEAGUE_DOWNLOAD_BATCH = 500
"""Organisations read at a time while a whole league table is downloaded."""


def league_rows(
    db: Db,
    actor: Actor,
    indicator_id: str,
    period: dt.date | None = None,
    kind: str | None = None,
    region: str | None = None,
    sort: str | None = None,
    descending: bool = False,
    by_kind: bool = False,
) -> Rows:
    """Every row of the league table :func:`league_table` pages through, in its order, read as they
    are consumed (a download). The checks come first: NotFound or Invalid before any row."""
    with reading(db) as connection:
        table = _table(connection, actor, indicator_id, period, kind, region, sort, descending, None, by_kind)

    def rows() -> Iterator[dict[str, Any]]:
        with reading(db) as connection:
            for start in range(0, len(table.entries), LEAGUE_DOWNLOAD_BATCH):
                chosen = table.entries[start : start + LEAGUE_DOWNLOAD_BATCH]
                yield from _items(
                    connection, table.run, table.info, indicator_id, table.period, chosen, table.regions
                )

    return Rows(LEAGUE_COLUMNS, rows())
