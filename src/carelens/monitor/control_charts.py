"""Control-chart tables: validate a user's time series, run the XmR kernel, return one row per point.

This is the service behind ``carelens spc``. The statistics are in :mod:`carelens.stats.spc`; this layer
checks the input (every bad row reported with its file, row and column), sorts by facet then date, finds
rebase points and gaps in regular series, and lays out the result.

Gaps: the period of the data is inferred from the most common step between consecutive dates of a facet,
in months when every date falls on the same day of the month (or every date is a month end), otherwise in
days. ``gap_before`` counts the periods missing just before a point; a gap is treated like a missing value
(with the default ``missing="break"`` it breaks runs and the moving range across it is not computed).
Empty cells in the value column are missing values, not errors; text in it is an error.

Output: the facet, date and value columns keep the input's names; text columns (facet, rule, point type,
icons) are pandas categoricals, so millions of rows stay small and fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.tables import Column, check_unique, validate
from carelens.stats import spc

POINT_COLUMNS = (
    "phase",
    "mean",
    "upper",
    "lower",
    "near_upper",
    "near_lower",
    "moving_range",
    "rule",
    "point_type",
    "variation_icon",
    "assurance_icon",
    "short_series",
    "gap_before",
)
"""Result columns after the facet, date and value columns (which keep the input's names)."""


def spc_table(
    frame: pd.DataFrame,
    *,
    value: str,
    date: str,
    facet: str | None = None,
    improvement: spc.Improvement = "increase",
    target: float | None = None,
    rebase: Sequence[Any] = (),
    fix_after: int | None = None,
    screen: bool = True,
    source: str | None = None,
    detect_gaps: bool = True,
    missing: spc.MissingMode = "break",
    constant: float = spc.LIMIT_CONSTANT,
    shift_length: int = spc.RUN_LENGTH,
    trend_length: int = spc.RUN_LENGTH,
    two_in_three_beyond_process: bool = False,
    min_points: int = spc.MIN_POINTS,
) -> pd.DataFrame:
    """One row per point, sorted by facet then date: value, limits, the rule that fired, point type, the
    series' variation and assurance icons, the short-series warning (the point's phase has fewer than
    ``min_points`` baseline values) and ``gap_before`` (periods missing just before the point).

    ``rebase``: dates at which every facet starts a new phase (the first point on or after each date).
    Raises :class:`InputError` for a missing column, text in the value column, a bad date, a missing
    facet or a duplicate date within a facet, each named by file (``source``), row and column.
    Other options are those of :func:`carelens.stats.spc.xmr`.
    """
    source = source or frame.attrs.get("source", "input")
    columns = [Column(value, "number", allow_missing=True), Column(date, "date")]
    if facet is not None:
        columns.append(Column(facet, "text"))
    checked = validate(frame, columns, source=source)
    dates = checked[date]
    values = checked[value]
    facets = checked[facet] if facet is not None else None

    keys = pd.DataFrame({date: dates})
    if facet is not None:
        keys[facet] = facets
    check_unique(keys, [date] if facet is None else [date, facet], source=source)
    rebase_dates = _parse_rebase(rebase, source)

    if facets is not None:
        facet_codes, facet_names = pd.factorize(facets, sort=True)
    else:
        facet_codes, facet_names = np.zeros(len(values), dtype=np.int64), np.array([], dtype=object)
    # (facet, date) pairs are unique, so one argsort of a packed integer key orders them (faster than lexsort)
    date_codes, date_values = pd.factorize(dates, sort=True)
    order = np.argsort(facet_codes.astype(np.int64) * max(len(date_values), 1) + date_codes)
    codes = facet_codes[order].astype(np.int64)
    dates = dates[order]
    values = values[order]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]

    epoch = np.searchsorted(rebase_dates, dates, side="right")
    phase_start = first.copy()
    phase_start[1:] |= epoch[1:] != epoch[:-1]
    gap_before = gaps_before(dates, first) if detect_gaps else np.zeros(len(codes), dtype=np.int64)

    result = spc.xmr(
        values,
        codes,
        phase_start=phase_start,
        gap_before=gap_before > 0,
        fix_after=fix_after,
        screen=screen,
        constant=constant,
        shift_length=shift_length,
        trend_length=trend_length,
        two_in_three_beyond_process=two_in_three_beyond_process,
        improvement=improvement,
        target=target,
        min_points=min_points,
        missing=missing,
    )

    # Text columns are categoricals built from integer codes: cheap for millions of rows.
    def per_series(labels: np.ndarray) -> pd.Categorical:
        label_codes, names = pd.factorize(labels)
        return pd.Categorical.from_codes(label_codes[codes] if len(codes) else [], categories=names)

    out: dict[str, Any] = {}
    if facet is not None:
        out[facet] = pd.Categorical.from_codes(codes, categories=facet_names)
    out[date] = dates
    out[value] = values
    out.update(
        phase=result.phase,
        mean=result.mean,
        upper=result.upper,
        lower=result.lower,
        near_upper=result.near_upper,
        near_lower=result.near_lower,
        moving_range=result.moving_range,
        rule=pd.Categorical.from_codes(result.rule_code, categories=("", *spc.RULES)),
        point_type=pd.Categorical.from_codes(result.point_type_code, categories=spc.POINT_TYPES),
        variation_icon=per_series(result.variation_icon),
        assurance_icon=per_series(result.assurance_icon),
        short_series=result.short_phase,
        gap_before=gap_before,
    )
    table = pd.DataFrame(out)
    table.attrs["facet"] = facet
    table.attrs["source"] = source
    return table


def series_chart(dates, values, improvement: spc.Improvement = "increase") -> dict[str, np.ndarray]:
    """The XmR chart of one regular series already in date order, with no checks (for figures read from
    the store, e.g. a profile page): per point the mean, process limits and point type, and the series'
    variation icon and short-series warning. The same kernel and gap rule as :func:`spc_table`."""
    dates = np.asarray(dates, dtype="datetime64[ns]")
    values = np.asarray(values, dtype=float)
    months = dates.astype("datetime64[M]")
    if len(dates) > 1 and bool(np.all(months.astype("datetime64[ns]") == dates)):  # monthly, on the 1st
        step = np.diff(months.astype(np.int64))
        steps, counts = np.unique(step, return_counts=True)
        period = steps[np.argmax(counts)]  # the most common step, ties to the shortest, as gaps_before
        gaps = np.r_[0, np.maximum(step // period - 1, 0)] if period > 0 else None
    else:
        gaps = None
    if gaps is None:
        first = np.zeros(len(values), dtype=bool)
        first[:1] = True
        gaps = gaps_before(dates, first)
    result = spc.xmr(
        values, np.zeros(len(values), dtype=np.int64), gap_before=gaps > 0, improvement=improvement
    )
    return {
        "period": dates,
        "value": values,
        "mean": result.mean,
        "upper": result.upper,
        "lower": result.lower,
        "point_type": result.point_type,
        "variation_icon": result.variation_icon,
        "short_series": result.short_phase,
    }


def _parse_rebase(rebase: Sequence[Any], source: str) -> np.ndarray:
    """Rebase dates as a sorted datetime64[ns] array; every unparseable one is reported."""
    parsed = pd.to_datetime(pd.Series(list(rebase), dtype=object), errors="coerce")
    bad = [str(r) for r, p in zip(rebase, parsed, strict=True) if pd.isna(p)]
    if bad:
        raise InputError([Problem(source, None, "rebase", f"not a date: {b!r}") for b in bad])
    return np.sort(parsed.to_numpy(dtype="datetime64[ns]"))


def gaps_before(dates: np.ndarray, series_first: np.ndarray) -> np.ndarray:
    """Number of periods missing just before each point of regular series sorted by series then date.

    The period is the most common step between consecutive dates within a series (ties: the shortest),
    counted in calendar months when all dates share a day of the month or are all month ends, else in
    nanoseconds. A step of k periods means k − 1 missing periods; steps that are not whole multiples are
    rounded down (an irregular series shows no gaps where none is certain).
    """
    dates = np.asarray(dates, dtype="datetime64[ns]")
    out = np.zeros(len(dates), dtype=np.int64)
    inside = ~np.asarray(series_first, dtype=bool)
    inside[:1] = False
    if not inside.any():
        return out
    index = pd.DatetimeIndex(dates)
    same_day = index.day.nunique() == 1 and index.day[0] <= 28
    monthly = bool((index.normalize() == index).all()) and (same_day or bool(index.is_month_end.all()))
    if monthly:
        position = (index.year.to_numpy(np.int64) * 12 + index.month.to_numpy(np.int64)).astype(np.int64)
    else:
        position = dates.astype(np.int64)
    step = np.zeros(len(dates), dtype=np.int64)
    step[1:] = position[1:] - position[:-1]
    steps, counts = np.unique(step[inside], return_counts=True)
    period = steps[np.argmax(counts)]  # np.unique sorts, so ties go to the shortest step
    if period <= 0:
        return out
    out[inside] = np.maximum(step[inside] // period - 1, 0)
    return out


def spc_summary(table: pd.DataFrame, facet: str | None = None) -> dict[str, Any]:
    """Counts for a report: series, points, missing values, gaps, special-cause points by rule and type,
    series with a short-series warning, and series by variation and assurance icon."""
    facet = facet if facet is not None else table.attrs.get("facet")
    if facet is not None and facet in table.columns:
        series_key = table[facet]
    else:
        series_key = pd.Series(np.zeros(len(table), dtype=np.int64), index=table.index)
    by_series = table.groupby(series_key, sort=False, observed=True)
    last = by_series.tail(1)
    special = table[table["rule"] != ""]
    return {
        "series": int(series_key.nunique()),
        "points": len(table),
        "missing_values": int((table["point_type"] == "missing").sum()),
        "gaps": int((table["gap_before"] > 0).sum()),
        "missing_periods": int(table["gap_before"].sum()),
        "special_cause_points": len(special),
        "by_rule": _counts(special["rule"]),
        "by_point_type": _counts(special["point_type"]),
        "short_series": int(by_series["short_series"].any().sum()),
        "variation_icons": _counts(last["variation_icon"]),
        "assurance_icons": _counts(last["assurance_icon"]),
    }


def _counts(column: pd.Series) -> dict[str, int]:
    """Non-zero counts of each non-empty label, most frequent first."""
    return {str(k): int(n) for k, n in column.value_counts().items() if n > 0 and str(k) != ""}
