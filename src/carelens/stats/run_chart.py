"""Run charts with the Anhøj rules, for many series at once (docs/methods/spc.md).

Reference behaviour: qicharts2 0.7.5 (Jacob Anhøj, GPL-3), whose ``runs.analysis`` every chart shares. A run
chart draws each series around its median and asks two questions of the points that are not on it (the
*useful* observations, n of them):

- **unusually long run**: a run is a sequence of consecutive useful points on the same side of the median
  (points on the median neither break nor extend it); the longest run signals when it exceeds
  ``round(log2(n)) + 3`` (Schilling 2012);
- **unusually few crossings**: a crossing is a change of side between consecutive useful points
  (runs − 1); it signals when below the 5% quantile of a binomial(n − 1, ½) (Chen 2010).

Both limits depend on n, so they adapt to the length of the series. Missing values are left out, as
qicharts2 does (they neither break nor extend a run). Per phase (a series, or the part after a rebase) the
centre line is the median of the first ``fix_after`` observed values (qicharts2's ``freeze``), and every
observed point of the phase is judged against it.

The same analysis, with the chart's own centre line, is reported by the attribute and rare-event charts
(:mod:`carelens.stats.control_charts`), as qicharts2 reports it for every chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from carelens.stats.groups import Groups, running_count
from carelens.stats.spc import (
    POINT_TYPES,
    Improvement,
    _point_flags,
    _run_lengths,
    baseline_points,
    check_series,
    improvement_and_target,
    sign_codes,
    variation_codes,
)

CROSSINGS_QUANTILE = 0.05
"""Fewer crossings than the 5% quantile of binomial(n − 1, ½) signal (Anhøj 2015)."""
LONGEST_RUN_ADDEND = 3
"""A longest run above round(log2(n)) + 3 signals."""

_POINT_TYPE_NAMES = np.array(POINT_TYPES, dtype=object)
_VARIATION_NAMES = np.array(("", *POINT_TYPES), dtype=object)
_MISSING_TYPE = POINT_TYPES.index("missing")


def anhoej_limits(n_useful) -> tuple[np.ndarray, np.ndarray]:
    """The Anhøj limits for ``n_useful`` useful observations: the longest run allowed
    (round(log2 n) + 3) and the fewest crossings allowed (the 5% binomial(n − 1, ½) quantile).

    n = 24 gives 8 and 8, as qicharts2's documentation states. −1 where n is 0 (nothing to judge)."""
    n = np.asarray(n_useful, dtype=np.int64)
    with np.errstate(divide="ignore"):
        longest = np.where(n > 0, np.round(np.log2(np.maximum(n, 1))) + LONGEST_RUN_ADDEND, -1)
    crossings = np.where(n > 0, stats.binom.ppf(CROSSINGS_QUANTILE, np.maximum(n - 1, 0), 0.5), -1)
    return longest.astype(np.int64), crossings.astype(np.int64)


@dataclass(frozen=True)
class RunsAnalysis:
    """The Anhøj runs analysis of each phase (arrays indexed by phase) and of each point."""

    n_observed: np.ndarray
    n_useful: np.ndarray
    longest_run: np.ndarray
    """Longest run of the phase (0 when it has no useful point)."""
    longest_run_max: np.ndarray
    n_crossings: np.ndarray
    n_crossings_min: np.ndarray
    long_run_signal: np.ndarray
    few_crossings_signal: np.ndarray
    # per point
    side: np.ndarray
    """+1 above, −1 below the centre, 0 on it or missing."""
    run_length: np.ndarray
    """Length of the run the point belongs to (0 for points that are not useful)."""
    long_run: np.ndarray
    """True where the point is in a run longer than its phase's ``longest_run_max``."""

    @property
    def runs_signal(self) -> np.ndarray:
        """Per phase: either rule signals (qicharts2's ``runs.signal``)."""
        return self.long_run_signal | self.few_crossings_signal


def runs_analysis(y: np.ndarray, centre: np.ndarray, phase: np.ndarray, n_phase: int) -> RunsAnalysis:
    """Anhøj runs analysis of points sorted by phase, each against its own ``centre`` (per point)."""
    y = np.asarray(y, dtype=float)
    observed = ~np.isnan(y)
    side = sign_codes(y - centre)
    useful = np.flatnonzero(side != 0)
    useful_phase = phase[useful]
    useful_side = side[useful]
    new_run = np.ones(len(useful), dtype=bool)
    new_run[1:] = (useful_phase[1:] != useful_phase[:-1]) | (useful_side[1:] != useful_side[:-1])
    lengths = _run_lengths(new_run)

    n_observed = np.bincount(phase, weights=observed, minlength=n_phase).astype(np.int64)
    n_useful = np.bincount(useful_phase, minlength=n_phase)
    n_runs = np.bincount(useful_phase, weights=new_run, minlength=n_phase).astype(np.int64)
    longest = np.zeros(n_phase, dtype=np.int64)
    np.maximum.at(longest, useful_phase, lengths)
    crossings = np.maximum(n_runs - 1, 0)
    longest_max, crossings_min = anhoej_limits(n_useful)
    has_useful = n_useful > 0

    run_length = np.zeros(len(y), dtype=np.int64)
    run_length[useful] = lengths
    return RunsAnalysis(
        n_observed=n_observed,
        n_useful=n_useful,
        longest_run=longest,
        longest_run_max=longest_max,
        n_crossings=crossings,
        n_crossings_min=crossings_min,
        long_run_signal=has_useful & (longest > longest_max),
        few_crossings_signal=has_useful & (crossings < crossings_min),
        side=side,
        run_length=run_length,
        long_run=(run_length > longest_max[phase]) & (run_length > 0),
    )


def phase_medians(values: np.ndarray, phase: np.ndarray, phase_first: np.ndarray, n_phase: int) -> np.ndarray:
    """Median of the non-NaN values of each phase (points sorted by phase; NaN for an empty phase).

    Phases of similar length (the usual case: monthly series) are laid out as rows of a padded table and
    sorted row by row, a hundred times faster than sorting all points by (phase, value); very uneven phases
    fall back to that sort. Both interpolate as R's type 7 (the usual median), so they agree exactly."""
    n = len(values)
    if n == 0:
        return np.full(n_phase, np.nan)
    starts = np.flatnonzero(phase_first)
    lengths = np.diff(np.r_[starts, n])
    width = int(lengths.max())
    if n_phase * width > 4 * n + 4096:
        return Groups(phase, n_phase).quantile(values, 0.5)
    table = np.full((n_phase, width), np.nan)
    table[phase, np.arange(n) - starts[phase]] = values
    table.sort(axis=1)  # NaN last
    count = np.count_nonzero(~np.isnan(table), axis=1)
    rows = np.arange(n_phase)
    lo = np.maximum(count - 1, 0) // 2
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    x_lo, x_hi = table[rows, lo], table[rows, hi]
    with np.errstate(invalid="ignore"):
        median = np.where(count % 2 == 0, x_lo + 0.5 * (x_hi - x_lo), x_lo)
    return np.where(count > 0, median, np.nan)


@dataclass(frozen=True)
class RunChartResult:
    """Run chart per phase, point and series. Per-series arrays are indexed by series code."""

    phase_median: np.ndarray
    phase_index: np.ndarray
    series_first: np.ndarray
    runs: RunsAnalysis
    point_type_code: np.ndarray
    """Points in an unusually long run are special cause (improvement or concern by their side of the
    median and the improvement direction); others common cause; missing values ``"missing"``."""
    n_points: np.ndarray
    n_phases: np.ndarray
    runs_signal: np.ndarray
    """Per series: the Anhøj rules signal in its last phase."""
    variation_code: np.ndarray

    @property
    def median(self) -> np.ndarray:
        return self.phase_median[self.phase_index]

    @property
    def point_type(self) -> np.ndarray:
        return _POINT_TYPE_NAMES[self.point_type_code]

    @property
    def variation_icon(self) -> np.ndarray:
        return _VARIATION_NAMES[self.variation_code + 1]


def run_chart(
    values,
    series_codes,
    *,
    phase_start=None,
    fix_after: int | None = None,
    improvement: Improvement | list[str] = "increase",
) -> RunChartResult:
    """Run charts with the Anhøj rules for many series at once.

    ``values``: one float per point (NaN = missing), sorted by series then period; ``series_codes``:
    integer ≥ 0 per point, each series one contiguous block; ``phase_start``: True where a rebase starts a
    new phase; ``fix_after``: the median from the first N observed values of each phase (qicharts2's
    ``freeze``); ``improvement``: one direction for all series or one per series.
    """
    if fix_after is not None and fix_after < 1:
        raise ValueError("fix_after must be at least 1")
    y, codes, series_first, n_series = check_series(values, series_codes)
    n = len(y)
    imp_sign, _ = improvement_and_target(improvement, None, n_series)
    new_phase = series_first | _point_flags(phase_start, n, "phase_start")
    phase = running_count(new_phase) - 1
    n_phase = int(phase[-1]) + 1 if n else 0
    observed = ~np.isnan(y)
    baseline = baseline_points(observed, new_phase, fix_after)
    median = phase_medians(np.where(baseline, y, np.nan), phase, new_phase, n_phase)
    runs = runs_analysis(y, median[phase], phase, n_phase)

    direction = np.where(runs.long_run, runs.side, 0)
    point_imp = imp_sign[codes]
    type_code = np.where(
        point_imp == 0,
        np.where(direction > 0, 3, 4),
        np.where(direction * point_imp > 0, 1, 2),
    ).astype(np.int8)
    type_code[~runs.long_run] = 0
    type_code[~observed] = _MISSING_TYPE

    series_of_phase = codes[new_phase]
    last_phase = np.full(n_series, -1, dtype=np.int64)
    last_phase[series_of_phase] = np.arange(n_phase)  # later phases overwrite earlier ones
    has_points = last_phase >= 0
    signal = np.zeros(n_series, dtype=bool)
    signal[has_points] = runs.runs_signal[last_phase[has_points]]
    return RunChartResult(
        phase_median=median,
        phase_index=phase,
        series_first=series_first,
        runs=runs,
        point_type_code=type_code,
        n_points=np.bincount(codes, minlength=n_series),
        n_phases=np.bincount(series_of_phase, minlength=n_series),
        runs_signal=signal,
        variation_code=variation_codes(type_code, observed, codes, series_first, n_series),
    )
