"""An organisation's series of one indicator as pages and charts show it: each period's figure with the
data-quality checks it failed (docs/methods/data-quality.md), and, after a merger, the history of the
organisations it succeeded joined on (docs/methods/mergers.md).

A merger is an ODS ``succeeded_by`` link (predecessor -> successor, from a date). When the predecessor has
no figures of the indicator from that date on (the publisher reports its activity under the successor),
the successor's series continues theirs: before the merger each period is the sum of the counts of the
successor and every predecessor (the merged organisation's footprint), so the two sides of the join
measure the same activity; from the merger date it is the successor's own. The monitoring pass still
judges each organisation's figures as published, period by period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.model.access import Actor
from carelens.model.data_quality import (
    GAP,
    IMPLAUSIBLE_ZERO,
    REVISED,
    failing,
    missing_months,
    packaged_rules,
)
from carelens.model.organisations import RelationshipKind
from carelens.services._db import Db, reading
from carelens.services.confidential import shown
from carelens.services.observations import small_number
from carelens.services.reach import Reach, reach
from carelens.store import schema

SUCCEEDED_BY = RelationshipKind.SUCCEEDED_BY.value


@dataclass(frozen=True)
class Join:
    """Where a predecessor's series joins its successor's."""

    predecessor: str
    predecessor_name: str | None
    successor: str
    successor_name: str | None
    date: dt.date

    @property
    def label(self) -> str:
        return f"{self.predecessor} merged into {self.successor}, {self.date:%B %Y}"


def successions(connection: sa.Connection, code: str) -> dict[str, list[dict[str, Any]]]:
    """The organisations ``code`` succeeded (``predecessors``) and those that succeeded it
    (``successors``), each with its name and the date of the succession."""
    rel, org = schema.org_relationship, schema.organisation
    out: dict[str, list[dict[str, Any]]] = {}
    for name, here, there in (
        ("successors", rel.c.subject_code, rel.c.object_code),
        ("predecessors", rel.c.object_code, rel.c.subject_code),
    ):
        query = (
            sa.select(there.label("code"), org.c.name, rel.c.valid_from.label("date"))
            .outerjoin(org, org.c.code == there)
            .where(rel.c.kind == SUCCEEDED_BY, here == code)
            .order_by(rel.c.valid_from, there)
        )
        out[name] = [dict(r) for r in connection.execute(query).mappings()]
    return out


def _joins(connection: sa.Connection, code: str, indicator_id: str) -> list[Join]:
    """Every merger into ``code`` (and into its predecessors, recursively) before which the predecessor
    published figures of the indicator and after which it published none: those whose series ``code``'s
    continues."""
    obs = schema.observation

    def published(predecessor: str, date: dt.date) -> tuple[int, int]:
        after = obs.c.period >= date
        earlier, later = connection.execute(
            sa.select(sa.func.count(sa.case((~after, 1))), sa.func.count(sa.case((after, 1)))).where(
                obs.c.indicator_id == indicator_id,
                obs.c.org_code == predecessor,
                obs.c.superseded_by.is_(None),
            )
        ).one()
        return earlier, later

    return _walk_joins(connection, code, lambda c: successions(connection, c)["predecessors"], published)


def _walk_joins(connection: sa.Connection, code: str, predecessors_of, published) -> list[Join]:
    """The joins of :func:`_joins`, given each organisation's predecessors (``predecessors_of(code)``)
    and how many current figures a predecessor published before and from a date
    (``published(code, date)``)."""
    joins: list[Join] = []
    todo, seen = [(code, None)], {code}
    while todo:
        successor, successor_name = todo.pop()
        for before in predecessors_of(successor):
            if before["code"] in seen or before["date"] is None:
                continue
            earlier, later = published(before["code"], before["date"])
            if later or not earlier:
                continue  # still reported on its own, or no history to continue
            seen.add(before["code"])
            name = successor_name
            if name is None:
                name = connection.execute(
                    sa.select(schema.organisation.c.name).where(schema.organisation.c.code == successor)
                ).scalar()
            joins.append(Join(before["code"], before["name"], successor, name, before["date"]))
            todo.append((before["code"], before["name"]))
    return sorted(joins, key=lambda j: (j.date, j.predecessor))


def quality_by_indicator(
    connection: sa.Connection, code: str, indicator_ids: list[str]
) -> dict[str, tuple[list[dict[str, Any]], list[Join]]]:
    """What :func:`quality_notes` says of each indicator's series of ``code`` (continued from its
    predecessors), and the joins, for many indicators at once: an organisation's profile.

    The same figures as :func:`organisation_series` indicator by indicator, read in one query (the
    organisation's and its predecessors' observations of every indicator) and checked in one pass over plain
    rows, not a query and a dozen pandas frames per indicator (which made a trust's profile take 1.3 s;
    one frame of the ~1,200 rows still cost half a national profile's time)."""
    tree: dict[str, list[dict[str, Any]]] = {}
    todo = [code]
    while todo:  # the merger tree, each organisation's predecessors read once
        successor = todo.pop()
        tree[successor] = successions(connection, successor)["predecessors"]
        todo += [b["code"] for b in tree[successor] if b["code"] not in tree]
    obs = schema.observation
    owners = obs.c.indicator_id.in_(indicator_ids), obs.c.org_code.in_(sorted(tree))
    current = [  # through the current figures' unique index; plain tuples: a profile reads ~1,200
        tuple(r)
        for r in connection.execute(
            sa.select(
                obs.c.indicator_id, obs.c.org_code, obs.c.period, obs.c.numerator, obs.c.denominator
            ).where(*owners, obs.c.superseded_by.is_(None))
        )
    ]
    revised = {  # through ix_observation_superseded
        (i, p)
        for i, p in connection.execute(
            sa.select(obs.c.indicator_id, obs.c.period).where(*owners, obs.c.superseded_by.is_not(None))
        )
    }
    periods_of: dict[tuple[str, str], list[dt.date]] = {}
    for i, o, p, _, _ in current:
        periods_of.setdefault((i, o), []).append(p)
    joins: dict[str, list[Join]] = {}
    until: dict[tuple[str, str], dt.date] = {}
    for indicator_id in indicator_ids:

        def published(predecessor: str, date: dt.date, indicator_id: str = indicator_id) -> tuple[int, int]:
            periods = periods_of.get((indicator_id, predecessor), [])
            return sum(p < date for p in periods), sum(p >= date for p in periods)

        joins[indicator_id] = (
            _walk_joins(connection, code, tree.__getitem__, published) if len(tree) > 1 else []
        )
        until |= {(indicator_id, j.predecessor): j.date for j in joins[indicator_id]}
    # a predecessor's figures count until its merger; the successor's always
    rows = [r for r in current if r[1] == code or ((r[0], r[1]) in until and r[2] < until[r[0], r[1]])]
    failed = failing(
        [r[0] for r in rows],
        np.array([r[3] for r in rows], dtype=float),
        np.array([r[4] for r in rows], dtype=float),
        packaged_rules(),
    )
    zero = {(r[0], r[2]) for r, bad in zip(rows, failed.tolist(), strict=True) if bad}
    periods: dict[str, set[dt.date]] = {}
    for i, _, p, _, _ in rows:
        periods.setdefault(i, set()).add(p)
    out = {}
    for indicator_id in indicator_ids:
        mine = sorted(periods.get(indicator_id, ()))
        out[indicator_id] = (
            _notes(
                [p for p in mine if (indicator_id, p) in zero] if zero else [],
                missing_months(mine),
                [p for p in mine if (indicator_id, p) in revised] if revised else [],
            ),
            joins[indicator_id],
        )
    return out


def _per_period(rows: pd.DataFrame, size: str, code: str) -> pd.DataFrame:
    """Each period's figures added up over the organisations a series joins (numerator and ``size``
    summed, missing as 0; failed or hidden if any was), by period. With one figure a period, as for
    every organisation no merger joined, nothing is added up: the figures are taken as they are, which
    a profile with sixty indicators does sixty times (pandas' grouping cost it ~2 s)."""
    if rows["period"].is_unique:
        one = rows.set_index("period").sort_index()
        return pd.DataFrame(
            {
                "numerator": pd.to_numeric(one["numerator"]).astype(float).fillna(0.0),
                "size": pd.to_numeric(one[size]).astype(float).fillna(0.0),
                "failed": one["failed"].astype(bool),
                "hidden": one["hidden"].astype(bool),
                "organisations": one["org_code"],
            }
        )
    return rows.groupby("period", sort=True).agg(
        numerator=("numerator", "sum"),
        size=(size, "sum"),
        failed=("failed", "any"),
        hidden=("hidden", "any"),
        organisations=("org_code", lambda c: "+".join(sorted(c, key=lambda x: (x != code, x)))),
    )


def organisation_series(
    connection: sa.Connection, within: Reach, code: str, sector: str | None, indicator_id: str, ratio: bool
) -> dict[str, Any]:
    """One organisation's series of an indicator, oldest first, continued from its predecessors.

    ``rows``: a frame of ``period``, ``numerator``, ``denominator`` (``expected`` for ratios),
    ``value``, ``suppressed``, ``not_assessed`` (the reason of a failed data-quality check, else "") and
    ``revised`` (a later release replaced a figure of the period); ``joins``: the mergers joined
    (:class:`Join`); ``gaps``: months with no figure between the first and the last, with the reason."""
    obs = schema.observation
    joins = _joins(connection, code, indicator_id)
    owners = [code, *(j.predecessor for j in joins)]
    hidden = sa.case((small_number(obs), 1), else_=0)
    query = sa.select(
        obs.c.org_code,
        obs.c.period,
        obs.c.numerator,
        obs.c.denominator,
        obs.c.expected,
        hidden.label("small"),
    ).where(obs.c.indicator_id == indicator_id, obs.c.org_code.in_(owners), obs.c.superseded_by.is_(None))
    rows = pd.DataFrame(  # through the current figures' unique index
        connection.execute(query).all(),
        columns=["org_code", "period", "numerator", "denominator", "expected", "small"],
    )
    revised = set(  # through ix_observation_superseded
        connection.execute(
            sa.select(obs.c.period).where(
                obs.c.indicator_id == indicator_id,
                obs.c.org_code.in_(owners),
                obs.c.superseded_by.is_not(None),
            )
        ).scalars()
    )
    until = {j.predecessor: j.date for j in joins}
    # a predecessor's figures count until its merger; the successor's always
    keep = [o == code or p < until[o] for o, p in zip(rows["org_code"], rows["period"], strict=True)]
    rows = rows[np.asarray(keep, dtype=bool)]
    rows["failed"] = failing(
        [indicator_id] * len(rows),
        rows["numerator"].to_numpy(float),
        rows["denominator"].to_numpy(float),
        packaged_rules(),
    )
    rows["hidden"] = [
        bool(s) and not within.includes(o, sector)
        for o, s in zip(rows["org_code"], rows["small"], strict=True)
    ]
    size = "expected" if ratio else "denominator"
    summed = _per_period(rows, size, code)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (summed["numerator"] / summed["size"]).where(~summed["failed"] & ~summed["hidden"])
    periods = [p for p in summed.index]
    out = pd.DataFrame(
        {
            "period": periods,
            "numerator": summed["numerator"].to_numpy(),
            size: summed["size"].to_numpy(),
            "value": value.to_numpy(dtype=float),
            "suppressed": summed["hidden"].to_numpy(dtype=bool),
            "not_assessed": np.where(summed["failed"], IMPLAUSIBLE_ZERO.reason, ""),
            "revised": [p in revised for p in periods],
            "organisations": summed["organisations"].to_numpy(dtype=object),
        }
    )
    return {
        "rows": out,
        "joins": joins,
        "gaps": [{"period": m, "reason": GAP.reason} for m in missing_months(periods)],
    }


def _ranges(months: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive months as (first, last) ranges."""
    out: list[tuple[dt.date, dt.date]] = []
    for m in sorted(months):
        if out and (m.year * 12 + m.month) - (out[-1][1].year * 12 + out[-1][1].month) == 1:
            out[-1] = (out[-1][0], m)
        else:
            out.append((m, m))
    return out


def _range_text(first: dt.date, last: dt.date) -> str:
    return f"{first:%B %Y}" if first == last else f"{first:%B %Y} to {last:%B %Y}"


def quality_notes(series: dict[str, Any]) -> list[dict[str, Any]]:
    """What the data-quality checks found in a series, one note per check: its title, reason, the months
    (as text ranges) and how many."""
    rows = series["rows"]
    return _notes(
        list(rows.loc[rows["not_assessed"] != "", "period"]),
        [g["period"] for g in series["gaps"]],
        list(rows.loc[rows["revised"], "period"]),
    )


def _notes(zero: list[dt.date], gaps: list[dt.date], revised: list[dt.date]) -> list[dict[str, Any]]:
    """One note per data-quality check that found something: the months it found, as text ranges."""
    found = [(IMPLAUSIBLE_ZERO, zero), (GAP, gaps), (REVISED, revised)]
    return [
        {
            "check": check.name,
            "title": check.title,
            "reason": check.reason,
            "months": len(months),
            "periods": ", ".join(_range_text(a, b) for a, b in _ranges(months)),
        }
        for check, months in found
        if months
    ]


IMPROVEMENT = {"lower_is_better": "decrease", "higher_is_better": "increase"}
"""Which way is improvement on a control chart, from an indicator definition's ``polarity``."""


def series_chart(
    db: Db,
    actor: Actor,
    org_code: str,
    sector: str | None,
    indicator_id: str,
    definition: dict[str, Any],
    latest: int,
) -> dict[str, Any] | None:
    """One organisation's latest ``latest`` periods of one indicator (continued from its predecessors)
    as an XmR control chart (Making Data Count), oldest first: per point the period, value, mean, limits
    and point type, and the series' variation icon (:func:`carelens.monitor.control_charts.series_chart`);
    ``interval_lower`` and ``interval_upper``: each value's 95% confidence interval from its counts
    (:func:`carelens.stats.intervals.figure_interval`; missing where the value is);
    ``not_assessed``: per point the reason of a failed data-quality check ("" when none), whose value is
    left out (never drawn, never in the limits); ``joins``: the mergers within the chart (period and
    label). A value the actor may not see (small numbers) is missing too. None with fewer than two
    periods, and for a confidential indicator the actor may not see (:mod:`carelens.services.confidential`)."""
    from carelens.monitor.control_charts import series_chart as xmr_chart

    ratio = definition.get("value_type") == "indirectly_standardised_ratio"
    with reading(db) as connection:
        within = reach(connection, actor, actor.rules.confidential_data)
        if not shown(connection, actor, within).shows(indicator_id, org_code, sector):
            return None
        series = organisation_series(connection, within, org_code, sector, indicator_id, ratio)
    rows = series["rows"].tail(latest)
    if len(rows) < 2:
        return None
    dates = np.array(list(rows["period"]), dtype="datetime64[D]")
    points = xmr_chart(
        dates, rows["value"].to_numpy(dtype=float), IMPROVEMENT.get(definition.get("polarity"), "neutral")
    )
    points["not_assessed"] = rows["not_assessed"].to_numpy(dtype=object)
    points["interval_lower"], points["interval_upper"] = _intervals(definition.get("value_type"), rows, ratio)
    points["interval_level"] = SERIES_INTERVAL_LEVEL
    first = rows["period"].iloc[0]
    points["joins"] = [{"period": j.date, "label": j.label} for j in series["joins"] if j.date > first]
    return points


SERIES_INTERVAL_LEVEL = 95.0
"""The confidence level of the interval drawn about each period of a series (as Fingertips)."""


def _intervals(value_type: str | None, rows: pd.DataFrame, ratio: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each period's confidence interval from its summed counts, missing where its value is (a figure
    the actor may not see, or one that failed a data-quality check) or its type has none."""
    from carelens.stats.intervals import FIGURE_TYPES, figure_interval

    missing = np.full(len(rows), np.nan)
    if value_type not in FIGURE_TYPES:
        return missing, missing.copy()
    shown = np.isfinite(rows["value"].to_numpy(dtype=float))
    numerator = np.where(shown, rows["numerator"].to_numpy(dtype=float), np.nan)
    size = rows["expected" if ratio else "denominator"].to_numpy(dtype=float)
    return figure_interval(value_type, numerator, size, SERIES_INTERVAL_LEVEL)
