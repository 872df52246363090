"""Judgements a monitoring run stored: the one verdict per figure every page, API answer, league table
and report shows (docs/methods/judgements.md).

A judgement compares a published figure with its peers, so anyone may read it, with one exception:
a figure with small numbers (counts from 1 to ``small_number_threshold - 1``) is suppressed, with its
verdict and limits (which would reveal its denominator), for actors not entitled to the organisation's
confidential data. Suppression never changes who the peers are or anyone else's verdict: those were
fixed when the run was made. A confidential indicator's judgements (:mod:`carelens.services.confidential`)
are left out for anyone who may not see them.

Which run: the latest *complete* run unless a run id is asked for (:func:`resolve_run`); a partial or
what-if run is read only by its id, and every answer names the run and its scope.

Where the publisher gave its own verdict on a figure (NHS England's SHMI banding, read from its current
trust-level file), that is the verdict shown, with the publisher's value and limits: carelens's
recomputation from the rounded published counts cannot reproduce it exactly, so the run's own verdict
and limits are given beside it (``recomputed``), never instead of it (:func:`judgements_shown`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from functools import cache
from typing import Any

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.monitor.published import (
    CARELENS_VERDICT,
    PUBLISHER_VERDICT,
    SHOWN_FROM_PUBLISHER,
    judgements_shown,
)
from carelens.services import NotFound
from carelens.services._db import Db, plain, reading
from carelens.services.confidential import shown
from carelens.services.reach import Reach, reach
from carelens.services.settings import get_settings
from carelens.store import schema
from carelens.store.schema_monitor import monitor_indicator, monitor_run

RUN_FIELDS = ("id", "started_at", "scope", "scope_note", "period_from", "period_to", "results_digest")
"""What every answer says about the run it read."""
FIGURES = ("numerator", "denominator", "expected", "value")
"""A judgement's figures, blanked when suppressed."""
LIMITS = ("lower", "upper", "elevated_lower", "elevated_upper", "z", "z_adjusted")
"""What would reveal a suppressed figure's size (limits depend on the denominator)."""
COMPARISON_FIELDS = (
    "verdict",
    "direction",
    "reason",
    "level",
    "value",
    "target",
    "lower",
    "upper",
    "elevated_level",
    "elevated_lower",
    "elevated_upper",
    "z",
    "z_adjusted",
    "phi",
    "tau2",
    "od_note",
    "peers",
    "peer_group",
    "period",
    "out_of_date",
    "method",
    "run_id",
    "run_scope",
    "verdict_source",
    "recomputed",
)
"""The ``comparison`` object of every organisation x indicator the API and pages give."""
SUPPRESSED_REASON = "small numbers are not published, to protect people's privacy"
# --- the verdict shown: the publisher's where it gave one --------------------------------------------


def recomputed(row: dict[str, Any]) -> dict[str, Any] | None:
    """carelens's own verdict, value and limits of a judgement that shows the publisher's (None for one
    that shows carelens's)."""
    if row.get("verdict_source") != PUBLISHER_VERDICT:
        return None
    return {name: row.get(f"computed_{name}") for name in SHOWN_FROM_PUBLISHER[:-1]}


# --- runs -----------------------------------------------------------------------------------------


@cache
def _run_query() -> sa.Select:
    return sa.select(*(monitor_run.c[c] for c in RUN_FIELDS)).where(monitor_run.c.id == sa.bindparam("run"))


@cache
def _default_run_query() -> sa.Select:
    return sa.select(sa.func.max(monitor_run.c.id)).where(monitor_run.c.scope == "complete")


def resolve_run(connection: sa.Connection, run_id: int | None = None) -> dict[str, Any]:
    """The run asked for, or the default run: the latest complete one. :class:`NotFound` when there is
    no such run, or no complete run (then saying which runs there are)."""
    if run_id is None:
        run_id = connection.execute(_default_run_query()).scalar()
        if run_id is None:
            last = connection.execute(
                sa.select(monitor_run.c.id, monitor_run.c.scope, monitor_run.c.scope_note)
                .order_by(monitor_run.c.id.desc())
                .limit(1)
            ).first()
            if last is None:
                raise NotFound("no monitoring run is stored yet: run `carelens monitor`")
            raise NotFound(
                f"no complete monitoring run is stored: the latest, run {last.id}, is {last.scope} "
                f"({last.scope_note}); ask for it by its id, or run `carelens monitor` over every period"
            )
    row = connection.execute(_run_query(), {"run": run_id}).mappings().first()
    if row is None:
        raise NotFound(f"no monitoring run {run_id}")
    return plain(row)


def run_label(run: dict[str, Any]) -> str:
    """'run 4 (complete)' or 'run 3 (partial: leaves out periods after 2018-12-01)'."""
    if run["scope"] == "complete":
        return f"run {run['id']} (complete)"
    return f"run {run['id']} ({run['scope']}: {run['scope_note']})"


_INDICATORS: OrderedDict[tuple, dict[str, dict[str, Any]]] = OrderedDict()
_INDICATORS_LOCK = threading.Lock()


def run_indicators(connection: sa.Connection, run_id: int) -> dict[str, dict[str, Any]]:
    """How each indicator was compared in a run, and the periods it judged (runs never change, so this
    is read once per run and server process)."""
    key = (str(connection.engine.url), run_id)
    with _INDICATORS_LOCK:
        if key in _INDICATORS:
            return _INDICATORS[key]
    ind = schema.indicator
    query = (
        sa.select(monitor_indicator, ind.c.title)
        .select_from(monitor_indicator.outerjoin(ind, ind.c.id == monitor_indicator.c.indicator_id))
        .where(monitor_indicator.c.run_id == run_id)
    )
    found = {}
    for row in connection.execute(query).mappings():
        item = plain(row)
        item["out_of_date_kinds"] = [k for k in item["out_of_date_kinds"].split(", ") if k]
        found[item["indicator_id"]] = item
    with _INDICATORS_LOCK:
        _INDICATORS[key] = found
        while len(_INDICATORS) > 32:
            _INDICATORS.popitem(last=False)
    return found


# --- one judgement as the public sees it ------------------------------------------------------------


def is_small(row: dict[str, Any]) -> bool:
    """Whether a row has a count (numerator or denominator) from 1 to the threshold minus one (the
    rule of :func:`carelens.services.observations.small_number`, for a row in hand)."""
    threshold = get_settings().small_number_threshold
    return any(
        row.get(name) is not None and 0 < row[name] < threshold for name in ("numerator", "denominator")
    )


def comparison(
    row: dict[str, Any], info: dict[str, Any], run: dict[str, Any], hidden: bool, kind: str | None
) -> dict:
    """The ``comparison`` object of one stored judgement (``row``: a ``monitor_judgement`` row as plain
    data; ``info``: its indicator's row of :func:`run_indicators`; ``hidden``: suppressed for this
    actor; ``kind``: the organisation's kind, which says whether the indicator is out of date for it)."""
    out = {name: row.get(name) for name in COMPARISON_FIELDS}
    out.update(
        level=round(info["verdict_level"], 4),
        elevated_level=round(info["elevated_level"], 4),
        method=info["method"],
        run_id=run["id"],
        run_scope=run["scope"],
        direction=row["direction"] or None,
        reason=row["reason"] or None,
        out_of_date=(kind or "unknown") in info["out_of_date_kinds"],
        verdict_source=row.get("verdict_source") or CARELENS_VERDICT,
        recomputed=recomputed(row),
    )
    if hidden:
        out.update({name: None for name in (*LIMITS, "value", "direction", "recomputed")})
        out.update(verdict="suppressed", reason=SUPPRESSED_REASON)
    return out


def suppress_figures(row: dict[str, Any], hidden: bool) -> dict[str, Any]:
    """A judgement row with its figures blanked when ``hidden``."""
    if hidden:
        row = {**row, **dict.fromkeys(FIGURES)}
    return row | {"suppressed": hidden}


@cache
def _organisation_query() -> sa.Select:
    j = judgements_shown()
    return (
        sa.select(j)
        .where(j.c.org_code == sa.bindparam("code"), j.c.run_id == sa.bindparam("run"))
        .order_by(j.c.indicator_id, j.c.period)
    )


def organisation_judgements(
    connection: sa.Connection,
    actor: Actor,
    organisation: dict[str, Any],
    within: Reach | None = None,
) -> dict[str, Any]:
    """One organisation's (its directory entry's) stored judgements in the default run: per indicator its
    most recent judged period's figures and ``comparison``, and the verdicts of the periods before it
    (``history``). ``run`` is None when no complete run is stored."""
    code, sector = organisation["code"], organisation["sector"]
    try:
        run = resolve_run(connection)
    except NotFound:
        return {"run": None, "indicators": {}}
    within = within if within is not None else reach(connection, actor, actor.rules.confidential_data)
    entitled = within.includes(code, sector)
    info = run_indicators(connection, run["id"])
    visible = shown(connection, actor, within)
    rows = [
        row
        for row in connection.execute(_organisation_query(), {"code": code, "run": run["id"]}).mappings()
        if visible.shows(row["indicator_id"], code, sector)
    ]
    indicators: dict[str, dict[str, Any]] = {}
    for k, row in enumerate(rows):  # in order of indicator, then period
        hidden = not entitled and is_small(row)
        entry = indicators.setdefault(row["indicator_id"], {"history": []})
        entry["history"].append(
            {"period": row["period"].isoformat(), "verdict": "suppressed" if hidden else row["verdict"]}
        )
        if k + 1 == len(rows) or rows[k + 1]["indicator_id"] != row["indicator_id"]:  # its latest period
            item = plain(row)
            entry["figures"] = suppress_figures({k: item[k] for k in ("period", *FIGURES)}, hidden)
            entry["comparison"] = comparison(
                item, info[item["indicator_id"]], run, hidden, organisation["kind"]
            )
    return {"run": run, "indicators": indicators}


def public_run(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """What an answer says about its run: id, when, scope and a label."""
    if run is None:
        return None
    return {**{k: run[k] for k in ("id", "started_at", "scope", "scope_note")}, "label": run_label(run)}


# --- every peer of one funnel, for charts -------------------------------------------------------------

EVERYTHING, PUBLISHED = "everything", "published"
"""What a funnel drawing shows: every peer (actors who may see all confidential data), or only the
peers whose figures are published (everyone else; their own figure is marked on top, unsuppressed when
they are entitled to it)."""


def funnel_audience(db: Db, actor: Actor) -> str:
    """Which peers :func:`funnel_points` gives ``actor``: :data:`EVERYTHING` or :data:`PUBLISHED`."""
    with reading(db) as connection:
        return EVERYTHING if reach(connection, actor, actor.rules.confidential_data).everything else PUBLISHED


def funnel_points(
    db: Db,
    actor: Actor,
    run_id: int,
    indicator_id: str,
    period: dt.date | str,
    peer_group: str,
    size: str = "denominator",
    most: int | None = None,
) -> list[dict[str, Any]]:
    """The compared organisations of one funnel (run, indicator, period, peer group) with their figures,
    limits and verdict, as :func:`funnel_audience` says: for actors who may not see everything, only
    the organisations whose figures are published (none with small numbers, whoever's they are).

    ``most``: at most about this many, chosen by the database (a national funnel has 50,000): those
    outside the limits first (up to half), then an even spread of the others in order of ``size``
    (``denominator`` or ``expected``, the funnel's x axis), the smallest and largest always among them.
    A confidential indicator's funnel is given only to those who see its figures for every organisation
    (analysts, administrators): to anyone else, none, as a drawing shared by an audience must not show one
    actor's reach to another.
    """
    j = judgements_shown()
    columns = ("lower", "upper", "elevated_lower", "elevated_upper")
    with reading(db) as connection:
        conditions = _peer_conditions(connection, actor, j, run_id, indicator_id, period, peer_group)
        if conditions is None:
            return []
        fields = [
            j.c.org_code,
            j.c.denominator,
            j.c.expected,
            j.c.value,
            j.c.target,
            *(j.c[c] for c in columns),
            j.c.direction,
            j.c.verdict,
        ]
        if most is None:
            query = sa.select(*fields).where(*conditions).order_by(j.c.org_code)
            return [dict(r) for r in connection.execute(query).mappings()]
        outside = sa.case((j.c.direction == "within", 0), else_=1)
        x = j.c[size]
        ranked = (
            sa.select(
                *fields,
                outside.label("outside"),
                sa.func.row_number().over(partition_by=outside, order_by=(x, j.c.org_code)).label("rank"),
                sa.func.count().over(partition_by=outside).label("of"),
                sa.func.sum(outside).over().label("outliers"),
                sa.func.count().over().label("total"),
            )
            .where(*conditions)
            .subquery()
        )
        # Outside the limits: up to half the points; the rest for an even spread of those within. Every
        # step-th of a group is kept, step = ceil(group size / its budget) (whole-number division).
        half = max(most // 2, 1)
        outliers_kept = sa.case((ranked.c.outliers < half, ranked.c.outliers), else_=half)
        rest = most - outliers_kept
        budget = sa.case((ranked.c.outside == 1, half), (rest < 1, 1), else_=rest)
        step = (ranked.c.of + budget - 1) // budget
        keep = sa.or_(
            ranked.c.total <= most,
            (ranked.c.rank - 1) % step == 0,
            ranked.c.rank == ranked.c.of,
        )
        query = sa.select(*(ranked.c[f.name] for f in fields)).where(keep).order_by(ranked.c.org_code)
        return [dict(r) for r in connection.execute(query).mappings()]


def _peer_conditions(
    connection: sa.Connection,
    actor: Actor,
    j: sa.Subquery,
    run_id: int,
    indicator_id: str,
    period: dt.date | str,
    peer_group: str,
    own: str | None = None,
) -> list | None:
    """The conditions picking one comparison's peers from ``j`` (:func:`judgements_shown`) that
    ``actor`` may see drawn: all of them for actors who see everything, else those whose figures are
    published, and ``own`` (an organisation's code) too when the actor is entitled to its figures. None
    for a confidential indicator the actor may not see for every organisation."""
    within = reach(connection, actor, actor.rules.confidential_data)
    visible = shown(connection, actor, within)
    if indicator_id in visible.confidential and not (visible.handles and within.everything):
        return None
    conditions = [
        j.c.run_id == run_id,
        j.c.indicator_id == indicator_id,
        j.c.period == dt.date.fromisoformat(str(period)[:10]),
        j.c.peer_group == peer_group,
        j.c.direction != "",
    ]
    if not within.everything:
        threshold = get_settings().small_number_threshold
        numerator, denominator = sa.func.coalesce(j.c.numerator, 0), sa.func.coalesce(j.c.denominator, 0)
        published = sa.and_(
            sa.not_(sa.and_(numerator > 0, numerator < threshold)),
            sa.not_(sa.and_(denominator > 0, denominator < threshold)),
        )
        entitled = own is not None and within.includes(own, _sector(connection, own))
        conditions.append(sa.or_(published, j.c.org_code == own) if entitled else published)
    return conditions


def _sector(connection: sa.Connection, code: str) -> str | None:
    o = schema.organisation
    return connection.execute(sa.select(o.c.sector).where(o.c.code == code)).scalar()


COMPARED_LEVEL = 95.0
"""The confidence level of the intervals drawn on the compare-organisations chart (as Fingertips)."""


def compared_organisations(
    db: Db,
    actor: Actor,
    run_id: int,
    indicator_id: str,
    period: dt.date | str,
    peer_group: str,
    code: str,
    value_type: str,
    most: int = 60,
) -> dict[str, Any] | None:
    """One organisation (``code``) and the peers it was compared with in a stored judgement (run,
    indicator, period, peer group), highest value first, each with its name, figures, stored verdict
    and the 95% confidence interval of its value (:func:`carelens.stats.intervals.figure_interval`
    from its stored counts), for the compare-organisations chart.

    Which peers the actor sees is :func:`funnel_points`' rule, with the organisation's own figure
    besides when the actor is entitled to it. ``rows``: all of them when there are at most ``most``,
    else the ``most`` nearest in rank to the organisation (it among them when its figure is shown);
    ``total``: how many the actor may see; ``rank``: the organisation's place among them (1: highest;
    None when its figure is not shown); ``first``: the rank of the first row. None for a confidential
    indicator the actor may not see for every organisation."""
    from carelens.stats.intervals import figure_interval

    j, o = judgements_shown(), schema.organisation
    with reading(db) as connection:
        conditions = _peer_conditions(connection, actor, j, run_id, indicator_id, period, peer_group, code)
        if conditions is None:
            return None
        query = (
            sa.select(
                j.c.org_code,
                o.c.name,
                j.c.numerator,
                j.c.denominator,
                j.c.expected,
                j.c.value,
                j.c.verdict,
                j.c.direction,
                j.c.target,
            )
            .select_from(j.outerjoin(o, o.c.code == j.c.org_code))
            .where(*conditions, j.c.value.is_not(None))
            .order_by(j.c.value.desc(), j.c.org_code)
        )
        rows = [plain(dict(r)) for r in connection.execute(query).mappings()]
    total = len(rows)
    rank = next((k + 1 for k, r in enumerate(rows) if r["org_code"] == code), None)
    first = 1
    if total > most:
        first = min(max((rank or 1) - most // 2, 1), total - most + 1)
        rows = rows[first - 1 : first - 1 + most]
    size_column = "expected" if value_type == "indirectly_standardised_ratio" else "denominator"
    numerators = [r["numerator"] if r["numerator"] is not None else float("nan") for r in rows]
    sizes = [r[size_column] if r[size_column] is not None else float("nan") for r in rows]
    lower, upper = figure_interval(value_type, numerators, sizes, COMPARED_LEVEL)
    for row, lo, hi in zip(rows, lower.tolist(), upper.tolist(), strict=True):
        row.update(interval_lower=lo, interval_upper=hi, size=row[size_column])
    return {"rows": rows, "total": total, "rank": rank, "first": first, "level": COMPARED_LEVEL}
