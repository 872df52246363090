"""Risk-adjusted CUSUM tables: validate a user's patient records, run the CUSUM kernel per series, return
one row per record and a summary per series.

This is the service behind ``carelens cusum``. The statistics are in :mod:`carelens.stats.cusum`
(docs/methods/cusum.md); this layer checks the input (every bad row reported with its file, row and
column), orders the records of each series (by a date column when given, else as in the file), sets the
thresholds and lays out the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.stats import cusum
from carelens.tables import MAX_PROBLEMS_PER_CHECK, Column, validate

DEFAULT_FALSE_ALARM_RATE = 0.05
"""When no threshold is given: each series' threshold gives it a 5% chance of any false alarm over its
records."""
RECORD_COLUMNS = (
    "row",
    "weight",
    "statistic",
    "threshold",
    "signal",
    "restart",
    "observed",
    "expected",
)
"""Result columns after the series, date, outcome and risk columns (which keep the input's names)."""
REASON_LENGTH = 200
"""A flag's reason is stored in at most this many characters."""


def cusum_table(
    frame: pd.DataFrame,
    *,
    series: str,
    outcome: str,
    risk: str,
    date: str | None = None,
    odds_ratio: float = cusum.DEFAULT_ODDS_RATIO,
    threshold: float | None = None,
    false_alarm_rate: float | None = None,
    horizon: int | None = None,
    n_simulations: int = cusum.DEFAULT_SIMULATIONS,
    seed: int = cusum.DEFAULT_SEED,
    reset: bool = True,
    source: str | None = None,
) -> pd.DataFrame:
    """One row per record, sorted by series then date (file order within a date, or throughout when no
    ``date``): the input row, Steiner's score, the CUSUM statistic, the series' threshold, the signal, where
    the chart (re)started, and the deaths and expected deaths since it did.

    The threshold is ``threshold`` for every series, or each series' own from ``false_alarm_rate`` (default
    :data:`DEFAULT_FALSE_ALARM_RATE` when neither is given) by simulation over its records
    (:func:`carelens.stats.cusum.cusum_threshold`, reproducible with ``seed``). Raises :class:`InputError`
    for a missing column, an outcome other than 0 or 1, a risk outside [0, 1], a missing series or a bad
    date (each named by file, row and column), and for options out of range (named by option).
    """
    source = source or frame.attrs.get("source", "input")
    alpha = _check_options(odds_ratio, threshold, false_alarm_rate, horizon, n_simulations)
    columns = [Column(series, "text"), Column(outcome, "count"), Column(risk, "number", min_value=0)]
    if date is not None:
        columns.append(Column(date, "date"))
    problems: list[Problem] = []
    checked: dict[str, np.ndarray] = {}
    try:
        checked = validate(frame, columns, source=source)
    except InputError as exc:
        problems += exc.problems
    for name, reason in ((outcome, "outcome must be 0 or 1"), (risk, "risk must be a probability <= 1")):
        if name in checked:
            values = checked[name]
            problems += [
                Problem(source, int(i) + 1, name, f"{reason}, got {values[i]:g}")
                for i in np.flatnonzero(values > 1)[:MAX_PROBLEMS_PER_CHECK]
            ]
    if problems:
        raise InputError(problems)

    series_codes, series_names = pd.factorize(checked[series], sort=True)
    if date is not None:
        date_codes = pd.factorize(checked[date], sort=True)[0]
        order = np.lexsort((np.arange(len(frame)), date_codes, series_codes))
    else:
        order = np.argsort(series_codes, kind="stable")
    codes = series_codes[order].astype(np.int64)
    y, p = checked[outcome][order], checked[risk][order]
    if threshold is None:
        h = cusum.cusum_threshold(
            p,
            codes,
            false_alarm_rate=alpha,
            odds_ratio=odds_ratio,
            horizon=horizon,
            n_simulations=n_simulations,
            seed=seed,
        )
    else:
        h = np.full(len(series_names), float(threshold))
    result = cusum.risk_adjusted_cusum(y, p, codes, threshold=h, odds_ratio=odds_ratio, reset=reset)

    out: dict[str, Any] = {series: pd.Categorical.from_codes(codes, categories=series_names)}
    if date is not None:
        out[date] = checked[date][order]
    out |= {
        outcome: y.astype(np.int64),
        risk: p,
        "row": order + 1,
        "weight": result.weight,
        "statistic": result.statistic,
        "threshold": h[codes],
        "signal": result.signal,
        "restart": result.restart,
        "observed": result.observed.astype(np.int64),
        "expected": result.expected,
    }
    table = pd.DataFrame(out)
    table.attrs |= {
        "source": source,
        "series": series,
        "date": date,
        "odds_ratio": odds_ratio,
        "false_alarm_rate": None if threshold is not None else alpha,
        "reset": reset,
    }
    return table


def _check_options(odds_ratio, threshold, false_alarm_rate, horizon, n_simulations) -> float:
    """The false-alarm rate to use; options out of range are bad input naming the option."""
    problems = []
    if not (odds_ratio > 0 and odds_ratio != 1 and np.isfinite(odds_ratio)):
        problems.append(Problem("odds_ratio", None, None, f"must be positive and not 1, got {odds_ratio:g}"))
    if threshold is not None and false_alarm_rate is not None:
        problems.append(Problem("threshold", None, None, "give a threshold or a false-alarm rate, not both"))
    if threshold is not None and not (threshold > 0 and np.isfinite(threshold)):
        problems.append(Problem("threshold", None, None, f"must be greater than zero, got {threshold:g}"))
    alpha = DEFAULT_FALSE_ALARM_RATE if false_alarm_rate is None else false_alarm_rate
    if not 0 < alpha < 1:
        problems.append(Problem("false_alarm_rate", None, None, f"must be between 0 and 1, got {alpha:g}"))
    elif threshold is None and n_simulations * alpha < cusum.MIN_EXCEEDANCES:
        needed = int(np.ceil(cusum.MIN_EXCEEDANCES / alpha))
        problems.append(
            Problem(
                "simulations",
                None,
                None,
                f"at least {needed:,} are needed for a false-alarm rate of {alpha:g}",
            )
        )
    if horizon is not None and horizon < 1:
        problems.append(Problem("horizon", None, None, f"must be at least 1 record, got {horizon}"))
    if problems:
        raise InputError(problems)
    return alpha


@dataclass(frozen=True)
class CusumSummary:
    """Counts for a report, and one row per series that signalled."""

    series: int
    records: int
    deaths: int
    expected: float
    signals: int
    series_signalled: int
    threshold_min: float
    threshold_max: float
    signalled: pd.DataFrame
    """Per signalling series: records, deaths, expected, signals, the first signal's input row (and date),
    and the statistic, threshold, deaths and expected deaths at its last record; most signals first."""


def summarise_cusum(table: pd.DataFrame) -> CusumSummary:
    """Summarise a :func:`cusum_table` result."""
    series, date = table.attrs["series"], table.attrs.get("date")
    outcome, risk = table.columns[1 + (date is not None)], table.columns[2 + (date is not None)]
    grouped = table.groupby(series, sort=False, observed=True)
    per_series = grouped.agg(
        records=("row", "size"),
        deaths=(outcome, "sum"),
        expected=(risk, "sum"),
        signals=("signal", "sum"),
        statistic=("statistic", "last"),
        threshold=("threshold", "last"),
        observed_since_restart=("observed", "last"),
        expected_since_restart=("expected", "last"),
    )
    first = table[table["signal"].to_numpy(dtype=bool)].groupby(series, sort=False, observed=True).head(1)
    first = first.set_index(series)[["row", *([date] if date else [])]].add_prefix("first_signal_")
    signalled = per_series[per_series["signals"] > 0].join(first)
    signalled = signalled.sort_values(["signals", "statistic"], ascending=False, kind="stable").reset_index()
    thresholds = table["threshold"].to_numpy(dtype=float)
    return CusumSummary(
        series=len(per_series),
        records=len(table),
        deaths=int(table[outcome].sum()),
        expected=float(table[risk].sum()),
        signals=int(table["signal"].sum()),
        series_signalled=len(signalled),
        threshold_min=float(thresholds.min()) if len(thresholds) else float("nan"),
        threshold_max=float(thresholds.max()) if len(thresholds) else float("nan"),
        signalled=signalled,
    )


# -- the monitoring pass's CUSUM alert ------------------------------------------------------------------


def cusum_alerts(
    inputs,
    comparisons: dict,
    settings,
    flags: pd.DataFrame,
    period_from=None,
    period_to=None,
) -> tuple[pd.DataFrame, list[str]]:
    """The CUSUM alert step of a monitoring pass, once after every indicator is assessed (whatever the
    engine): for each indicator whose definition declares a CUSUM alert, a CUSUM of each organisation's
    observed against expected counts per period (:func:`carelens.stats.cusum.count_cusum`) with its own
    threshold for the alert's false-alarm rate over its periods. A signal among the indicator's latest
    ``spc.latest_points`` periods makes a scored flag (no evidence of risk, or risk) an elevated risk whose
    reason gives the observed and expected counts since the chart last restarted, the statistic, the
    threshold and the false-alarm rate (docs/methods/cusum.md).

    Returns the flags (unchanged when no indicator declares an alert) and digests of each alerting
    indicator's CUSUM figures, for the pass's results digest (empty when none declares one)."""
    from carelens.model.data_quality import implausible_zero
    from carelens.monitor.engines import frame_digest  # the digest every part of a pass uses
    from carelens.monitor.kernel import FLAG_LABELS

    ids = sorted(k for k, spec in comparisons.items() if spec.cusum is not None)
    ids = [k for k in ids if k in set(flags["indicator_id"].astype(str))]
    if not ids:
        return flags, []
    observations = inputs.reader.read(ids, period_from, period_to)
    flags = flags.assign(reason=flags["reason"].astype(object), flag=flags["flag"].astype(object))
    digests = []
    for indicator_id in ids:
        rows = observations[observations["indicator_id"].astype(str) == indicator_id]
        spec = comparisons[indicator_id]
        # a figure failing a data-quality check is no count at all (docs/methods/data-quality.md)
        rows = rows[~implausible_zero(rows["numerator"], rows["denominator"], spec.implausible_zero_above)]
        figures = indicator_cusum(rows, spec.cusum, settings.spc_latest_points)
        digests.append(frame_digest(figures))
        alerting = figures[figures["alert"]]
        at = flags["indicator_id"].astype(str).eq(indicator_id) & flags["org_code"].astype(str).isin(
            alerting["org_code"]
        )
        at &= flags["flag_code"].isin([0, 1])
        reasons = alerting.set_index("org_code")["explanation"]
        flags.loc[at, "reason"] = flags.loc[at, "org_code"].astype(str).map(reasons).to_numpy()
        flags.loc[at, "flag_code"] = 2
        flags.loc[at, "flag"] = FLAG_LABELS[2]
    return flags.astype({"reason": "category", "flag": "category"}), digests  # as the kernel gives them


def indicator_cusum(observations: pd.DataFrame, alert, latest_points: int) -> pd.DataFrame:
    """Per organisation, the CUSUM of one indicator's observed against expected counts per period: its
    periods, the statistic and threshold at its last signal in the latest ``latest_points`` periods of the
    indicator (or at its last period), whether that is an alert, and the explanation. Periods without a
    whole observed count and a positive expected count are left out."""
    o = pd.to_numeric(observations["numerator"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    e = pd.to_numeric(observations["expected"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(o) & (o >= 0) & (o == np.round(o)) & np.isfinite(e) & (e > 0)
    rows = observations.loc[usable, ["org_code", "period"]].reset_index(drop=True)
    o, e = o[usable], e[usable]
    org_codes, orgs = pd.factorize(rows["org_code"].astype(str), sort=True)
    periods = pd.to_datetime(rows["period"]).to_numpy(dtype="datetime64[ns]")
    order = np.lexsort((periods, org_codes))
    codes, periods, o, e = org_codes[order].astype(np.int64), periods[order], o[order], e[order]
    alpha = alert.false_alarm_rate
    simulations = max(cusum.DEFAULT_SIMULATIONS, int(np.ceil(cusum.MIN_EXCEEDANCES / alpha)))
    h = cusum.count_cusum_threshold(
        e, codes, false_alarm_rate=alpha, rate_ratio=alert.odds_ratio, n_simulations=simulations
    )
    result = cusum.count_cusum(o, e, codes, threshold=h, rate_ratio=alert.odds_ratio, reset=alert.reset)
    distinct = np.unique(periods)
    recent = (
        periods >= distinct[-min(latest_points, len(distinct))] if len(distinct) else periods.astype(bool)
    )
    n = len(o)
    index = np.arange(n)
    last = np.r_[np.flatnonzero(np.diff(codes)), n - 1] if n else index
    # the row reported per organisation: its last recent signal, else its last period
    pick = last.copy()
    signalled = np.flatnonzero(result.signal & recent)
    pick[codes[signalled]] = signalled  # later signals overwrite earlier ones
    started = np.maximum.accumulate(np.where(result.restart, index, 0))[pick] if n else pick
    observed, expected = result.observed[pick], result.expected[pick]
    alarm = result.signal[pick] & recent[pick]
    day = pd.DatetimeIndex(periods)
    explanation = [
        f"CUSUM alert at {day[i]:%Y-%m}: {observed[j]:,.0f} observed where {expected[j]:,.1f} were expected "
        f"since {day[started[j]]:%Y-%m}; statistic {result.statistic[i]:.2f} reached the threshold "
        f"{h[codes[i]]:.2f} (false-alarm rate {alpha:g} over {result.n_records[codes[i]]} periods, "
        f"rate x{alert.odds_ratio:g})"
        if alarm[j]
        else ""
        for j, i in enumerate(pick)
    ]
    explanation = [text[:REASON_LENGTH] for text in explanation]
    return pd.DataFrame(
        {
            "org_code": np.asarray(orgs, dtype=object)[codes[pick]],
            "period": periods[pick],
            "periods": result.n_records[codes[pick]],
            "observed": observed,
            "expected": expected,
            "statistic": result.statistic[pick],
            "threshold": h[codes[pick]],
            "alert": alarm,
            "explanation": explanation,
        }
    )
