"""Statistical process control: XmR charts with the NHS "Making Data Count" rules (docs/methods/spc.md).

Reference behaviour: NHSRplotthedots 0.2.2 (MIT). One call handles many series at once: the input is one
long array of points sorted by series then period, each point carrying an integer series code. Every step
is a whole-array operation (cumulative sums, run lengths, ``bincount``), never a Python loop per series.
:func:`xmr_latest`, for the monitoring pass, gives the few figures per series it needs by compiled loops
(:mod:`carelens.stats.spc_loops`, one series at a time), to the last bit the same as :func:`xmr`'s.

Per phase (a series, or the part of it after a rebase point):

- baseline = the phase's first ``fix_after`` observed values (all of them when ``fix_after`` is None);
- mean = mean(baseline); moving ranges |y_i − y_{i−1}| between consecutive baseline points; M̄R their mean;
- screening (default on): moving ranges ≥ ``screen_limit``·M̄R are dropped once and M̄R recomputed;
- process limits mean ± ``constant``·M̄R; near limits mean ± ``near_fraction``·``constant``·M̄R.

Rules, each point against its phase's limits; no run or window crosses a phase boundary:

- astronomical: y > upper or y < lower (strict);
- shift: a run of ≥ ``shift_length`` consecutive points on one side of the mean (a point exactly on the mean
  breaks the run); every point of the run is marked;
- trend: ``trend_length`` points, i.e. ``trend_length``−1 consecutive strict increases (or decreases); a tie
  breaks it; every point of the run is marked. Its direction is the trend's, not the side of the mean;
- two-in-three: 3 consecutive points all on the same side of the mean of which ≥ 2 are beyond the near
  limit; only those points are marked. Points beyond the process limit count only when
  ``two_in_three_beyond_process`` is true (NHSRplotthedots: they do not).

The rule that fires is the first in ``precedence`` (default astronomical > trend > two-in-three > shift);
with the improvement direction it makes the point an improvement, a concern, or neutral high/low.

Missing values (NaN) and gaps. A missing value is left out of the mean and the moving ranges. With
``missing="break"`` (default) the moving range across it is not computed and it breaks every run and
window (shift, trend, two-in-three), as a missing period does: pass ``gap_before`` to say that periods are
missing before a point (it then breaks the same way). With ``missing="skip"`` missing values are dropped
and their neighbours are treated as consecutive (gaps are then ignored too). ``fix_after`` counts observed
values, so a missing value never takes a place in the baseline (NHSRplotthedots counts rows).
Missing points get point type ``"missing"``, no rule, and the limits of their phase.

Deviations from NHSRplotthedots, on purpose: a point that ends one trend and is followed by a tie takes the
direction of its own trend (the reference takes the sign of the tie, calling it decreasing); a series whose
limits cannot be computed (fewer than 2 baseline values) gets no assurance icon rather than
"inconsistent"; the short-phase warning counts the observed values in the baseline, not all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from carelens.stats.groups import Groups, running_count

RULES = ("astronomical", "trend", "two_in_three", "shift")
"""Rule names, in NHSRplotthedots' order of precedence."""

POINT_TYPES = (
    "common_cause",
    "special_cause_improvement",
    "special_cause_concern",
    "special_cause_neutral_high",
    "special_cause_neutral_low",
    "missing",
)
"""Point types; a series' variation icon is one of the first five."""

ASSURANCE_TYPES = ("", "consistent_pass", "consistent_fail", "inconsistent")
"""Assurance icons; ``""`` when there is no target, the improvement is neutral or limits are undefined."""

IMPROVEMENT_SIGN = {"increase": 1, "decrease": -1, "neutral": 0}

Improvement = Literal["increase", "decrease", "neutral"]
MissingMode = Literal["break", "skip"]

# Defaults (Making Data Count / NHSRplotthedots 0.2.2).
LIMIT_CONSTANT = 2.66
"""Process limits at mean ± 2.66·M̄R (3/d2 with d2 = 1.128 gives 2.6596: pass ``3 / 1.128`` for that)."""
NEAR_FRACTION = 2 / 3
"""Near ("2-sigma") limits at 2/3 of the process limit distance."""
SCREEN_LIMIT = 3.267
"""Moving ranges at or above 3.267·M̄R (the upper range limit, D4 for n = 2) are screened out."""
RUN_LENGTH = 7
"""Shift and trend length in points (some users prefer 6)."""
MIN_POINTS = 12
"""A phase whose limits rest on fewer values than this gets a short-series warning."""

_RULE_NAMES = np.array(("", *RULES), dtype=object)
_POINT_TYPE_NAMES = np.array(POINT_TYPES, dtype=object)
_ASSURANCE_NAMES = np.array(ASSURANCE_TYPES, dtype=object)
_VARIATION_NAMES = np.array(("", *POINT_TYPES), dtype=object)
_MISSING_TYPE = POINT_TYPES.index("missing")


@dataclass(frozen=True)
class XmrResult:
    """XmR limits, rules and icons. Per-point arrays align with the input; per-series arrays are indexed
    by series code (length ``max(code) + 1``; codes that never occur have ``n_points == 0``)."""

    # per phase (index: ``phase_index``), spread to points by the properties below
    phase_mean: np.ndarray
    phase_upper: np.ndarray
    phase_lower: np.ndarray
    phase_near_upper: np.ndarray
    phase_near_lower: np.ndarray
    phase_short: np.ndarray
    # per point
    phase_index: np.ndarray
    """The point's phase among all phases of all series (``phase`` counts within its series)."""
    series_first: np.ndarray
    """True at each series' first point."""
    moving_range: np.ndarray
    """|y_i − y_{i−1}| within a phase; NaN at a phase start and next to a missing value or gap."""
    moving_range_used: np.ndarray
    """True where the moving range went into M̄R (in the baseline and not screened out)."""
    missing: np.ndarray
    astronomical: np.ndarray
    trend: np.ndarray
    two_in_three: np.ndarray
    shift: np.ndarray
    rule_code: np.ndarray
    """The rule that fired after precedence, as int8: 0 for none, k for ``RULES[k - 1]`` (text: ``rule``)."""
    direction: np.ndarray
    """+1 high / −1 low for special-cause points (a trend's direction for trend points), else 0."""
    point_type_code: np.ndarray
    """Each point's type as int8, an index into ``POINT_TYPES`` (text: ``point_type``)."""
    # per series
    n_points: np.ndarray
    n_missing: np.ndarray
    n_phases: np.ndarray
    short_series: np.ndarray
    variation_code: np.ndarray
    """Type of the series' last observed point as an index into ``POINT_TYPES``, -1 if it has none."""
    assurance_code: np.ndarray
    """The series' assurance icon as an index into ``ASSURANCE_TYPES``."""

    # Per-point views of the per-phase figures, built only when asked for (a caller wanting each series'
    # last limits reads ``phase_upper[phase_index[last]]`` without spreading them over every point).
    @property
    def mean(self) -> np.ndarray:
        return self.phase_mean[self.phase_index]

    @property
    def upper(self) -> np.ndarray:
        return self.phase_upper[self.phase_index]

    @property
    def lower(self) -> np.ndarray:
        return self.phase_lower[self.phase_index]

    @property
    def near_upper(self) -> np.ndarray:
        return self.phase_near_upper[self.phase_index]

    @property
    def near_lower(self) -> np.ndarray:
        return self.phase_near_lower[self.phase_index]

    @property
    def short_phase(self) -> np.ndarray:
        """True where the point's phase has fewer than ``min_points`` observed baseline values."""
        return self.phase_short[self.phase_index]

    @property
    def phase(self) -> np.ndarray:
        """Phase number within the series, from 0 (a rebase point starts the next one)."""
        first_phase_of_series = np.maximum.accumulate(np.where(self.series_first, self.phase_index, 0))
        return self.phase_index - first_phase_of_series

    # Text views of the codes (object arrays of str), built only when asked for.
    @property
    def rule(self) -> np.ndarray:
        """The rule that fired after precedence, ``""`` for none."""
        return _RULE_NAMES[self.rule_code]

    @property
    def point_type(self) -> np.ndarray:
        return _POINT_TYPE_NAMES[self.point_type_code]

    @property
    def variation_icon(self) -> np.ndarray:
        """Type of the series' last observed point (``""`` if it has none)."""
        return _VARIATION_NAMES[self.variation_code + 1]

    @property
    def assurance_icon(self) -> np.ndarray:
        return _ASSURANCE_NAMES[self.assurance_code]


def _per_series(value, n_series: int, name: str, dtype) -> np.ndarray:
    """A scalar or one value per series, as an array of length ``n_series``."""
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n_series, arr, dtype=dtype)
    if arr.shape != (n_series,):
        raise ValueError(
            f"{name} must be a scalar or have one value per series ({n_series}), got {arr.shape}"
        )
    return arr


def _point_flags(flags, n: int, name: str) -> np.ndarray:
    if flags is None:
        return np.zeros(n, dtype=bool)
    flags = np.asarray(flags, dtype=bool)
    if flags.shape != (n,):
        raise ValueError(f"{name} must have one value per point ({n}), got {flags.shape}")
    return flags


def _previous(a: np.ndarray, fill) -> np.ndarray:
    """``a`` shifted one place later (element i holds a[i−1]); ``fill`` at position 0."""
    out = np.empty_like(a)
    out[1:] = a[:-1]
    if len(a):
        out[0] = fill
    return out


def _next(a: np.ndarray, fill, k: int = 1) -> np.ndarray:
    """``a`` shifted ``k`` places earlier (element i holds a[i+k]); ``fill`` past the end."""
    out = np.full_like(a, fill)
    if len(a) > k:
        out[:-k] = a[k:]
    return out


def sign_codes(x: np.ndarray) -> np.ndarray:
    """The sign of each value as int8: +1, −1, or 0 for zero and NaN (``np.sign`` then NaN to 0, the
    same numbers without its slow NaN handling)."""
    with np.errstate(invalid="ignore"):
        return (x > 0).view(np.int8) - (x < 0).view(np.int8)


def _run_lengths(new_run: np.ndarray) -> np.ndarray:
    """For each element, the length of the run it belongs to (a run starts where ``new_run`` is true)."""
    new_run = new_run.copy()
    if len(new_run):
        new_run[0] = True
    run_id = running_count(new_run) - 1
    return np.bincount(run_id)[run_id] if len(new_run) else np.zeros(0, dtype=np.int64)


# -- shared by every chart kernel (XmR here; run, attribute and rare-event charts in their modules) ------


def check_series(values, series_codes) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Values as floats, series codes as int64, the first-point-of-series mask and the number of codes.

    Refuses mismatched shapes, non-integer or negative codes and series split into several blocks."""
    y = np.asarray(values, dtype=float)
    codes = np.asarray(series_codes)
    n = len(y)
    if y.ndim != 1 or codes.shape != y.shape:
        raise ValueError("values and series_codes must be 1-d arrays of the same length")
    if n and not np.issubdtype(codes.dtype, np.integer):
        raise ValueError("series_codes must be integers")
    codes = codes.astype(np.int64, copy=False)
    if n and codes.min() < 0:
        raise ValueError("series_codes must be >= 0")
    n_series = int(codes.max()) + 1 if n else 0
    series_first = np.ones(n, dtype=bool)
    series_first[1:] = codes[1:] != codes[:-1]
    if np.count_nonzero(series_first) != np.count_nonzero(np.bincount(codes, minlength=n_series)):
        raise ValueError("each series must be one contiguous block of points (sort by series then period)")
    return y, codes, series_first, n_series


def check_rule_options(shift_length: int, trend_length: int, missing: str, precedence: Sequence[str]) -> None:
    if shift_length < 1 or trend_length < 2:
        raise ValueError("shift_length must be >= 1 and trend_length >= 2")
    if missing not in ("break", "skip"):
        raise ValueError("missing must be 'break' or 'skip'")
    unknown = [r for r in precedence if r not in RULES]
    if unknown or len(set(precedence)) != len(precedence):
        raise ValueError(f"precedence must list distinct rules from {RULES}, got {tuple(precedence)}")


def improvement_and_target(improvement, target, n_series: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-series improvement sign (+1, −1, 0) and target (NaN = none), from one value or one per series."""
    imp_names = np.atleast_1d(np.asarray(improvement, dtype=object))
    bad = sorted({str(s) for s in imp_names if s not in IMPROVEMENT_SIGN})
    if bad:
        raise ValueError(f"improvement must be one of {tuple(IMPROVEMENT_SIGN)}, got {bad}")
    imp_sign = np.array([IMPROVEMENT_SIGN[s] for s in imp_names], dtype=np.int8)
    if np.ndim(improvement) == 0:
        imp_sign = np.full(n_series, imp_sign[0], dtype=np.int8)
    elif imp_sign.shape != (n_series,):
        raise ValueError(f"improvement must be one string or one per series ({n_series})")
    return imp_sign, _per_series(np.nan if target is None else target, n_series, "target", float)


def baseline_points(observed: np.ndarray, phase_first: np.ndarray, fix_after: int | None) -> np.ndarray:
    """True for the first ``fix_after`` observed points of each phase (every observed point when None)."""
    if fix_after is None:
        return observed
    seen = running_count(observed)
    before_phase = np.maximum.accumulate(np.where(phase_first, seen - observed, 0)) if len(seen) else seen
    return observed & (seen - before_phase <= fix_after)


def series_last(series_first: np.ndarray) -> np.ndarray:
    """Index of each series' last point, in order of the series' blocks."""
    n = len(series_first)
    return np.r_[np.flatnonzero(series_first)[1:] - 1, n - 1] if n else np.zeros(0, dtype=np.int64)


def rule_flags(
    y: np.ndarray,
    link: np.ndarray,
    centre: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    near_upper: np.ndarray,
    near_lower: np.ndarray,
    *,
    shift_length: int,
    trend_length: int,
    two_in_three_beyond_process: bool,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The four Making Data Count rules on per-point centre and limits (which may vary point to point).

    ``link[i]``: point i directly follows point i−1 in the same phase (both observed, no gap); every run
    and window needs linked points. Returns the flags by rule name, each point's side of the centre
    (+1/−1/0) and each trend point's direction."""
    with np.errstate(invalid="ignore"):
        astronomical = (y > upper) | (y < lower)
        near = (y > near_upper) | (y < near_lower)
    side = sign_codes(y - centre)

    # Shift: runs of equal non-zero side; a break in ``link`` (phase start, missing, gap) starts a run.
    new_run = ~link | (side != _previous(side, 0))
    shift = (side != 0) & (_run_lengths(new_run) >= shift_length)

    # Trend: runs of equal non-zero step signs; step i joins points i−1 and i.
    step = np.where(link, sign_codes(y - _previous(y, np.nan)), np.int8(0))
    long_step = (step != 0) & (_run_lengths(step != _previous(step, 0)) >= trend_length - 1)
    long_step_after = _next(long_step, False)
    trend = long_step | long_step_after
    right = np.where(long_step_after, _next(step, 0), 0)
    trend_direction = np.where(right != 0, right, np.where(long_step, step, 0)).astype(np.int8)

    # Two-in-three: windows (i−2, i−1, i) linked, all on one side, with >= 2 beyond the near limit.
    counted = near if two_in_three_beyond_process else near & ~astronomical
    c = counted.astype(np.int8)
    window = (
        link
        & _previous(link, False)
        & (side != 0)
        & (side == _previous(side, 0))
        & (side == _previous(_previous(side, 0), 0))
        & (c + _previous(c, 0) + _previous(_previous(c, 0), 0) >= 2)
    )
    in_window = window | _next(window, False) | _next(window, False, 2)
    flags = {
        "astronomical": astronomical,
        "trend": trend,
        "two_in_three": counted & in_window,
        "shift": shift,
    }
    return flags, side, trend_direction


def classify_points(
    flags: dict[str, np.ndarray],
    directions: dict[str, np.ndarray],
    precedence: Sequence[str],
    point_improvement: np.ndarray,
    observed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rule that fires after precedence (code into ``("", *RULES)``), its direction and the point type
    (code into ``POINT_TYPES``) given each point's improvement sign."""
    n = len(observed)
    rule_code = np.zeros(n, dtype=np.int8)
    point_direction = np.zeros(n, dtype=np.int8)
    for name in reversed(tuple(precedence)):  # a loop over (at most 4) rules, not over points or series
        fired = flags[name]
        rule_code[fired] = RULES.index(name) + 1
        point_direction[fired] = directions[name][fired]
    type_code = np.where(
        point_improvement == 0,
        np.where(point_direction > 0, 3, 4),
        np.where(point_direction * point_improvement > 0, 1, 2),
    ).astype(np.int8)
    type_code[rule_code == 0] = 0
    type_code[~observed] = _MISSING_TYPE
    return rule_code, point_direction, type_code


def variation_codes(
    type_code: np.ndarray, observed: np.ndarray, codes: np.ndarray, series_first: np.ndarray, n_series: int
) -> np.ndarray:
    """Each series' variation icon: the type of its last observed point (−1 when it has none)."""
    n = len(type_code)
    variation = np.full(n_series, -1, dtype=np.int8)
    if n:
        series_start = np.flatnonzero(series_first)
        last_observed = np.maximum.reduceat(np.where(observed, np.arange(n), -1), series_start)
        has_obs = last_observed >= 0
        variation[codes[series_start][has_obs]] = type_code[last_observed[has_obs]]
    return variation


def assurance_codes(
    target: np.ndarray,
    imp_sign: np.ndarray,
    series_id: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    n_series: int,
) -> np.ndarray:
    """Assurance icon per series (code into ``ASSURANCE_TYPES``) from its target and the limits at its last
    point (``upper``/``lower`` given per series block, in the order of ``series_id``)."""
    out = np.zeros(n_series, dtype=np.int8)
    if len(series_id):
        t = target[series_id]
        s = imp_sign[series_id]
        above, below = t > upper, t < lower
        code = np.where(above, np.where(s > 0, 2, 1), np.where(below, np.where(s > 0, 1, 2), 3))
        code[np.isnan(t) | (s == 0) | np.isnan(upper) | np.isnan(lower)] = 0
        out[series_id] = code
    return out


def xmr(
    values,
    series_codes,
    *,
    phase_start=None,
    gap_before=None,
    fix_after: int | None = None,
    screen: bool = True,
    screen_limit: float = SCREEN_LIMIT,
    constant: float = LIMIT_CONSTANT,
    near_fraction: float = NEAR_FRACTION,
    shift_length: int = RUN_LENGTH,
    trend_length: int = RUN_LENGTH,
    two_in_three_beyond_process: bool = False,
    precedence: Sequence[str] = RULES,
    improvement: Improvement | Sequence[str] = "increase",
    target=None,
    min_points: int = MIN_POINTS,
    missing: MissingMode = "break",
) -> XmrResult:
    """XmR chart limits, the four rules, point types and icons for many series at once.

    ``values``: one float per point (NaN = missing), sorted by series then period. ``series_codes``:
    integer ≥ 0 per point, each series in one contiguous block. ``phase_start``: True where a rebase starts
    a new phase. ``gap_before``: True where periods are missing just before the point. ``fix_after``: limits
    from the first N observed values of each phase (N ≥ 12 recommended). ``improvement`` and ``target``:
    one for all series or one per series (target NaN = none). Other parameters: see the module docstring.
    """
    if fix_after is not None and fix_after < 2:
        raise ValueError("fix_after must be at least 2 (a moving range needs two points)")
    y, codes, series_first, n_series = check_series(values, series_codes)
    n = len(y)
    check_rule_options(shift_length, trend_length, missing, precedence)
    imp_sign, target_arr = improvement_and_target(improvement, target, n_series)

    new_phase = series_first | _point_flags(phase_start, n, "phase_start")
    phase = running_count(new_phase) - 1
    n_phase = int(phase[-1]) + 1 if n else 0
    observed = ~np.isnan(y)
    gaps = _point_flags(gap_before, n, "gap_before")

    if missing == "skip":
        keep = np.flatnonzero(observed)
        link = np.zeros(len(keep), dtype=bool)
        link[1:] = phase[keep[1:]] == phase[keep[:-1]]
    else:
        keep = None
        link = ~new_phase & ~gaps & observed & _previous(observed, False)

    core = _Core(
        y if keep is None else y[keep],
        phase if keep is None else phase[keep],
        n_phase,
        link,
        fix_after=fix_after,
        screen_limit=screen_limit if screen else None,
        constant=constant,
        near_fraction=near_fraction,
        shift_length=shift_length,
        trend_length=trend_length,
        two_in_three_beyond_process=two_in_three_beyond_process,
        min_points=min_points,
    )

    # Per-point results over every input point (missing points in "skip" mode get their phase's limits).
    def full(a: np.ndarray, fill) -> np.ndarray:
        if keep is None:
            return a
        out = np.full(n, fill, dtype=a.dtype)
        out[keep] = a
        return out

    flags = {name: full(core.flags[name], False) for name in RULES}
    directions = {
        "astronomical": full(core.side, 0),
        "trend": full(core.trend_direction, 0),
        "two_in_three": full(core.side, 0),
        "shift": full(core.side, 0),
    }
    rule_code, point_direction, type_code = classify_points(
        flags, directions, precedence, imp_sign[codes], observed
    )

    # Per-series summaries.
    series_of_phase = codes[new_phase]
    n_points = np.bincount(codes, minlength=n_series)
    n_missing = np.bincount(codes, weights=~observed, minlength=n_series).astype(np.int64)
    n_phases = np.bincount(series_of_phase, minlength=n_series)
    short_series = np.bincount(series_of_phase, weights=core.short_phase, minlength=n_series) > 0
    variation = variation_codes(type_code, observed, codes, series_first, n_series)
    last_phase = phase[series_last(series_first)] if n else np.zeros(0, dtype=np.int64)
    assurance_code = assurance_codes(
        target_arr, imp_sign, codes[series_first], core.upper[last_phase], core.lower[last_phase], n_series
    )

    return XmrResult(
        phase_mean=core.mean,
        phase_upper=core.upper,
        phase_lower=core.lower,
        phase_near_upper=core.near_upper,
        phase_near_lower=core.near_lower,
        phase_short=core.short_phase,
        phase_index=phase,
        series_first=series_first,
        moving_range=full(core.moving_range, np.nan),
        moving_range_used=full(core.moving_range_used, False),
        missing=~observed,
        astronomical=flags["astronomical"],
        trend=flags["trend"],
        two_in_three=flags["two_in_three"],
        shift=flags["shift"],
        rule_code=rule_code,
        direction=point_direction,
        point_type_code=type_code,
        n_points=n_points,
        n_missing=n_missing,
        n_phases=n_phases,
        short_series=short_series,
        variation_code=variation,
        assurance_code=assurance_code,
    )


@dataclass(frozen=True)
class ChartLatest:
    """What a monitoring pass reads of each series' control chart (arrays indexed by series code)."""

    mean: np.ndarray
    """Centre line of the series' last phase (its last point's phase)."""
    lower: np.ndarray
    """Process limits at the series' last point."""
    upper: np.ndarray
    variation_code: np.ndarray
    """As :attr:`XmrResult.variation_code`."""
    concern_rule_code: np.ndarray
    """The rule (code into ``("", *RULES)``) of the series' last special cause of concern among the
    ``recent`` points; 0 when there is none."""


def xmr_latest(
    values,
    series_codes,
    *,
    recent,
    phase_start=None,
    gap_before=None,
    fix_after: int | None = None,
    screen: bool = True,
    screen_limit: float = SCREEN_LIMIT,
    constant: float = LIMIT_CONSTANT,
    near_fraction: float = NEAR_FRACTION,
    shift_length: int = RUN_LENGTH,
    trend_length: int = RUN_LENGTH,
    two_in_three_beyond_process: bool = False,
    precedence: Sequence[str] = RULES,
    improvement: Improvement | Sequence[str] = "increase",
) -> ChartLatest:
    """:func:`xmr` (``missing="break"``) reduced to each series' last limits, variation icon and latest
    concern (``recent``: True at the points where a concern counts), by compiled loops, one pass per
    series: the monitoring kernel's entry point. The figures are those of :func:`xmr` to the last bit
    (``tests/stats/test_spc_loops.py``)."""
    from carelens.stats import spc_loops  # numba: loaded only by the callers that need it

    if fix_after is not None and fix_after < 2:
        raise ValueError("fix_after must be at least 2 (a moving range needs two points)")
    y, codes, _, n_series = check_series(values, series_codes)
    n = len(y)
    check_rule_options(shift_length, trend_length, "break", precedence)
    imp_sign, _ = improvement_and_target(improvement, None, n_series)
    mean, lower, upper, variation, concern_rule = spc_loops.xmr_latest(
        y,
        codes,
        n_series,
        _point_flags(phase_start, n, "phase_start"),
        _point_flags(gap_before, n, "gap_before"),
        _point_flags(recent, n, "recent"),
        imp_sign,
        np.array([RULES.index(name) + 1 for name in precedence], dtype=np.int64),
        -1 if fix_after is None else int(fix_after),
        bool(screen),
        float(screen_limit),
        float(constant),
        float(near_fraction),
        int(shift_length),
        int(trend_length),
        bool(two_in_three_beyond_process),
    )
    return ChartLatest(mean, lower, upper, variation, concern_rule)


class _Core:
    """Limits and rule flags over points sorted by phase. ``link[i]``: point i directly follows point i−1
    in the same phase (both observed, no gap). Per-phase arrays have length ``n_phase``."""

    def __init__(
        self,
        y: np.ndarray,
        phase: np.ndarray,
        n_phase: int,
        link: np.ndarray,
        *,
        fix_after: int | None,
        screen_limit: float | None,
        constant: float,
        near_fraction: float,
        shift_length: int,
        trend_length: int,
        two_in_three_beyond_process: bool,
        min_points: int,
    ) -> None:
        n = len(y)
        groups = Groups(phase, n_phase)
        observed = ~np.isnan(y)
        first = np.ones(n, dtype=bool)
        first[1:] = phase[1:] != phase[:-1]

        baseline = baseline_points(observed, first, fix_after)

        with np.errstate(invalid="ignore"):
            moving_range = np.where(link, np.abs(y - _previous(y, np.nan)), np.nan)
        in_baseline_mr = link & baseline & _previous(baseline, False)
        n_baseline = groups.count(baseline)
        self.mean = groups.mean(y, where=baseline, count=n_baseline)
        mean_mr = groups.mean(moving_range, where=in_baseline_mr)
        used = in_baseline_mr
        if screen_limit is not None:
            with np.errstate(invalid="ignore"):
                used = in_baseline_mr & (moving_range < screen_limit * mean_mr[phase])
            mean_mr = groups.mean(moving_range, where=used)
        self.moving_range = moving_range
        self.moving_range_used = used
        self.upper = self.mean + constant * mean_mr
        self.lower = self.mean - constant * mean_mr
        self.near_upper = self.mean + near_fraction * constant * mean_mr
        self.near_lower = self.mean - near_fraction * constant * mean_mr
        self.short_phase = n_baseline < min_points

        self.flags, self.side, self.trend_direction = rule_flags(
            y,
            link,
            self.mean[phase],
            self.upper[phase],
            self.lower[phase],
            self.near_upper[phase],
            self.near_lower[phase],
            shift_length=shift_length,
            trend_length=trend_length,
            two_in_three_beyond_process=two_in_three_beyond_process,
        )
