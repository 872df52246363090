"""Confidence intervals against worked examples from the methods' sources (docs/methods/intervals.md)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from carelens.stats import intervals


def test_z_for_level_matches_published_constants():
    # Fingertips / SHMI constants: 1.959964 (95%) and 3.090232 (99.8%); levels given as % or fraction.
    assert intervals.z_for_level(95) == pytest.approx(1.959964, abs=5e-7)
    assert intervals.z_for_level(0.95) == pytest.approx(1.959964, abs=5e-7)
    assert intervals.z_for_level(99.8) == pytest.approx(3.090232, abs=5e-7)
    assert intervals.level_label(99.8) == "99_8"
    assert intervals.level_label(95) == "95"
    with pytest.raises(ValueError):
        intervals.z_for_level(100)


@pytest.mark.parametrize(
    ("events", "n", "lower", "upper"),
    [
        # Newcombe (1998), Stat Med 17:857, Table II, method 3 (Wilson score), 95%: to 4 dp.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_reproduces_newcombe_1998(events, n, lower, upper):
    lo, hi = intervals.wilson(events, n, 95)
    assert round(float(lo), 4) == lower
    assert round(float(hi), 4) == upper


@pytest.mark.parametrize(
    ("observed", "lower", "upper"),
    [
        # Exact (Garwood) 95% Poisson limits, as tabulated e.g. in Ulm (1990) Am J Epidemiol 131:373
        # (to 2 dp there; the 4 dp figures here are the chi-squared definition, checked against the table).
        (0, 0.0, 3.6889),
        (1, 0.0253, 5.5716),
        (5, 1.6235, 11.6683),
        (10, 4.7954, 18.3904),
        (20, 12.2165, 30.8884),
    ],
)
def test_exact_poisson_reproduces_garwood_table(observed, lower, upper):
    lo, hi = intervals.poisson_exact(observed, 95)
    assert float(lo) == pytest.approx(lower, abs=1e-4)
    assert float(hi) == pytest.approx(upper, abs=1e-4)


def test_exact_poisson_equals_chi_squared_definition_for_non_integer_counts():
    # SHMI applies the exact formula to continuous expected counts: χ²_{α/2}(2E)/2, χ²_{1−α/2}(2E+2)/2.
    e = np.array([3.7, 768.4005, 1478.9925])
    lo, hi = intervals.poisson_exact(e, 99.8)
    np.testing.assert_allclose(lo, stats.chi2.ppf(0.001, 2 * e) / 2, rtol=1e-12)
    np.testing.assert_allclose(hi, stats.chi2.ppf(0.999, 2 * e + 2) / 2, rtol=1e-12)


def test_byar_worked_example_and_closeness_to_exact():
    # Worked by hand from the formula in the PHE technical guide for O = 10 at 95%:
    # 10(1 − 1/90 − 1.959964/(3√10))³ = 4.7874 and 11(1 − 1/99 + 1.959964/(3√11))³ = 18.3915.
    lo, hi = intervals.byar(10, 95)
    assert float(lo) == pytest.approx(4.7874, abs=1e-4)
    assert float(hi) == pytest.approx(18.3915, abs=1e-4)
    # Byar's approximation is within 0.5% of the exact limits for counts of 10 and more.
    o = np.arange(10, 5000)
    b_lo, b_hi = intervals.byar(o, 95)
    e_lo, e_hi = intervals.poisson_exact(o, 95)
    assert np.max(np.abs(b_lo / e_lo - 1)) < 0.005
    assert np.max(np.abs(b_hi / e_hi - 1)) < 0.005


def test_fingertips_rule_switches_to_byar_at_ten():
    lo, hi = intervals.poisson_limits([9, 10], 95)
    exact = intervals.poisson_exact(9, 95)
    byar = intervals.byar(10, 95)
    assert (lo[0], hi[0]) == (pytest.approx(exact[0]), pytest.approx(exact[1]))
    assert (lo[1], hi[1]) == (pytest.approx(byar[0]), pytest.approx(byar[1]))


def test_standardised_ratio_scales_limits_by_expected():
    # SMR = 100·O/E with the count limits divided by E (Fingertips ISR method).
    value, lo, hi = intervals.standardised_ratio(45, 38.2, 95, multiplier=100)
    b_lo, b_hi = intervals.byar(45, 95)
    assert float(value) == pytest.approx(100 * 45 / 38.2)
    assert float(lo) == pytest.approx(100 * b_lo / 38.2)
    assert float(hi) == pytest.approx(100 * b_hi / 38.2)


def test_dobson_hand_computed_three_strata():
    # Three age bands, standard population 40/35/25; worked step by step from Dobson et al. (1991).
    observed = np.array([5.0, 20.0, 60.0])
    population = np.array([10_000.0, 8_000.0, 4_000.0])
    standard = np.array([40.0, 35.0, 25.0])
    w = standard / standard.sum()
    dsr = sum(w * observed / population)
    var = sum(w**2 * observed / population**2)
    total = observed.sum()  # 85 ≥ 10, so Byar's limits on the total
    o_lo = total * (1 - 1 / (9 * total) - 1.959964 / (3 * math.sqrt(total))) ** 3
    o_hi = (total + 1) * (1 - 1 / (9 * (total + 1)) + 1.959964 / (3 * math.sqrt(total + 1))) ** 3
    expected_lo = dsr + math.sqrt(var / total) * (o_lo - total)
    expected_hi = dsr + math.sqrt(var / total) * (o_hi - total)
    got = intervals.dobson(observed, population, standard, 95, multiplier=100_000)
    assert float(got[0]) == pytest.approx(dsr * 1e5, rel=1e-12)
    assert float(got[1]) == pytest.approx(expected_lo * 1e5, rel=1e-6)
    assert float(got[2]) == pytest.approx(expected_hi * 1e5, rel=1e-6)
    assert float(got[0]) == pytest.approx(482.5, abs=1e-9)  # 1e5·(0.4·5e-4 + 0.35·2.5e-3 + 0.25·1.5e-2)


def test_dobson_with_one_stratum_is_the_crude_rate_interval():
    got = intervals.dobson([[37.0]], [[12_345.0]], [1.0], 95, multiplier=1.0)
    crude = intervals.rate(37.0, 12_345.0, 95)
    np.testing.assert_allclose(np.ravel(got), np.ravel(crude), rtol=1e-12)


def test_dobson_is_vectorised_over_areas():
    rng = np.random.default_rng(3)
    pop = rng.integers(1_000, 50_000, size=(50, 19)).astype(float)
    obs = rng.poisson(pop * 0.01).astype(float)
    std = np.arange(1, 20, dtype=float)
    together = intervals.dobson(obs, pop, std)
    one_by_one = np.array([intervals.dobson(obs[i], pop[i], std) for i in range(50)]).T
    np.testing.assert_allclose(np.vstack(together), one_by_one, rtol=1e-12)


counts = st.integers(min_value=0, max_value=100_000)


@given(o=counts, extra=st.integers(min_value=0, max_value=100_000))
def test_wilson_contains_the_proportion_and_stays_in_unit_interval(o, extra):
    n = o + extra
    if n == 0:
        return
    lo, hi = intervals.wilson(o, n, 95)
    assert -1e-12 <= lo <= o / n + 1e-9
    assert o / n <= hi + 1e-9 <= 1 + 2e-9


@given(o=counts, low=st.floats(50, 95), high=st.floats(95.01, 99.99))
def test_intervals_widen_as_the_level_rises(o, low, high):
    for fn in (intervals.poisson_exact, intervals.byar):
        lo1, hi1 = fn(o, low)
        lo2, hi2 = fn(o, high)
        assert lo2 <= lo1 + 1e-9 and hi2 >= hi1 - 1e-9
