"""Monitoring results (``carelens.monitor``): runs, flags with their explanation, priority bands, the
biggest movers since the previous run, and an organisation's intelligence profile.

Monitoring output is the regulator's confidential intelligence (docs/design.md §Access rules and
confidentiality): every row about an organisation follows the role's ``confidential_data`` rule. Roles
whose rule reaches no organisation (the public) may not use the area at all (:class:`Forbidden`); other
roles see the rows of the organisations in their reach only (a provider its own, a commissioner its area,
a chief inspector its sector), and an organisation's profile outside the reach does not exist for them
(:class:`NotFound`). Reading goes through the monitoring area's public functions where they exist
(:func:`carelens.monitor.service.profile`, :func:`~carelens.monitor.service.latest_run_id`).

A confidential indicator's flags (:mod:`carelens.services.confidential`: the experiences people shared)
are seen only by the roles that handle submissions, within their reach; to the rest (a provider looking
at its own flags among them) the indicator is not in the run. It is scored like any other, as a
validated staff concern is, so it counts in an organisation's score and band, which say no more than
how many indicators are at risk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.services import Forbidden, NotFound
from carelens.services._db import Db, Kept, Page, Rows, page_bounds, page_query, plain, reading, stream_rows
from carelens.services.confidential import Shown, shown
from carelens.services.judgements import judgements_shown, resolve_run, run_indicators
from carelens.services.reach import Reach, covers_any, reach
from carelens.store import schema
from carelens.store.engine import hide_password
from carelens.store.schema_monitor import (
    RISK_FLAGS,
    monitor_flag,
    monitor_flag_count,
    monitor_org,
    monitor_run,
)

RUN_COLUMNS = [
    "id",
    "started_at",
    "user_name",
    "source",
    "period_from",
    "period_to",
    "indicators",
    "previous_run_id",
    "results_digest",
    "scope",
    "scope_note",
]
FLAG_COLUMNS = [
    "run_id",
    "indicator_id",
    "org_code",
    "period",
    "peer_group",
    "numerator",
    "denominator",
    "expected",
    "value",
    "target",
    "z_adjusted",
    "risk_lower",
    "risk_upper",
    "elevated_lower",
    "elevated_upper",
    "peer_units",
    "od_note",
    "method",
    "benchmark",
    "flag",
    "out_of_date",
    "previous_flag",
    "reason",
    "spc_variation",
    "spc_alert",
    "spc_rule",
]
BAND_COLUMNS = [
    "run_id",
    "org_code",
    "name",
    "kind",
    "band",
    "status",
    "score",
    "risks",
    "elevated",
    "spc_alerts",
    "applicable",
    "previous_band",
    "previous_score",
    "change",
]


def may_see(actor: Actor) -> bool:
    """Whether the actor may see any monitoring results: its confidential-data rule covers some
    organisation. The functions here refuse anyone else (Forbidden)."""
    return covers_any(actor, actor.rules.confidential_data)


def _within(connection: sa.Connection, actor: Actor) -> Reach:
    """The organisations whose monitoring results the actor sees; Forbidden when none."""
    if not may_see(actor):
        raise Forbidden("monitoring results are confidential: sign in with a role that may see them")
    return reach(connection, actor, actor.rules.confidential_data)


def _run_id(connection: sa.Connection, run_id: int | None) -> int:
    """The run asked for (default the latest complete run: :func:`carelens.services.judgements.
    resolve_run`); NotFound when there is none."""
    return int(resolve_run(connection, run_id)["id"])


def _run_columns(actor: Actor) -> list[str]:
    """A run's columns the actor sees: where the store is (``source``) only for roles that run the
    service (the ``service_details`` rule)."""
    return RUN_COLUMNS if actor.rules.service_details else [c for c in RUN_COLUMNS if c != "source"]


def _run_row(row: sa.RowMapping) -> dict[str, Any]:
    out = plain(row)
    if out.get("source"):
        out["source"] = hide_password(out["source"])  # runs stored before sources were stored so
    return out


WHOLE_RUN_ENTRIES = 64
"""Whole-run answers kept per server process (a few runs x the few answers below)."""
_WHOLE_RUN = Kept(WHOLE_RUN_ENTRIES)


def _whole_run(
    connection: sa.Connection, run: dict[str, Any], what: tuple, compute: Callable[[], Any]
) -> Any:
    """What ``compute`` finds over every organisation of a stored ``run`` (its row as
    :func:`carelens.services.judgements.resolve_run` gives it), computed once per server process: a
    run's rows never change once stored, and at national scale (50,000 organisations) reading them all
    again cost most of a request. Keyed by the store, the run and its digest, so a store made again at
    the same address is never answered from another's run. Only for answers over every organisation
    and from the run's own tables (the names of organisations, which imports change, are read live)."""
    key = (str(connection.engine.url), run["id"], str(run["started_at"]), run["results_digest"], *what)
    return _WHOLE_RUN.get(key, compute)


def monitoring_runs(db: Db, actor: Actor, page: int = 1, page_size: int | None = None) -> Page:
    """Stored runs, newest first (when, by whom, over what): no organisation's results, and where the
    store is to administrators only."""
    columns = _run_columns(actor)
    with reading(db) as connection:
        _within(connection, actor)
        query = sa.select(*(monitor_run.c[c] for c in columns))
        return page_query(connection, query, [monitor_run.c.id.desc()], page, page_size, columns, _run_row)


def run_summary(db: Db, actor: Actor, run_id: int | None = None) -> dict[str, Any]:
    """One run (default the latest) with counts of flags and bands over the organisations in reach (over
    every organisation: the flags from the run's stored counts, the bands counted once per run)."""
    with reading(db) as connection:
        within = _within(connection, actor)
        resolved = resolve_run(connection, run_id)
        run_id = int(resolved["id"])
        run = _run_row(
            connection.execute(
                sa.select(*(monitor_run.c[c] for c in _run_columns(actor))).where(monitor_run.c.id == run_id)
            )
            .mappings()
            .one()
        )
        visible = shown(connection, actor, within)
        flags = connection.execute(_flags_by_kind(within, visible, run_id)).all()
        m = monitor_org
        counting = (  # one pass over the run's organisations for both counts
            sa.select(m.c.band, m.c.status, m.c.change, sa.func.count())
            .where(m.c.run_id == run_id, within.clause(m.c.org_code))
            .group_by(m.c.band, m.c.status, m.c.change)
        )
        if within.everything:  # the same for every request: counted once per run (_whole_run)
            groups = _whole_run(connection, resolved, ("bands",), lambda: connection.execute(counting).all())
        else:
            groups = connection.execute(counting).all()
        bands: dict[tuple, int] = {}
        changes: dict[str, int] = {}
        for band, status, change, n in groups:
            bands[band, status] = bands.get((band, status), 0) + n
            changes[change] = changes.get(change, 0) + n
        indicators = [
            {k: v for k, v in info.items() if k != "run_id"}
            for indicator_id, info in sorted(run_indicators(connection, run_id).items())
            if not visible.hidden(indicator_id)
        ]
    return {
        "run": run,
        "indicators": indicators,
        "everything": within.everything,
        "flags": {flag: count for flag, count in flags},
        "bands": [
            {"band": band, "status": status, "organisations": n}
            for (band, status), n in sorted(
                bands.items(), key=lambda b: (b[0][0] is None, b[0][0] or 0, b[0][1])
            )
        ],
        "changes": dict(sorted(changes.items())),
    }


def _flag_filters(
    within: Reach,
    visible: Shown,
    run_id: int,
    org_code: str | None,
    indicator_id: str | None,
    flag: str | None,
    risks_only: bool,
) -> list[sa.ColumnElement[bool]]:
    """Which of ``monitor_flag``'s rows a listing gives: the run's, for the organisations ``within``, on
    the indicators ``visible``, narrowed as asked."""
    f = monitor_flag
    where = [
        f.c.run_id == run_id,
        within.clause(f.c.org_code),
        visible.clause(f.c.indicator_id, f.c.org_code),
    ]
    if org_code:
        where.append(f.c.org_code == org_code)
    return where + _narrowed(f, indicator_id, flag, risks_only)


def _narrowed(
    table: sa.Table, indicator_id: str | None, flag: str | None, risks_only: bool
) -> list[sa.ColumnElement[bool]]:
    """How a listing is narrowed, on ``monitor_flag`` or its per-run counts alike (both have the indicator,
    flag and alert columns), so a listing's total always counts the rows it lists."""
    where = []
    if indicator_id:
        where.append(table.c.indicator_id == indicator_id)
    if flag:
        where.append(table.c.flag == flag)
    if risks_only:
        where.append(sa.or_(table.c.flag.in_(RISK_FLAGS), table.c.spc_alert.is_(True)))
    return where


def _flags_by_kind(within: Reach, visible: Shown, run_id: int) -> sa.Select:
    """How many of a run's flags the actor sees, by flag: over every organisation from the run's stored
    counts, otherwise from the flags in reach (through ``ix_monitor_flag_org``)."""
    if within.everything:
        c = monitor_flag_count
        hidden = visible.confidential and not visible.handles
        return (
            sa.select(c.c.flag, sa.func.sum(c.c.flags))
            .where(
                c.c.run_id == run_id,
                c.c.indicator_id.not_in(sorted(visible.confidential)) if hidden else sa.true(),
            )
            .group_by(c.c.flag)
            .order_by(c.c.flag)
        )
    f = monitor_flag
    return (
        sa.select(f.c.flag, sa.func.count())
        .where(
            f.c.run_id == run_id, within.clause(f.c.org_code), visible.clause(f.c.indicator_id, f.c.org_code)
        )
        .group_by(f.c.flag)
        .order_by(f.c.flag)
    )


def _flags_query(where: list[sa.ColumnElement[bool]]) -> tuple[sa.Select, list[str]]:
    """The query of the flags ``where`` says, with their organisations' names and shown verdicts, in the
    listing's order (risks first: the stored ``position``), and its columns."""
    f, org = monitor_flag, schema.organisation
    j = judgements_shown()
    judged = sa.and_(
        j.c.run_id == f.c.run_id,
        j.c.indicator_id == f.c.indicator_id,
        j.c.period == f.c.period,
        j.c.org_code == f.c.org_code,
    )
    # a scalar subquery, looked up for each row given: an outer join to the judgements' subquery made
    # SQLite build the whole run's judgements per request
    verdict = sa.select(j.c.verdict).where(judged).scalar_subquery()
    query = (
        sa.select(*(f.c[c] for c in FLAG_COLUMNS), org.c.name, verdict.label("verdict"))
        .select_from(f.outerjoin(org, org.c.code == f.c.org_code))
        .where(*where)
        .order_by(f.c.position)
    )
    named = FLAG_COLUMNS.index("org_code") + 1
    columns = [*FLAG_COLUMNS[:named], "name", *FLAG_COLUMNS[named:], "verdict", "why"]
    return query, columns


def _counted_flags(
    connection: sa.Connection,
    visible: Shown,
    run_id: int,
    indicator_id: str | None,
    flag: str | None,
    risks_only: bool,
) -> int:
    """How many of a run's flags over every organisation a listing gives, from the run's stored counts
    (``monitor_flag_count``: a row per indicator, flag and alert), not from its millions of flags."""
    c = monitor_flag_count
    where = [c.c.run_id == run_id]
    if visible.confidential and not visible.handles:
        where.append(c.c.indicator_id.not_in(sorted(visible.confidential)))
    where += _narrowed(c, indicator_id, flag, risks_only)
    return int(
        connection.execute(sa.select(sa.func.coalesce(sa.func.sum(c.c.flags), 0)).where(*where)).scalar()
    )


def flags(
    db: Db,
    actor: Actor,
    run_id: int | None = None,
    org_code: str | None = None,
    indicator_id: str | None = None,
    flag: str | None = None,
    risks_only: bool = False,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Flags of a run (default the latest) for organisations in reach, risks first, each with why:
    the value against its peers' limits, the method, the England benchmark and the control chart.

    At national scale (millions of flags) a page costs what its rows cost: over every organisation the
    total is a sum of the run's stored counts, and a page of the whole listing (or of its risks, which
    come first) is a range of stored positions; a listing of one indicator, one flag or the
    organisations in a narrower reach reads only those flags, through their indexes (docs/scale.md)."""
    f = monitor_flag
    page, size = page_bounds(page, page_size)
    with reading(db) as connection:
        within = _within(connection, actor)
        run_id = _run_id(connection, run_id)
        visible = shown(connection, actor, within)
        where = _flag_filters(within, visible, run_id, org_code, indicator_id, flag, risks_only)
        every_organisation = within.everything and not org_code
        if every_organisation:
            total = _counted_flags(connection, visible, run_id, indicator_id, flag, risks_only)
        else:
            total = connection.execute(sa.select(sa.func.count()).select_from(f).where(*where)).scalar_one()
        first = (page - 1) * size
        sees_all = not (visible.confidential and not visible.handles)
        if every_organisation and sees_all and not (indicator_id or flag):
            # every flag, or the risks (a prefix of the listing): positions first + 1 .. first + size
            query, columns = _flags_query([*where, f.c.position > first, f.c.position <= first + size])
        else:
            # the page's places first, on the narrowing index alone (the place is its last column, so the
            # entries skipped to reach a deep page are never read from the table), then only the page's
            # rows by place (ix_monitor_flag_position). The rows are asked for by run and place only:
            # given the narrowing too, SQLite read every row of the indicator to join the page's places.
            places = sa.select(f.c.position).where(*where).order_by(f.c.position).limit(size).offset(first)
            query, columns = _flags_query([f.c.run_id == run_id, f.c.position.in_(places.scalar_subquery())])
        rows = connection.execute(query).mappings()
        return Page([_flag_row(plain(r)) for r in rows], total, page, size, columns)


def all_flags(db: Db, actor: Actor, run_id: int | None = None, risks_only: bool = False) -> tuple[int, Rows]:
    """Every flag of a run (default the latest) for the organisations in reach, in the order of
    :func:`flags`, read as they are consumed (a download): (the run's id, the rows). The actor and the
    run are checked first: Forbidden or NotFound before any row."""
    with reading(db) as connection:
        within = _within(connection, actor)
        visible = shown(connection, actor, within)
        run_id = _run_id(connection, run_id)
    query, columns = _flags_query(_flag_filters(within, visible, run_id, None, None, None, risks_only))
    return run_id, Rows(columns, stream_rows(db, query, lambda r: _flag_row(plain(r))))


def _flag_row(row: dict[str, Any]) -> dict[str, Any]:
    row["spc_alert"] = bool(row["spc_alert"])
    row["out_of_date"] = bool(row["out_of_date"])
    row["verdict"] = row.get("verdict") or "not compared"
    row["why"] = explain_flag(row)
    return row


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}"


def explain_flag(row: dict[str, Any]) -> str:
    """A plain-English sentence saying why an organisation has a flag on an indicator."""
    parts = [f"{row['flag'].capitalize()}: {row['reason']}." if row.get("reason") else f"{row['flag']}."]
    if row.get("value") is not None and row.get("target") is not None:
        limits = ""
        if row.get("risk_lower") is not None and row.get("risk_upper") is not None:
            limits = f" (risk limits {_num(row['risk_lower'])} to {_num(row['risk_upper'])})"
        peers = f" of {row['peer_units']} peers" if row.get("peer_units") else ""
        parts.append(
            f"Value {_num(row['value'])} against the peer value {_num(row['target'])}{peers}{limits}, "
            f"z = {_num(row.get('z_adjusted'))}."
        )
    if row.get("benchmark") and row["benchmark"] not in ("", "not compared"):
        parts.append(f"Compared with England: {row['benchmark']}.")
    if row.get("spc_alert"):
        parts.append(f"Control chart alert ({row.get('spc_rule') or 'special cause'}).")
    if row.get("previous_flag") not in (None, row.get("flag")):
        parts.append(f"Was '{row['previous_flag']}' in the previous run.")
    if row.get("out_of_date"):
        parts.append("Out of date: much older than this organisation's other figures, so not scored.")
    return " ".join(parts)


def _bands_query(within: Reach, run_id: int) -> sa.Select:
    m, org = monitor_org, schema.organisation
    return (
        sa.select(
            *(m.c[c] for c in BAND_COLUMNS if c != "name"),
            org.c.name,
        )
        .select_from(m.outerjoin(org, org.c.code == m.c.org_code))
        .where(m.c.run_id == run_id, within.clause(m.c.org_code))
    )


def priority_bands(
    db: Db,
    actor: Actor,
    run_id: int | None = None,
    band: int | None = None,
    change: str | None = None,
    kind: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Organisations in reach by priority band (1 = highest risk first), then by score, highest first."""
    m = monitor_org
    with reading(db) as connection:
        within = _within(connection, actor)
        run_id = _run_id(connection, run_id)
        query = _bands_query(within, run_id)
        if band is not None:
            query = query.where(m.c.band == band)
        if change:
            query = query.where(m.c.change == change)
        if kind:
            query = query.where(m.c.kind == kind)
        order = [m.c.band.is_(None), m.c.band, m.c.score.desc(), m.c.org_code]
        return page_query(connection, query, order, page, page_size, BAND_COLUMNS, _band_row)


def _band_row(row: sa.RowMapping) -> dict[str, Any]:
    item = plain(row)
    return {c: item.get(c) for c in BAND_COLUMNS}


def biggest_movers(
    db: Db, actor: Actor, run_id: int | None = None, limit: int | None = 20
) -> list[dict[str, Any]]:
    """Organisations in reach whose band changed since the previous run: moved to higher risk first, then
    by the size of the move (bands, then score); the first ``limit`` of them (None: every one). Over
    every organisation, which ones those are is found once per run (:func:`_whole_run`), and only their
    rows are read per request."""
    m = monitor_org
    with reading(db) as connection:
        within = _within(connection, actor)
        run = resolve_run(connection, run_id)
        bands_moved = sa.func.abs(sa.func.coalesce(m.c.band, 0) - sa.func.coalesce(m.c.previous_band, 0))
        score_moved = sa.func.abs(sa.func.coalesce(m.c.score, 0) - sa.func.coalesce(m.c.previous_score, 0))
        moved = m.c.change.in_(("higher risk", "lower risk", "changed"))
        order = [m.c.change != "higher risk", bands_moved.desc(), score_moved.desc(), m.c.org_code]
        if limit is None or not within.everything:
            query = _bands_query(within, run["id"]).where(moved).order_by(*order)
            if limit is not None:
                query = query.limit(max(0, limit))
            return [_band_row(r) for r in connection.execute(query).mappings()]
        first = (
            sa.select(m.c.org_code)
            .where(m.c.run_id == run["id"], moved)
            .order_by(*order)
            .limit(max(0, limit))
        )
        codes = _whole_run(
            connection, run, ("movers", limit), lambda: list(connection.execute(first).scalars())
        )
        rows = {
            r["org_code"]: _band_row(r)
            for r in connection.execute(
                _bands_query(within, run["id"]).where(m.c.org_code.in_(codes))
            ).mappings()
        }
        return [rows[code] for code in codes]


def intelligence_profile(db: Db, actor: Actor, code: str, run_id: int | None = None) -> dict[str, Any]:
    """An organisation's intelligence profile (every indicator's flag and why, SPC, trend) from a run;
    :class:`NotFound` if it is outside the actor's reach or not in the run."""
    from carelens.monitor.service import profile

    with reading(db) as connection:
        sector = connection.execute(
            sa.select(schema.organisation.c.sector).where(schema.organisation.c.code == code)
        ).first()
        within = reach(connection, actor, actor.rules.confidential_data)
        if within.empty or not within.includes(code, sector[0] if sector else None):
            raise NotFound(f"no monitoring profile for {code!r}")
        run_id = _run_id(connection, run_id)
        visible = shown(connection, actor, within)
        engine = connection.engine
    data = profile(engine, code, run_id)
    data["indicators"] = [
        row
        for row in data["indicators"]
        if visible.shows(row["indicator_id"], code, sector[0] if sector else None)
    ]
    for row in data["indicators"]:
        row["why"] = explain_flag(row | {"peer_units": None})
    return data


# --- running a pass -------------------------------------------------------------------------------


def load_settings(path: Any = None) -> Any:
    """The monitoring settings in ``path`` (default: the packaged monitor.yaml), every field checked."""
    from carelens.monitor.settings import load_settings as read

    return read(path)


def run_pass(db: sa.Engine, actor: Actor, **options: Any) -> Any:
    """Monitor every indicator of every organisation and store the run, audited as done by ``actor``;
    ``options`` as :func:`carelens.monitor.service.run_monitor` takes them (parquet, periods, settings,
    workers, what_if, engine: ``embedded`` or ``spark``, spark_master...). The run's summary. Validated concerns raised by organisations' staff
    are read from the store and scored as elevated risk (:mod:`carelens.services.intel`) unless
    ``staff_concerns`` says otherwise. A pass over the store first brings the experience indicator's
    observations up to date with the experiences shared so far (an import by ``actor``:
    :func:`carelens.services.intel.store_experience_observations`), so the run compares them."""
    from carelens.monitor.service import run_monitor
    from carelens.services._db import author
    from carelens.services.intel import store_experience_observations, validated_staff_concerns

    user = author(actor)
    if options.get("parquet") is None:
        store_experience_observations(db, user)
    if "staff_concerns" not in options:
        options["staff_concerns"] = validated_staff_concerns(db)
    return run_monitor(db, user=user, **options)
