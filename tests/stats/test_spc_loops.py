"""The compiled XmR loops (``carelens.stats.spc_loops``, behind ``spc.xmr_latest``) against the NumPy kernel
(``spc._Core`` and ``spc.xmr``) they replace in the monitoring pass: generated series with missing values,
gaps, rebases, short series, ``fix_after``, screening on and off, every rule and any precedence must give
the same numbers to the last bit, so the two can never drift apart."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carelens.stats import control_charts, spc, spc_loops
from carelens.stats.groups import running_count
from carelens.stats.spc import RULES, xmr, xmr_latest

CONCERN = spc.POINT_TYPES.index("special_cause_concern")

# Small integers make ties, points exactly on the mean and equal moving ranges common; NaN is missing.
value = st.one_of(
    st.integers(0, 6).map(float),
    st.just(float("nan")),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(0, 6, allow_nan=False),
)


@st.composite
def chart_inputs(draw):
    """Series stacked one after another (codes a permutation), with rare rebases, gaps and recent points,
    and the chart options."""
    n_series = draw(st.integers(1, 6))
    series = [draw(st.lists(value, min_size=1, max_size=40)) for _ in range(n_series)]
    order = draw(st.permutations(range(n_series)))
    y = np.array([v for s in series for v in s], dtype=float)
    codes = np.repeat(np.array(order, dtype=np.int64), [len(s) for s in series])
    n = len(y)

    def rare():
        return np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=np.int64) == 0

    options = draw(
        st.fixed_dictionaries(
            {
                "fix_after": st.one_of(st.none(), st.integers(2, 15)),
                "screen": st.booleans(),
                "screen_limit": st.sampled_from([spc.SCREEN_LIMIT, 1.5]),
                "constant": st.sampled_from([spc.LIMIT_CONSTANT, 3 / 1.128, 1.0]),
                "near_fraction": st.sampled_from([spc.NEAR_FRACTION, 0.5]),
                "shift_length": st.integers(1, 8),
                "trend_length": st.integers(2, 8),
                "two_in_three_beyond_process": st.booleans(),
                "precedence": st.permutations(RULES).flatmap(
                    lambda rules: st.integers(1, 4).map(lambda k: tuple(rules[:k]))
                ),
                "improvement": st.one_of(
                    st.sampled_from(["increase", "decrease", "neutral"]),
                    st.lists(
                        st.sampled_from(["increase", "decrease", "neutral"]),
                        min_size=n_series,
                        max_size=n_series,
                    ),
                ),
            }
        )
    )
    recent = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    return y, codes, rare(), rare(), recent, options


def latest_by_numpy(y, codes, phase_start, gap_before, recent, options) -> spc.ChartLatest:
    """What ``xmr_latest`` gives, read off the full NumPy ``xmr`` result."""
    chart = xmr(y, codes, phase_start=phase_start, gap_before=gap_before, **options)
    n_series = len(chart.n_points)
    mean, lower, upper = (np.full(n_series, np.nan) for _ in range(3))
    last = spc.series_last(chart.series_first)
    at = codes[last]
    mean[at] = chart.phase_mean[chart.phase_index[last]]
    lower[at] = chart.phase_lower[chart.phase_index[last]]
    upper[at] = chart.phase_upper[chart.phase_index[last]]
    concern_rule = np.zeros(n_series, dtype=np.int8)
    for i in np.flatnonzero(recent & (chart.point_type_code == CONCERN)):  # later points overwrite
        concern_rule[codes[i]] = chart.rule_code[i]
    return spc.ChartLatest(mean, lower, upper, chart.variation_code, concern_rule)


def assert_same_latest(got: spc.ChartLatest, expected: spc.ChartLatest) -> None:
    for name in ("mean", "lower", "upper", "variation_code", "concern_rule_code"):
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name, strict=True)  # NaN equals NaN, bit for bit


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chart_inputs())
def test_xmr_latest_matches_xmr(data):
    y, codes, phase_start, gap_before, recent, options = data
    got = xmr_latest(y, codes, recent=recent, phase_start=phase_start, gap_before=gap_before, **options)
    assert_same_latest(got, latest_by_numpy(y, codes, phase_start, gap_before, recent, options))


def core_inputs(y, codes, phase_start, gap_before, missing):
    """The points, phase codes and links ``spc.xmr`` hands to its core, in either missing-value mode."""
    series_first = np.r_[True, codes[1:] != codes[:-1]]
    new_phase = series_first | phase_start
    phase = running_count(new_phase) - 1
    observed = ~np.isnan(y)
    if missing == "skip":
        keep = np.flatnonzero(observed)
        link = np.zeros(len(keep), dtype=bool)
        link[1:] = phase[keep[1:]] == phase[keep[:-1]]
        return y[keep], phase[keep], link, int(phase[-1]) + 1
    link = ~new_phase & ~gap_before & observed & np.r_[False, observed[:-1]]
    return y, phase, link, int(phase[-1]) + 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chart_inputs(), st.sampled_from(["break", "skip"]))
def test_compiled_core_matches_numpy_core(data, missing):
    """Every per-phase and per-point figure of the core: limits, moving ranges and their use, the four
    rules' flags, sides and trend directions."""
    y, codes, phase_start, gap_before, _, options = data
    y, phase, link, n_phase = core_inputs(y, codes, phase_start, gap_before, missing)
    options = {k: v for k, v in options.items() if k not in ("precedence", "improvement")}
    screen_limit = options.pop("screen_limit")
    reference = spc._Core(
        y,
        phase,
        n_phase,
        link,
        fix_after=options["fix_after"],
        screen_limit=screen_limit if options["screen"] else None,
        constant=options["constant"],
        near_fraction=options["near_fraction"],
        shift_length=options["shift_length"],
        trend_length=options["trend_length"],
        two_in_three_beyond_process=options["two_in_three_beyond_process"],
        min_points=12,
    )
    mean, upper, lower, near_upper, near_lower, n_baseline, mr, used, flags, side, direction = (
        spc_loops.xmr_core(
            y,
            phase,
            link,
            n_phase,
            -1 if options["fix_after"] is None else options["fix_after"],
            options["screen"],
            screen_limit,
            options["constant"],
            options["near_fraction"],
            options["shift_length"],
            options["trend_length"],
            options["two_in_three_beyond_process"],
        )
    )
    for name, got in (
        ("mean", mean),
        ("upper", upper),
        ("lower", lower),
        ("near_upper", near_upper),
        ("near_lower", near_lower),
        ("moving_range", mr),
        ("moving_range_used", used),
        ("side", side),
        ("trend_direction", direction),
    ):
        np.testing.assert_array_equal(got, getattr(reference, name), err_msg=name, strict=True)
    np.testing.assert_array_equal(n_baseline < 12, reference.short_phase)
    for k, rule in enumerate(RULES):
        np.testing.assert_array_equal((flags >> k) & 1 == 1, reference.flags[rule], err_msg=rule)


@pytest.mark.parametrize("fix_after", [None, 12])
@pytest.mark.parametrize("improvement", ["increase", "decrease", "neutral"])
def test_many_noisy_series_fire_every_rule_alike(fix_after, improvement):
    """Monthly-style series (ties from rounding, drifts, steps, quiet series, missing months, gaps): every rule fires
    many times, and the compiled and NumPy charts agree on each series."""
    rng = np.random.default_rng(20)
    n_series, length = 400, 60
    t = np.arange(length)
    drift = rng.normal(0, 0.05, (n_series, 1)) * t
    step = np.where(t >= rng.integers(10, 60, (n_series, 1)), rng.normal(0, 2, (n_series, 1)), 0)
    noise = rng.normal(0, 1, (n_series, length)) * rng.choice([1.0, 0.05], (n_series, 1), p=[0.8, 0.2])
    y = np.round(noise + drift + step, 1).ravel()
    y[rng.random(y.size) < 0.03] = np.nan
    codes = np.repeat(np.arange(n_series), length)
    gap_before = rng.random(y.size) < 0.02
    recent = np.tile(t >= length - 6, n_series)
    options = {"fix_after": fix_after, "improvement": improvement}
    chart = xmr(y, codes, gap_before=gap_before, **options)
    assert (np.bincount(chart.rule_code, minlength=5)[1:] >= 10).all()  # each rule wins on many points
    got = xmr_latest(y, codes, recent=recent, gap_before=gap_before, **options)
    expected = latest_by_numpy(y, codes, np.zeros(y.size, bool), gap_before, recent, options)
    concerns = (expected.concern_rule_code > 0).sum()
    assert concerns == 0 if improvement == "neutral" else concerns >= 10
    assert_same_latest(got, expected)


def test_empty_and_checked_input():
    empty = xmr_latest(np.array([]), np.array([], dtype=np.int64), recent=np.array([], dtype=bool))
    assert len(empty.mean) == 0 and len(empty.variation_code) == 0
    with pytest.raises(ValueError, match="contiguous"):
        xmr_latest([1.0, 2.0, 3.0], [0, 1, 0], recent=[True, True, True])
    with pytest.raises(ValueError, match="fix_after"):
        xmr_latest([1.0, 2.0], [0, 0], recent=[True, True], fix_after=1)
    with pytest.raises(ValueError, match="recent"):
        xmr_latest([1.0, 2.0], [0, 0], recent=[True])


# -- attribute charts: the same loops on limits given per point ----------------------------------------


@st.composite
def count_inputs(draw):
    """Counts over denominators (p and u charts), counts (c), times (t) and opportunities (g), with
    missing values, rebases, gaps and recent points, and the chart options."""
    chart = draw(st.sampled_from(control_charts.CHARTS))
    n_series = draw(st.integers(1, 5))
    lengths = [draw(st.integers(1, 30)) for _ in range(n_series)]
    n = sum(lengths)
    order = draw(st.permutations(range(n_series)))
    codes = np.repeat(np.array(order, dtype=np.int64), lengths)
    size = np.array(draw(st.lists(st.integers(1, 60), min_size=n, max_size=n)), dtype=float)
    share = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    count = np.floor(share * size)
    missing = np.array(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))) == 0
    if chart in control_charts.WITH_DENOMINATOR:
        values, denominator = np.where(missing, np.nan, count), size
    else:
        values = np.where(missing, np.nan, count + (1.0 if chart == "t" else 0.0))
        denominator = None

    def rare():
        return np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=np.int64) == 0

    fix_min = 2 if chart in ("pp", "up", "t") else 1
    options = draw(
        st.fixed_dictionaries(
            {
                "fix_after": st.one_of(st.none(), st.integers(fix_min, 15)),
                "screen": st.booleans(),
                "shift_length": st.integers(1, 8),
                "trend_length": st.integers(2, 8),
                "two_in_three_beyond_process": st.booleans(),
                "precedence": st.permutations(RULES).flatmap(
                    lambda rules: st.integers(1, 4).map(lambda k: tuple(rules[:k]))
                ),
                "improvement": st.sampled_from(["increase", "decrease", "neutral"]),
            }
        )
    )
    recent = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    return chart, values, codes, denominator, rare(), rare(), recent, options


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count_inputs())
def test_control_chart_latest_matches_control_chart(data):
    chart, values, codes, denominator, phase_start, gap_before, recent, options = data
    kwargs = dict(phase_start=phase_start, gap_before=gap_before, **options)
    got = control_charts.control_chart_latest(chart, values, codes, denominator, recent=recent, **kwargs)
    full = control_charts.control_chart(chart, values, codes, denominator, **kwargs)
    n_series = len(full.n_points)
    mean, lower, upper = (np.full(n_series, np.nan) for _ in range(3))
    last = spc.series_last(full.series_first)
    mean[codes[last]] = full.phase_centre[full.phase_index[last]]
    lower[codes[last]], upper[codes[last]] = full.lower[last], full.upper[last]
    concern_rule = np.zeros(n_series, dtype=np.int8)
    for i in np.flatnonzero(recent & (full.point_type_code == CONCERN)):
        concern_rule[codes[i]] = full.rule_code[i]
    assert_same_latest(got, spc.ChartLatest(mean, lower, upper, full.variation_code, concern_rule))
