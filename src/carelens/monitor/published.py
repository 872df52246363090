"""Which verdict a stored judgement shows: the publisher's own where it gave one.

NHS England's current SHMI trust-level file publishes its banding, value and limits, computed from
unrounded counts, beside counts rounded to the nearest 5 (docs/publishers-files.md). A monitoring run
judges the rounded counts and cannot reproduce that banding exactly, so where a current published verdict
is stored for a figure (``published_verdict``), everything that shows the figure's verdict reads the
publisher's, with the run's own beside it, through :func:`judgements_shown`.
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from carelens.store import schema
from carelens.store.schema_monitor import monitor_indicator, monitor_judgement

PUBLISHER_VERDICT, CARELENS_VERDICT = "published", "carelens"
"""Whose verdict a judgement shows: the publisher's own (where it gave one) or carelens's."""
SHOWN_FROM_PUBLISHER = ("value", "lower", "upper", "direction", "verdict", "reason")
"""A judgement's fields that a published verdict replaces (the run's own are kept as ``computed_*``)."""


@cache
def judgements_shown() -> sa.Subquery:
    """``monitor_judgement`` as every answer shows it: where a current published verdict exists for the
    figure (same indicator, organisation and period), its value, limits, direction and verdict are the
    publisher's (band 1 higher, 2 within, 3 lower; worse or better by the run's polarity) and
    ``verdict_source`` is ``published``; the run's own are kept as ``computed_value``,
    ``computed_lower``, ``computed_upper``, ``computed_direction`` and ``computed_verdict``. Same
    column names as ``monitor_judgement`` otherwise, so a query reads it in its place."""
    j, p, ind = monitor_judgement, schema.published_verdict, monitor_indicator
    found = p.c.band.is_not(None)
    direction = sa.case((p.c.band == 1, "higher"), (p.c.band == 3, "lower"), else_="within")
    by_polarity = sa.case(
        (p.c.band == 2, "as expected"),
        (ind.c.polarity == "neutral", direction),
        (sa.and_(p.c.band == 1, ind.c.polarity == "higher_is_better"), "better"),
        (sa.and_(p.c.band == 3, ind.c.polarity == "lower_is_better"), "better"),
        else_="worse",
    )
    published = {
        "value": p.c.value,
        "lower": p.c.lower,
        "upper": p.c.upper,
        "direction": direction,
        "verdict": by_polarity,
        "reason": sa.literal(""),
    }
    columns = [
        sa.case((found, published[c.name]), else_=c).label(c.name) if c.name in published else c for c in j.c
    ]
    columns += [j.c[name].label(f"computed_{name}") for name in SHOWN_FROM_PUBLISHER[:-1]]
    columns.append(sa.case((found, PUBLISHER_VERDICT), else_=CARELENS_VERDICT).label("verdict_source"))
    matches = sa.and_(
        p.c.indicator_id == j.c.indicator_id,
        p.c.org_code == j.c.org_code,
        p.c.period == j.c.period,
        p.c.superseded_by.is_(None),
    )
    joined = j.outerjoin(p, matches).outerjoin(
        ind, sa.and_(ind.c.run_id == j.c.run_id, ind.c.indicator_id == j.c.indicator_id)
    )
    return sa.select(*columns).select_from(joined).subquery("judgement")
