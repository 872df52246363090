"""Risk-adjusted CUSUM (docs/methods/cusum.md): Steiner et al.'s published scores, a per-series loop
reference (Hypothesis), and thresholds checked against the exact false-alarm probability."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from carelens.stats.cusum import (
    count_cusum,
    count_cusum_threshold,
    count_weights,
    cusum_threshold,
    cusum_weights,
    false_alarm_probability,
    risk_adjusted_cusum,
)


def parsonnet_risk(score: float) -> float:
    """Steiner et al. (2000): logit(p) = −3.68 + 0.077 × Parsonnet score (training data 1992–93)."""
    return 1 / (1 + math.exp(-(-3.68 + 0.077 * score)))


@pytest.mark.parametrize(
    ("odds_ratio", "published"),
    [
        # Steiner (2014), Statistics in Action, p. 234, to 3 dp: Parsonnet 0 survives/dies, 50 survives/dies
        (2.0, [-0.024, 0.669, -0.433, 0.260]),
        (0.5, [0.012, -0.681, 0.316, -0.377]),
    ],
)
def test_weights_reproduce_steiner(odds_ratio, published):
    risks = [parsonnet_risk(0), parsonnet_risk(0), parsonnet_risk(50), parsonnet_risk(50)]
    w = cusum_weights([0, 1, 0, 1], risks, odds_ratio)
    assert np.round(w, 3).tolist() == published
    if odds_ratio == 2.0:  # Steiner et al. (2000) p. 446 prints −0.024, 0.67, −0.43, 0.26
        np.testing.assert_allclose(w, [-0.024, 0.67, -0.43, 0.26], atol=5e-3)


def test_weights_with_a_null_odds_ratio():
    # Steiner's general score: y·log(R_A/R_0) − log((1 + (R_A − 1)p)/(1 + (R_0 − 1)p))
    w = cusum_weights([1, 0], [0.2, 0.2], odds_ratio=3.0, null_odds_ratio=1.5)
    np.testing.assert_allclose(w, [math.log(2) - math.log(1.4 / 1.1), -math.log(1.4 / 1.1)], rtol=1e-12)


def test_a_hand_worked_chart_with_reset():
    # risk 0.1 throughout, R_A = 2: a death adds log 2 − log 1.1 = 0.597837, a survival −0.095310.
    y = [1, 1, 0, 1, 1, 0, 0, 1]
    r = risk_adjusted_cusum(y, [0.1] * 8, np.zeros(8, dtype=np.int64), threshold=1.7)
    up, down = math.log(2) - math.log(1.1), -math.log(1.1)
    s1, s2 = up, 2 * up
    s3 = s2 + down
    s4 = s3 + up  # 1.698... < 1.7: no signal yet
    s5 = s4 + up  # signal, then restart
    s6, s7 = 0.0, 0.0  # max(0, down), twice
    s8 = up
    np.testing.assert_allclose(r.statistic, [s1, s2, s3, s4, s5, s6, s7, s8], rtol=1e-12, atol=1e-15)
    assert np.flatnonzero(r.signal).tolist() == [4]
    assert r.restart.tolist() == [True, False, False, False, False, True, False, False]
    assert r.observed.tolist() == [1, 2, 2, 3, 4, 0, 0, 1]
    np.testing.assert_allclose(r.expected, [0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.2, 0.3], rtol=1e-12)
    assert (r.last_observed[0], r.last_expected[0]) == (1.0, pytest.approx(0.3))
    no_reset = risk_adjusted_cusum(y, [0.1] * 8, np.zeros(8, dtype=np.int64), threshold=1.7, reset=False)
    assert np.flatnonzero(no_reset.signal).tolist() == [4, 5, 6, 7]  # above h from record 4 on


def reference_series(y, p, h, odds_ratio, reset):
    """Steiner's recursion one record at a time."""
    s, out, signals, observed, expected = 0.0, [], [], [], []
    o = e = 0.0
    restart = True
    for yt, pt in zip(y, p, strict=True):
        if restart:
            s, o, e = 0.0, 0.0, 0.0
            restart = False
        s = max(0.0, s + yt * math.log(odds_ratio) - math.log(1 + (odds_ratio - 1) * pt))
        o, e = o + yt, e + pt
        out.append(s)
        observed.append(o)
        expected.append(e)
        signals.append(s >= h)
        if s >= h and reset:
            restart = True
    return out, signals, observed, expected


@settings(max_examples=200, deadline=None)
@given(
    series=st.lists(
        st.lists(
            st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.02, 0.1, 0.3, 0.6, 1.0])),
            min_size=1,
            max_size=60,
        ),
        min_size=1,
        max_size=6,
    ),
    h=st.floats(0.3, 4.0),
    odds_ratio=st.sampled_from([2.0, 0.5, 1.5]),
    reset=st.booleans(),
    uneven=st.booleans(),
)
def test_kernel_matches_loop_reference(series, h, odds_ratio, reset, uneven):
    if uneven:  # one very long series makes the padded table too sparse: the other code path
        series = [*series, [(1, 0.1)] * 400]
    y = np.array([yt for s in series for yt, _ in s], dtype=float)
    p = np.array([pt for s in series for _, pt in s])
    y[p == 0] = 0  # a zero risk cannot die, a risk of one cannot survive
    y[p == 1] = 1
    codes = np.repeat(np.arange(len(series)), [len(s) for s in series])
    r = risk_adjusted_cusum(y, p, codes, threshold=h, odds_ratio=odds_ratio, reset=reset)
    start = 0
    for i, s in enumerate(series):
        part = slice(start, start + len(s))
        start += len(s)
        out, signals, observed, expected = reference_series(y[part], p[part], h, odds_ratio, reset)
        np.testing.assert_allclose(r.statistic[part], out, rtol=1e-9, atol=1e-9)
        ok = np.abs(np.array(out) - h) > 1e-9  # exact ties with h are decided by rounding
        assert (r.signal[part][ok] == np.array(signals)[ok]).all()
        if ok.all():
            np.testing.assert_allclose(r.observed[part], observed, atol=1e-9)
            np.testing.assert_allclose(r.expected[part], expected, atol=1e-9)
            assert r.last_observed[i] == pytest.approx(observed[-1], abs=1e-9)
            assert r.last_expected[i] == pytest.approx(expected[-1], abs=1e-9)
            assert r.n_signals[i] == sum(signals)


def test_thresholds_attain_the_false_alarm_rate():
    # 40 patients with three risk levels: the exact in-control probability of any signal, by dynamic
    # programming over the chart's attainable values, equals the target within Monte Carlo error.
    risks = np.tile([0.02, 0.1, 0.25, 0.1], 10)
    h = cusum_threshold(risks, np.zeros(40, dtype=np.int64), false_alarm_rate=0.05, n_simulations=40_000)
    exact = false_alarm_probability(risks, float(h[0]))
    assert exact == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / 40_000) + 0.004)
    # a lower false-alarm rate needs a higher threshold; a longer horizon too
    stricter = cusum_threshold(
        risks, np.zeros(40, dtype=np.int64), false_alarm_rate=0.01, n_simulations=40_000
    )
    assert stricter[0] > h[0]
    longer = cusum_threshold(
        risks, np.zeros(40, dtype=np.int64), false_alarm_rate=0.05, horizon=400, n_simulations=10_000
    )
    assert longer[0] > h[0]


def test_thresholds_are_per_series_and_reproducible():
    risks = np.r_[np.full(200, 0.01), np.full(200, 0.2)]
    codes = np.repeat([0, 1], 200)
    a = cusum_threshold(risks, codes, false_alarm_rate=0.05, n_simulations=2000)
    b = cusum_threshold(risks, codes, false_alarm_rate=0.05, n_simulations=2000)
    np.testing.assert_array_equal(a, b)  # seeded
    assert a[0] != a[1]
    c = cusum_threshold(risks, codes, false_alarm_rate=0.05, n_simulations=2000, seed=7)
    np.testing.assert_allclose(c, a, rtol=0.25)  # another seed: the same threshold within MC error


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: risk_adjusted_cusum([0, 2], [0.1, 0.1], [0, 0], threshold=1),
            "outcomes must be 0 or 1: got 2 at index 1",
        ),
        (
            lambda: risk_adjusted_cusum([0, 1], [0.1, 1.2], [0, 0], threshold=1),
            "risks must be probabilities <= 1: got 1.2 at index 1",
        ),
        (
            lambda: risk_adjusted_cusum([0, 1], [0.1, np.nan], [0, 0], threshold=1),
            "risks must not be missing",
        ),
        (lambda: risk_adjusted_cusum([0, 1], [0.1, 0.1], [0, 0], threshold=0), "threshold must be > 0"),
        (lambda: risk_adjusted_cusum([0, 1], [0.1, 0.1], [0, 0], threshold=1, odds_ratio=1), "different"),
        (lambda: cusum_threshold([0.1], [0], false_alarm_rate=0.001, n_simulations=100), "n_simulations"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- counts per period against expected counts (the monitoring pass's mortality alert) -------------------


def test_count_weights_are_the_poisson_limit_of_steiners_scores():
    # one period of n patients, each with risk p, O of whom died: Steiner's scores sum to
    # O·log R − n·log(1 + (R − 1)p), which tends to O·log R − (R − 1)·E with E = n·p as p → 0
    n, p, deaths = 20_000, 0.0005, 14
    steiner = cusum_weights([1] * deaths + [0] * (n - deaths), [p] * n, 2.0).sum()
    # n·log(1 + p) = n·p − n·p²/2 + ...: they differ by about n·p²/2 = 0.0025
    assert count_weights(deaths, n * p, 2.0) - steiner == pytest.approx(-n * p**2 / 2, rel=1e-3)
    assert count_weights(deaths, n * p, 2.0) == pytest.approx(14 * math.log(2) - 10.0, rel=1e-12)
    assert count_weights(3, 5.0, 0.5) == pytest.approx(3 * math.log(0.5) + 2.5, rel=1e-12)


def count_reference(o, e, h, rate_ratio, reset):
    """S = max(0, S + O·log R − (R − 1)·E), one period at a time."""
    s, out, signals = 0.0, [], []
    for ot, et in zip(o, e, strict=True):
        s = max(0.0, s + ot * math.log(rate_ratio) - (rate_ratio - 1) * et)
        out.append(s)
        signals.append(s >= h)
        if s >= h and reset:
            s = 0.0
    return out, signals


@settings(max_examples=100, deadline=None)
@given(
    series=st.lists(
        st.lists(st.tuples(st.integers(0, 20), st.floats(0.1, 10.0)), min_size=1, max_size=40),
        min_size=1,
        max_size=5,
    ),
    h=st.floats(0.5, 6.0),
    rate_ratio=st.sampled_from([2.0, 1.5, 0.5]),
    reset=st.booleans(),
)
def test_count_cusum_matches_loop_reference(series, h, rate_ratio, reset):
    o = np.array([ot for s in series for ot, _ in s], dtype=float)
    e = np.array([et for s in series for _, et in s])
    codes = np.repeat(np.arange(len(series)), [len(s) for s in series])
    r = count_cusum(o, e, codes, threshold=h, rate_ratio=rate_ratio, reset=reset)
    start = 0
    for s in series:
        part = slice(start, start + len(s))
        start += len(s)
        out, signals = count_reference(o[part], e[part], h, rate_ratio, reset)
        np.testing.assert_allclose(r.statistic[part], out, rtol=1e-9, atol=1e-9)
        ok = np.abs(np.array(out) - h) > 1e-9
        assert (r.signal[part][ok] == np.array(signals)[ok]).all()


def count_false_alarm_probability(expected, h, rate_ratio=2.0):
    """Exact P(max S ≥ h) for Oₜ ~ Poisson(Eₜ), by dynamic programming over the chart's values."""
    states, alarmed = {0.0: 1.0}, 0.0
    for et in expected:
        counts = np.arange(int(et + 12 * math.sqrt(et) + 30))
        probabilities = stats.poisson.pmf(counts, et)
        following: dict[float, float] = {}
        for s, prob in states.items():
            values = np.maximum(0.0, s + counts * math.log(rate_ratio) - (rate_ratio - 1) * et)
            alarmed += prob * probabilities[values >= h].sum()
            for v, q in zip(values[values < h], probabilities[values < h], strict=True):
                key = round(float(v), 10)
                following[key] = following.get(key, 0.0) + prob * q
        states = following
    return alarmed


def test_count_thresholds_attain_the_false_alarm_rate():
    # 12 months of expected deaths: the exact false-alarm probability of the simulated threshold is 5%
    expected = np.tile([2.5, 4.0, 3.0], 4)
    h = count_cusum_threshold(
        expected, np.zeros(12, dtype=np.int64), false_alarm_rate=0.05, n_simulations=40_000
    )
    exact = count_false_alarm_probability(expected, float(h[0]))
    assert exact == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / 40_000) + 0.004)
    stricter = count_cusum_threshold(expected, np.zeros(12, dtype=np.int64), false_alarm_rate=0.01)
    assert stricter[0] > h[0]


def test_count_cusum_refuses_bad_counts():
    codes = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match=r"observed must be whole counts: got 1\.5 at index 1"):
        count_cusum([1, 1.5], [1.0, 1.0], codes, threshold=2)
    with pytest.raises(ValueError, match="expected must be finite and > 0"):
        count_cusum([1, 1], [1.0, 0.0], codes, threshold=2)
