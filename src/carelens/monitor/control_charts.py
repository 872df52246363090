"""Control-chart tables: validate a user's time series, run a chart kernel, return one row per point.

This is the service behind ``carelens spc``. The statistics are in :mod:`carelens.stats.spc` (XmR),
:mod:`carelens.stats.run_chart` (run charts) and :mod:`carelens.stats.control_charts` (p, p′, u, u′, c, t,
g); this layer checks the input (every bad row reported with its file, row and column), sorts by facet then date, finds
rebase points (dates for every series, or flags per series) and gaps in regular series, takes each
series' target, and lays out the result (docs/methods/spc.md, "On the command line").

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
from carelens.stats import control_charts, run_chart, spc
from carelens.tables import MAX_PROBLEMS_PER_CHECK, Column, check_unique, not_above_problems, validate

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


RUNS_COLUMNS = ("useful", "longest_run", "longest_run_max", "crossings", "crossings_min", "runs_signal")
"""The Anhøj runs analysis of the point's phase (run, p, p′, u, u′, c, t and g charts)."""
RUN_COLUMNS = (
    "phase",
    "median",
    "run_length",
    "rule",
    "point_type",
    "variation_icon",
    *RUNS_COLUMNS,
    "gap_before",
)
"""Result columns of a run chart after the facet, date and value columns."""
CHART_TITLES = {
    "xmr": "XmR",
    "run": "run chart (Anhøj rules)",
    "p": "p chart",
    "pp": "p′ chart (Laney)",
    "u": "u chart",
    "up": "u′ chart (Laney)",
    "c": "c chart",
    "t": "t chart (time between events)",
    "g": "g chart (opportunities between events)",
}
CHARTS = tuple(CHART_TITLES)
"""Charts :func:`spc_table` draws: XmR, run, and the attribute and rare-event charts."""
LONG_RUN = "long_run"
"""The run chart's rule: the point is in an unusually long run (Anhøj)."""


def chart_columns(chart: str) -> tuple[str, ...]:
    """Result columns of ``chart`` after the facet, date, value (and denominator) columns."""
    if chart == "xmr":
        return POINT_COLUMNS
    if chart == "run":
        return RUN_COLUMNS
    plotted = {"p": ("proportion",), "pp": ("proportion",), "u": ("rate",), "up": ("rate",)}.get(chart, ())
    laney = ("sigma_z",) if chart in ("pp", "up") else ()
    return (
        *plotted,
        "phase",
        "centre",
        "upper",
        "lower",
        "near_upper",
        "near_lower",
        *laney,
        "rule",
        "point_type",
        "variation_icon",
        "assurance_icon",
        "short_series",
        *RUNS_COLUMNS,
        "gap_before",
    )


def spc_table(
    frame: pd.DataFrame,
    *,
    value: str,
    date: str,
    facet: str | None = None,
    chart: str = "xmr",
    denominator: str | None = None,
    improvement: spc.Improvement = "increase",
    target: float | None = None,
    target_column: str | None = None,
    rebase: Sequence[Any] = (),
    rebase_column: str | None = None,
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

    ``chart``: ``xmr`` (default), ``run`` (median and the Anhøj rules) or a p, p′ (``pp``), u, u′ (``up``),
    c, t or g chart (:mod:`carelens.stats.control_charts`; p and u charts need the ``denominator``
    column); the columns after the facet, date, value and denominator columns are
    :func:`chart_columns`. ``value`` is the count for p, u and c charts, the time between events for t
    and the opportunities between events for g.

    ``rebase``: dates at which every facet starts a new phase (the first point on or after each date);
    ``rebase_column``: a column of 0/1 (empty = 0) marking the points where their own facet starts a new
    phase. ``target``: one target for every facet; ``target_column``: a column holding each facet's target
    (the same on every row of the facet that has one; empty = none). Raises :class:`InputError` for a
    missing column, text in a number column, a bad date, a missing facet, a duplicate date within a facet,
    a count above its denominator (p charts) or a target that differs within a facet, each named by file
    (``source``), row and column. Other options are those of :func:`carelens.stats.spc.xmr`.
    """
    source = source or frame.attrs.get("source", "input")
    s = _series(
        frame, value, date, facet, chart, denominator, target, target_column, rebase, rebase_column, source
    )
    codes = s["codes"]
    gap_before = gaps_before(s["dates"], s["first"]) if detect_gaps else np.zeros(len(codes), dtype=np.int64)
    out: dict[str, Any] = {}
    if facet is not None:
        out[facet] = pd.Categorical.from_codes(codes, categories=s["facet_names"])
    out[date] = s["dates"]
    out[value] = s["values"]
    if denominator is not None:
        out[denominator] = s["denominator"]
    options = {
        "phase_start": s["phase_start"],
        "fix_after": fix_after,
        "improvement": improvement,
    }
    if chart == "run":
        out.update(_run_columns(s, options))
    else:
        options |= {
            "gap_before": gap_before > 0,
            "screen": screen,
            "shift_length": shift_length,
            "trend_length": trend_length,
            "two_in_three_beyond_process": two_in_three_beyond_process,
            "target": s["target"],
            "min_points": min_points,
            "missing": missing,
        }
        if chart == "xmr":
            out.update(_xmr_columns(s, options | {"constant": constant}))
        else:
            out.update(_control_chart_columns(chart, s, options))
    out["gap_before"] = gap_before
    table = pd.DataFrame(out)
    table.attrs["facet"] = facet
    table.attrs["source"] = source
    table.attrs["chart"] = chart
    return table


def _series(
    frame, value, date, facet, chart, denominator, target, target_column, rebase, rebase_column, source
):
    """Validate the input and sort it by facet then date: series codes, dates, values, denominators, phase
    starts and per-series targets (every problem reported together)."""
    if chart not in CHARTS:
        raise InputError(Problem("chart", None, None, f"must be one of {', '.join(CHARTS)}, got {chart!r}"))
    needs_denominator = chart in control_charts.WITH_DENOMINATOR
    if needs_denominator and denominator is None:
        raise InputError(
            Problem("denominator", None, None, f"a {CHART_TITLES[chart]} needs a denominator column")
        )
    if denominator is not None and not needs_denominator:
        raise InputError(
            Problem(
                "denominator", None, None, f"a {CHART_TITLES[chart]} takes no denominator (p, pp, u, up do)"
            )
        )
    if target is not None and target_column is not None:
        raise InputError(
            Problem("target", None, None, "give one target for every facet or a target column, not both")
        )
    if chart == "run" and (target is not None or target_column is not None):
        raise InputError(
            Problem("target", None, None, "a run chart has no limits, so no assurance icon: no target")
        )
    value_kind = {"p": "count", "pp": "count", "u": "count", "up": "count", "c": "count"}.get(chart, "number")
    columns = [
        Column(
            value,
            value_kind,
            allow_missing=True,
            positive=chart == "t",
            min_value=0 if chart == "g" else None,
        ),
        Column(date, "date"),
    ]
    if facet is not None:
        columns.append(Column(facet, "text"))
    if denominator is not None:
        columns.append(
            Column(
                denominator, "count" if chart in ("p", "pp") else "number", positive=True, allow_missing=True
            )
        )
    if target_column is not None:
        columns.append(Column(target_column, "number", allow_missing=True))
    if rebase_column is not None:
        columns.append(Column(rebase_column, "count", allow_missing=True))
    problems: list[Problem] = []
    checked: dict[str, np.ndarray] = {}
    try:
        checked = validate(frame, columns, source=source)
    except InputError as exc:
        problems += exc.problems
    if chart in ("p", "pp") and denominator is not None:
        problems += not_above_problems(frame, value, denominator, source)
    if rebase_column is not None and rebase_column in checked:
        flags = checked[rebase_column]
        problems += [
            Problem(
                source, int(i) + 1, rebase_column, f"must be 0 or 1 (1 starts a new phase), got {flags[i]:g}"
            )
            for i in np.flatnonzero(flags > 1)[:MAX_PROBLEMS_PER_CHECK]
        ]
    if problems:
        raise InputError(problems)
    dates = checked[date]
    facets = checked[facet] if facet is not None else None
    keys = pd.DataFrame({date: dates})
    if facet is not None:
        keys[facet] = facets
    check_unique(keys, [date] if facet is None else [date, facet], source=source)
    rebase_dates = _parse_rebase(rebase, source)

    if facets is not None:
        facet_codes, facet_names = pd.factorize(facets, sort=True)
    else:
        facet_codes, facet_names = np.zeros(len(dates), dtype=np.int64), np.array([], dtype=object)
    # (facet, date) pairs are unique, so one argsort of a packed integer key orders them (faster than lexsort)
    date_codes, date_values = pd.factorize(dates, sort=True)
    order = np.argsort(facet_codes.astype(np.int64) * max(len(date_values), 1) + date_codes)
    codes = facet_codes[order].astype(np.int64)
    dates = dates[order]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    epoch = np.searchsorted(rebase_dates, dates, side="right")
    phase_start = first.copy()
    phase_start[1:] |= epoch[1:] != epoch[:-1]
    if rebase_column is not None:
        phase_start |= checked[rebase_column][order] == 1
    n_series = len(facet_names) if facet is not None else int(len(codes) > 0)
    series_target = target
    if target_column is not None:
        series_target = _series_targets(
            checked[target_column][order], codes, order, n_series, target_column, source
        )
    return {
        "codes": codes,
        "facet_names": facet_names,
        "dates": dates,
        "first": first,
        "values": checked[value][order],
        "denominator": checked[denominator][order] if denominator is not None else None,
        "phase_start": phase_start,
        "target": series_target,
    }


def _series_targets(targets, codes, order, n_series, column, source) -> np.ndarray:
    """Each series' target from a column sorted like the points: the one value given on its rows (NaN when
    none); a second, different value is reported on its row."""
    given = ~np.isnan(targets)
    out = np.full(n_series, np.nan)
    out[codes[given][::-1]] = targets[given][::-1]  # the first value given in each series
    differs = given & (targets != out[codes])
    if differs.any():
        first_row = np.full(n_series, -1, dtype=np.int64)
        first_given = np.flatnonzero(given)[::-1]
        first_row[codes[first_given]] = order[first_given]
        raise InputError(
            [
                Problem(
                    source,
                    int(order[i]) + 1,
                    column,
                    f"target {targets[i]:g} differs from {out[codes[i]]:g} on row {first_row[codes[i]] + 1} "
                    "of the same series (one target per series)",
                )
                for i in np.flatnonzero(differs)[:MAX_PROBLEMS_PER_CHECK]
            ]
        )
    return out


def _per_series(labels: np.ndarray, codes: np.ndarray) -> pd.Categorical:
    """Per-series labels spread to the points as a categorical (cheap for millions of rows)."""
    label_codes, names = pd.factorize(labels)
    return pd.Categorical.from_codes(label_codes[codes] if len(codes) else [], categories=names)


def _xmr_columns(s: dict, options: dict) -> dict[str, Any]:
    result = spc.xmr(s["values"], s["codes"], **options)
    return {
        "phase": result.phase,
        "mean": result.mean,
        "upper": result.upper,
        "lower": result.lower,
        "near_upper": result.near_upper,
        "near_lower": result.near_lower,
        "moving_range": result.moving_range,
        "rule": pd.Categorical.from_codes(result.rule_code, categories=("", *spc.RULES)),
        "point_type": pd.Categorical.from_codes(result.point_type_code, categories=spc.POINT_TYPES),
        "variation_icon": _per_series(result.variation_icon, s["codes"]),
        "assurance_icon": _per_series(result.assurance_icon, s["codes"]),
        "short_series": result.short_phase,
    }


def _runs_columns(runs, phase: np.ndarray) -> dict[str, Any]:
    """The Anhøj runs analysis of each point's phase (−1 limits where a phase has no useful point)."""
    return {
        "useful": runs.n_useful[phase],
        "longest_run": runs.longest_run[phase],
        "longest_run_max": runs.longest_run_max[phase],
        "crossings": runs.n_crossings[phase],
        "crossings_min": runs.n_crossings_min[phase],
        "runs_signal": runs.runs_signal[phase],
    }


def _phase_in_series(phase_index: np.ndarray, series_first: np.ndarray) -> np.ndarray:
    """Phase number within the series, from 0."""
    return (
        phase_index - np.maximum.accumulate(np.where(series_first, phase_index, 0))
        if len(phase_index)
        else phase_index
    )


def _run_columns(s: dict, options: dict) -> dict[str, Any]:
    result = run_chart.run_chart(s["values"], s["codes"], **options)
    phase = result.phase_index
    return {
        "phase": _phase_in_series(phase, result.series_first),
        "median": result.median,
        "run_length": result.runs.run_length,
        "rule": pd.Categorical.from_codes(result.runs.long_run.astype(np.int8), categories=("", LONG_RUN)),
        "point_type": pd.Categorical.from_codes(result.point_type_code, categories=spc.POINT_TYPES),
        "variation_icon": _per_series(result.variation_icon, s["codes"]),
        **_runs_columns(result.runs, phase),
    }


def _control_chart_columns(chart: str, s: dict, options: dict) -> dict[str, Any]:
    result = control_charts.control_chart(chart, s["values"], s["codes"], s["denominator"], **options)
    phase = result.phase_index
    out: dict[str, Any] = {}
    if chart in control_charts.WITH_DENOMINATOR:
        out["proportion" if chart in ("p", "pp") else "rate"] = result.value
    out |= {
        "phase": _phase_in_series(phase, result.series_first),
        "centre": result.centre,
        "upper": result.upper,
        "lower": result.lower,
        "near_upper": result.near_upper,
        "near_lower": result.near_lower,
    }
    if chart in ("pp", "up"):
        out["sigma_z"] = result.phase_sigma_z[phase]
    out |= {
        "rule": pd.Categorical.from_codes(result.rule_code, categories=("", *spc.RULES)),
        "point_type": pd.Categorical.from_codes(result.point_type_code, categories=spc.POINT_TYPES),
        "variation_icon": _per_series(result.variation_icon, s["codes"]),
        "assurance_icon": _per_series(result.assurance_icon, s["codes"]),
        "short_series": result.short_phase,
        **_runs_columns(result.runs, phase),
    }
    return out


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
    series with a short-series warning, and series by variation and assurance icon; for charts with the
    Anhøj runs analysis, ``runs_signals`` counts the series whose last phase signals."""
    facet = facet if facet is not None else table.attrs.get("facet")
    if facet is not None and facet in table.columns:
        series_key = table[facet]
    else:
        series_key = pd.Series(np.zeros(len(table), dtype=np.int64), index=table.index)
    by_series = table.groupby(series_key, sort=False, observed=True)
    last = by_series.tail(1)
    special = table[table["rule"] != ""]
    out: dict[str, Any] = {}
    if "runs_signal" in table.columns:  # run, attribute and rare-event charts: the Anhøj rules
        out["runs_signals"] = int(last["runs_signal"].sum())
    return out | {
        "series": int(series_key.nunique()),
        "points": len(table),
        "missing_values": int((table["point_type"] == "missing").sum()),
        "gaps": int((table["gap_before"] > 0).sum()),
        "missing_periods": int(table["gap_before"].sum()),
        "special_cause_points": len(special),
        "by_rule": _counts(special["rule"]),
        "by_point_type": _counts(special["point_type"]),
        "short_series": int(by_series["short_series"].any().sum()) if "short_series" in table.columns else 0,
        "variation_icons": _counts(last["variation_icon"]),
        "assurance_icons": _counts(last["assurance_icon"]) if "assurance_icon" in table.columns else {},
    }


def _counts(column: pd.Series) -> dict[str, int]:
    """Non-zero counts of each non-empty label, most frequent first."""
    return {str(k): int(n) for k, n in column.value_counts().items() if n > 0 and str(k) != ""}
