"""Control charts for counts, proportions and rare events: p, p′ (Laney), u, u′ (Laney), c, t and g charts,
for many series at once (docs/methods/spc.md).

Reference behaviour: qicharts2 0.7.5 (Jacob Anhøj) for the centre lines and limits, with moving ranges
screened as qicharts2 does when attached (``screen=True``); the four Making Data Count rules, point types
and icons are those of the XmR chart (:mod:`carelens.stats.spc`), applied to each point's own limits, and
the Anhøj runs analysis against the centre line (:mod:`carelens.stats.run_chart`) is reported per phase as
qicharts2 reports it for every chart.

Per phase (a series, or the part after a rebase), with the baseline its first ``fix_after`` observed points
(qicharts2's ``freeze``), O the counts, n the denominators, σᵢ the standard error of point i and limits
centre ± 3σᵢ (near, "two-sigma", limits ± 2σᵢ):

- ``p``: y = O/n; centre p̄ = ΣO/Σn over the baseline; σᵢ = √(p̄(1 − p̄)/nᵢ); limits kept within [0, 1].
- ``pp`` (p′, Laney 2002): as p, with σᵢ multiplied by σ_z = M̄R(z)/1.128, the average moving range of
  the baseline points' z-scores zᵢ = (yᵢ − p̄)/σᵢ: the between-period variation of large denominators.
- ``u``: y = O/n; centre ū = ΣO/Σn; σᵢ = √(ū/nᵢ); lower limit at least 0. ``up`` (u′): as pp.
- ``c``: y = O; centre c̄ = mean over the baseline; σ = √c̄; lower limit at least 0.
- ``t`` (time between rare events, > 0): an individuals chart of y^(1/3.6) (mean, M̄R/1.128), centre and
  limits transformed back by ^3.6, a negative lower limit becoming 0.
- ``g`` (opportunities, e.g. patients or days, between rare events, ≥ 0): limits from the geometric
  mean ḡ ± 3√(ḡ(ḡ + 1)), the lower at least 0; the centre line drawn is the baseline median.

Screening (``screen``, default on): moving ranges at or above 3.267·M̄R are dropped once before σ_z (p′,
u′) or the t chart's standard deviation are computed. A point with a missing count or denominator is
missing; missing points and gaps (``gap_before``) break moving ranges, runs and windows as in XmR
(``missing="break"``), or are stepped over (``missing="skip"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from carelens.stats.groups import Groups, running_count
from carelens.stats.intervals import check_not_above, check_values
from carelens.stats.run_chart import RunsAnalysis, phase_medians, runs_analysis
from carelens.stats.spc import (
    ASSURANCE_TYPES,
    MIN_POINTS,
    POINT_TYPES,
    RULES,
    RUN_LENGTH,
    SCREEN_LIMIT,
    ChartLatest,
    Improvement,
    MissingMode,
    _point_flags,
    _previous,
    assurance_codes,
    baseline_points,
    check_rule_options,
    check_series,
    classify_points,
    improvement_and_target,
    rule_flags,
    series_last,
    variation_codes,
)

Chart = Literal["p", "pp", "u", "up", "c", "t", "g"]
CHARTS: tuple[str, ...] = ("p", "pp", "u", "up", "c", "t", "g")
"""Chart types: p, p′ (``pp``), u, u′ (``up``), c, t and g."""
WITH_DENOMINATOR = ("p", "pp", "u", "up")
SIGMA = 3.0
"""Process limits at centre ± 3σ."""
NEAR_SIGMA = 2.0
"""Near ("two-sigma") limits at centre ± 2σ, used by the two-in-three rule."""
D2 = 1.128
"""d2 for moving ranges of two points: σ = M̄R / 1.128."""
T_EXPONENT = 3.6
"""The t chart plots y^(1/3.6), which makes exponential times between events nearly normal (Nelson)."""

_RULE_NAMES = np.array(("", *RULES), dtype=object)
_POINT_TYPE_NAMES = np.array(POINT_TYPES, dtype=object)
_ASSURANCE_NAMES = np.array(ASSURANCE_TYPES, dtype=object)
_VARIATION_NAMES = np.array(("", *POINT_TYPES), dtype=object)


@dataclass(frozen=True)
class ControlChartResult:
    """Centre, limits, rules and icons of a p, p′, u, u′, c, t or g chart. Per-point arrays align with the
    input; per-phase arrays are indexed by ``phase_index``; per-series arrays by series code."""

    chart: str
    value: np.ndarray
    """The plotted statistic: O/n for p and u charts, the count, time or opportunities otherwise."""
    centre: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    near_upper: np.ndarray
    near_lower: np.ndarray
    phase_index: np.ndarray
    series_first: np.ndarray
    missing: np.ndarray
    # per phase
    phase_centre: np.ndarray
    phase_sigma_z: np.ndarray
    """Laney's σ_z for p′ and u′ charts (1 for the others); NaN where it cannot be estimated."""
    phase_short: np.ndarray
    runs: RunsAnalysis
    # rules, per point
    astronomical: np.ndarray
    trend: np.ndarray
    two_in_three: np.ndarray
    shift: np.ndarray
    rule_code: np.ndarray
    direction: np.ndarray
    point_type_code: np.ndarray
    # per series
    n_points: np.ndarray
    n_missing: np.ndarray
    n_phases: np.ndarray
    short_series: np.ndarray
    runs_signal: np.ndarray
    """The Anhøj rules signal in the series' last phase."""
    variation_code: np.ndarray
    assurance_code: np.ndarray
    """Against the limits at the series' last point."""

    @property
    def rule(self) -> np.ndarray:
        return _RULE_NAMES[self.rule_code]

    @property
    def point_type(self) -> np.ndarray:
        return _POINT_TYPE_NAMES[self.point_type_code]

    @property
    def variation_icon(self) -> np.ndarray:
        return _VARIATION_NAMES[self.variation_code + 1]

    @property
    def assurance_icon(self) -> np.ndarray:
        return _ASSURANCE_NAMES[self.assurance_code]

    @property
    def short_phase(self) -> np.ndarray:
        return self.phase_short[self.phase_index]


def control_chart(
    chart: Chart,
    values,
    series_codes,
    denominator=None,
    *,
    phase_start=None,
    gap_before=None,
    fix_after: int | None = None,
    screen: bool = True,
    screen_limit: float = SCREEN_LIMIT,
    sigma: float = SIGMA,
    near_sigma: float = NEAR_SIGMA,
    shift_length: int = RUN_LENGTH,
    trend_length: int = RUN_LENGTH,
    two_in_three_beyond_process: bool = False,
    precedence: Sequence[str] = RULES,
    improvement: Improvement | Sequence[str] = "increase",
    target=None,
    min_points: int = MIN_POINTS,
    missing: MissingMode = "break",
) -> ControlChartResult:
    """A p, p′ (``"pp"``), u, u′ (``"up"``), c, t or g chart for many series at once (module docstring).

    ``values``: the count O (p, u, c charts and their Laney forms), the time between events (t, > 0) or
    the opportunities between events (g, ≥ 0), one per point, NaN = missing, sorted by series then period.
    ``denominator``: n for p and u charts (p: O ≤ n). ``series_codes``, ``phase_start``, ``gap_before``,
    ``fix_after``, ``improvement``, ``target`` and the rule options are those of
    :func:`carelens.stats.spc.xmr`; ``sigma`` and ``near_sigma`` set the limits' width in σ.
    """
    p = _prepare(
        chart,
        values,
        series_codes,
        denominator,
        phase_start,
        gap_before,
        fix_after,
        screen,
        screen_limit,
        sigma,
        near_sigma,
        shift_length,
        trend_length,
        missing,
        precedence,
        improvement,
        target,
    )
    y, codes, series_first, n_series, n = p.y, p.codes, p.series_first, p.n_series, len(p.y)
    phase, n_phase, new_phase, observed, link = p.phase, p.n_phase, p.new_phase, p.observed, p.link
    imp_sign, target_arr, n_baseline = p.imp_sign, p.target, p.n_baseline
    upper, lower, near_upper, near_lower = p.upper, p.lower, p.near_upper, p.near_lower
    plotted_centre = p.plotted_centre

    if missing == "skip":
        # rules see the observed points only, each linked to the previous observed point of its phase
        keep = np.flatnonzero(observed)
        rule_link = link[keep]
        arrays = (y, plotted_centre, upper, lower, near_upper, near_lower)
        flags_kept, side_kept, trend_kept = rule_flags(
            *(a[keep] for a in arrays[:1]),
            rule_link,
            *(a[keep] for a in arrays[1:]),
            shift_length=shift_length,
            trend_length=trend_length,
            two_in_three_beyond_process=two_in_three_beyond_process,
        )
        flags = {k: _spread_back(v, keep, n, False) for k, v in flags_kept.items()}
        side, trend_direction = _spread_back(side_kept, keep, n, 0), _spread_back(trend_kept, keep, n, 0)
    else:
        flags, side, trend_direction = rule_flags(
            y,
            link,
            plotted_centre,
            upper,
            lower,
            near_upper,
            near_lower,
            shift_length=shift_length,
            trend_length=trend_length,
            two_in_three_beyond_process=two_in_three_beyond_process,
        )
    directions = {"astronomical": side, "trend": trend_direction, "two_in_three": side, "shift": side}
    rule_code, point_direction, type_code = classify_points(
        flags, directions, precedence, imp_sign[codes], observed
    )

    runs = runs_analysis(y, plotted_centre, phase, n_phase)
    series_of_phase = codes[new_phase]
    short_phase = n_baseline < min_points
    last = series_last(series_first)
    last_phase = phase[last] if n else np.zeros(0, dtype=np.int64)
    runs_signal = np.zeros(n_series, dtype=bool)
    runs_signal[codes[last]] = runs.runs_signal[last_phase]
    return ControlChartResult(
        chart=chart,
        value=y,
        centre=plotted_centre,
        upper=upper,
        lower=lower,
        near_upper=near_upper,
        near_lower=near_lower,
        phase_index=phase,
        series_first=series_first,
        missing=~observed,
        phase_centre=p.centre if p.transform is None else p.transform[0],
        phase_sigma_z=p.sigma_z,
        phase_short=short_phase,
        runs=runs,
        astronomical=flags["astronomical"],
        trend=flags["trend"],
        two_in_three=flags["two_in_three"],
        shift=flags["shift"],
        rule_code=rule_code,
        direction=point_direction,
        point_type_code=type_code,
        n_points=np.bincount(codes, minlength=n_series),
        n_missing=np.bincount(codes, weights=~observed, minlength=n_series).astype(np.int64),
        n_phases=np.bincount(series_of_phase, minlength=n_series),
        short_series=np.bincount(series_of_phase, weights=short_phase, minlength=n_series) > 0,
        runs_signal=runs_signal,
        variation_code=variation_codes(type_code, observed, codes, series_first, n_series),
        assurance_code=assurance_codes(
            target_arr, imp_sign, codes[series_first], upper[last], lower[last], n_series
        ),
    )


def control_chart_latest(
    chart: Chart,
    values,
    series_codes,
    denominator=None,
    *,
    recent,
    phase_start=None,
    gap_before=None,
    fix_after: int | None = None,
    screen: bool = True,
    screen_limit: float = SCREEN_LIMIT,
    sigma: float = SIGMA,
    near_sigma: float = NEAR_SIGMA,
    shift_length: int = RUN_LENGTH,
    trend_length: int = RUN_LENGTH,
    two_in_three_beyond_process: bool = False,
    precedence: Sequence[str] = RULES,
    improvement: Improvement | Sequence[str] = "increase",
) -> ChartLatest:
    """:func:`control_chart` (``missing="break"``) reduced to each series' last centre line and limits,
    variation icon and latest concern (``recent``: True at the points where a concern counts): the
    centre and limits as :func:`control_chart` computes them, the rules by compiled loops
    (:func:`carelens.stats.spc_loops.chart_latest`), without the runs analysis. The monitoring kernel's
    entry point; the same figures as :func:`control_chart` to the last bit (``tests/stats/test_spc_loops.py``).
    """
    from carelens.stats import spc_loops  # numba: loaded only by the callers that need it

    p = _prepare(
        chart,
        values,
        series_codes,
        denominator,
        phase_start,
        gap_before,
        fix_after,
        screen,
        screen_limit,
        sigma,
        near_sigma,
        shift_length,
        trend_length,
        "break",
        precedence,
        improvement,
        None,
    )
    n = len(p.y)
    variation, concern_rule = spc_loops.chart_latest(
        p.y,
        p.codes,
        p.n_series,
        p.phase,
        p.link,
        p.plotted_centre,
        p.upper,
        p.lower,
        p.near_upper,
        p.near_lower,
        _point_flags(recent, n, "recent"),
        p.imp_sign,
        np.array([RULES.index(name) + 1 for name in precedence], dtype=np.int64),
        int(shift_length),
        int(trend_length),
        bool(two_in_three_beyond_process),
    )
    mean, lower, upper = (np.full(p.n_series, np.nan) for _ in range(3))
    last = series_last(p.series_first)
    at = p.codes[last]
    mean[at] = (p.centre if p.transform is None else p.transform[0])[p.phase[last]]
    lower[at], upper[at] = p.lower[last], p.upper[last]
    return ChartLatest(mean, lower, upper, variation, concern_rule)


@dataclass(frozen=True)
class _Prepared:
    """A chart's checked inputs, phases, links, centre lines and limits: all of it but the rules."""

    y: np.ndarray
    codes: np.ndarray
    series_first: np.ndarray
    n_series: int
    imp_sign: np.ndarray
    target: np.ndarray
    phase: np.ndarray
    n_phase: int
    new_phase: np.ndarray
    observed: np.ndarray
    link: np.ndarray
    n_baseline: np.ndarray
    centre: np.ndarray
    sigma_z: np.ndarray
    transform: tuple | None
    upper: np.ndarray
    lower: np.ndarray
    near_upper: np.ndarray
    near_lower: np.ndarray
    plotted_centre: np.ndarray


def _prepare(
    chart,
    values,
    series_codes,
    denominator,
    phase_start,
    gap_before,
    fix_after,
    screen,
    screen_limit,
    sigma,
    near_sigma,
    shift_length,
    trend_length,
    missing,
    precedence,
    improvement,
    target,
) -> _Prepared:
    """Everything :func:`control_chart` computes before the rules."""
    if chart not in CHARTS:
        raise ValueError(f"chart must be one of {CHARTS}, got {chart!r}")
    if fix_after is not None and fix_after < (2 if chart in ("pp", "up", "t") else 1):
        raise ValueError("fix_after must be at least 2 for p', u' and t charts (moving ranges), else 1")
    raw, codes, series_first, n_series = check_series(values, series_codes)
    n = len(raw)
    check_rule_options(shift_length, trend_length, missing, precedence)
    imp_sign, target_arr = improvement_and_target(improvement, target, n_series)
    y, d = _plotted_values(chart, raw, denominator, n)

    new_phase = series_first | _point_flags(phase_start, n, "phase_start")
    phase = running_count(new_phase) - 1
    n_phase = int(phase[-1]) + 1 if n else 0
    observed = ~np.isnan(y)
    gaps = _point_flags(gap_before, n, "gap_before")
    if missing == "skip":
        # each observed point follows the previous observed point of its phase
        position = np.where(observed, np.arange(n), -1)
        previous_observed = _previous(np.maximum.accumulate(position), -1)
        phase_of_previous = np.where(previous_observed >= 0, phase[np.maximum(previous_observed, 0)], -1)
        link = observed & (previous_observed >= 0) & (phase_of_previous == phase)
        step_from = previous_observed
    else:
        link = ~new_phase & ~gaps & observed & _previous(observed, False)
        step_from = np.arange(n) - 1
    baseline = baseline_points(observed, new_phase, fix_after)
    groups = Groups(phase, n_phase)
    n_baseline = groups.count(baseline)

    limits = _limits(
        chart, y, raw, d, phase, groups, baseline, link, step_from, new_phase, n_phase, screen, screen_limit
    )
    centre, sd, sigma_z, transform = limits
    upper, lower, near_upper, near_lower = _spread(chart, centre, sd, sigma, near_sigma, transform, phase)
    plotted_centre = centre[phase] if transform is None else transform[0][phase]

    return _Prepared(
        y=y,
        codes=codes,
        series_first=series_first,
        n_series=n_series,
        imp_sign=imp_sign,
        target=target_arr,
        phase=phase,
        n_phase=n_phase,
        new_phase=new_phase,
        observed=observed,
        link=link,
        n_baseline=n_baseline,
        centre=centre,
        sigma_z=sigma_z,
        transform=transform,
        upper=upper,
        lower=lower,
        near_upper=near_upper,
        near_lower=near_lower,
        plotted_centre=plotted_centre,
    )


def _spread_back(a: np.ndarray, keep: np.ndarray, n: int, fill) -> np.ndarray:
    out = np.full(n, fill, dtype=a.dtype)
    out[keep] = a
    return out


def _plotted_values(chart: str, raw: np.ndarray, denominator, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The statistic each chart plots, after checking the inputs (missing stays missing)."""
    if chart in WITH_DENOMINATOR:
        if denominator is None:
            raise ValueError(f"a {chart} chart needs a denominator")
        d = check_values(denominator, "denominator", positive=True)
        if d.shape != (n,):
            raise ValueError(f"denominator must have one value per point ({n}), got {d.shape}")
        o = check_values(raw, "values")
        if chart in ("p", "pp"):
            check_not_above(o, d, ("values", "denominator"))
        with np.errstate(invalid="ignore"):
            return o / d, d
    if denominator is not None:
        raise ValueError(f"a {chart} chart takes no denominator")
    if chart == "t":
        return check_values(raw, "values", positive=True), None
    return check_values(raw, "values"), None


def _limits(chart, y, raw, d, phase, groups, baseline, link, step_from, new_phase, n_phase, screen, limit):
    """Per phase: the centre, the standard error per point (as a function of the point), σ_z, and for t
    and g charts the centre line to draw (transformed back, or the median)."""
    sigma_z = np.ones(n_phase)
    if chart in WITH_DENOMINATOR:
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = groups.sum(raw, where=baseline) / groups.sum(d, where=baseline)
            cbar = centre[phase]
            sd = np.sqrt(cbar * (1 - cbar) / d) if chart in ("p", "pp") else np.sqrt(cbar / d)
        if chart in ("pp", "up"):
            with np.errstate(invalid="ignore", divide="ignore"):
                z = (y - cbar) / sd
            sigma_z = _moving_range_sigma(z, phase, groups, baseline, link, step_from, screen, limit)
            sd = sd * sigma_z[phase]
        return centre, sd, sigma_z, None
    if chart == "c":
        centre = groups.mean(y, where=baseline)
        return centre, np.sqrt(centre)[phase], sigma_z, None
    if chart == "g":
        mean = groups.mean(y, where=baseline)
        median = phase_medians(np.where(baseline, y, np.nan), phase, new_phase, n_phase)
        return mean, np.sqrt(mean * (mean + 1))[phase], sigma_z, (median,)
    # t: an individuals chart of y^(1/3.6), transformed back
    yt = y ** (1 / T_EXPONENT)
    centre_t = groups.mean(yt, where=baseline)
    sd_t = _moving_range_sigma(yt, phase, groups, baseline, link, step_from, screen, limit)
    return centre_t, sd_t[phase], sigma_z, (centre_t**T_EXPONENT,)


def _moving_range_sigma(x, phase, groups, baseline, link, step_from, screen, limit) -> np.ndarray:
    """Per phase M̄R/1.128 of |xᵢ − x_previous| between linked baseline points, with moving ranges at or
    above ``limit``·M̄R screened out once when ``screen``; non-finite moving ranges are left out."""
    previous = x[np.maximum(step_from, 0)]
    previous_in_baseline = baseline[np.maximum(step_from, 0)] & (step_from >= 0)
    with np.errstate(invalid="ignore"):
        mr = np.abs(x - previous)
    used = link & baseline & previous_in_baseline & np.isfinite(mr)
    mean_mr = groups.mean(mr, where=used)
    if screen:
        with np.errstate(invalid="ignore"):
            used = used & (mr < limit * mean_mr[phase])
        mean_mr = groups.mean(mr, where=used)
    return mean_mr / D2


def _spread(chart, centre, sd, sigma, near_sigma, transform, phase):
    """Process and near limits per point, kept within the statistic's range."""
    c = centre[phase]
    with np.errstate(invalid="ignore"):
        if chart == "t":

            def back(x):
                return np.where(x > 0, np.maximum(x, 0.0) ** T_EXPONENT, np.where(np.isnan(x), np.nan, 0.0))

            return (
                back(c + sigma * sd),
                back(c - sigma * sd),
                back(c + near_sigma * sd),
                back(c - near_sigma * sd),
            )
        upper, lower = c + sigma * sd, c - sigma * sd
        near_upper, near_lower = c + near_sigma * sd, c - near_sigma * sd
        lower, near_lower = np.maximum(lower, 0.0), np.maximum(near_lower, 0.0)  # NaN stays NaN
        if chart in ("p", "pp"):
            upper, near_upper = np.minimum(upper, 1.0), np.minimum(near_upper, 1.0)
    return upper, lower, near_upper, near_lower
