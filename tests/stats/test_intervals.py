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


# -- edge behaviour (issue 21): each of these failed before the fix ----------------------------------


def test_byar_lower_limit_is_never_negative():
    # O = 1 at 99.8%: 1·(1 − 1/9 − 3.090232/3)³ = (−0.141188)³ = −0.0028; a count's limit is 0 there.
    lo, hi = intervals.byar(1, 99.8)
    assert float(lo) == 0.0
    assert float(hi) == pytest.approx(2 * (1 - 1 / 18 + 3.090232 / (3 * math.sqrt(2))) ** 3, rel=1e-6)
    lo, _ = intervals.byar(np.arange(0, 200), 99.8)
    assert np.all(lo >= 0)
    # the Fingertips rule never uses Byar below 10, but rates and DSRs called with method="byar" do
    assert float(intervals.rate(1, 1000, 99.8, method="byar")[1]) == 0.0


@pytest.mark.parametrize("fn", [intervals.poisson_exact, intervals.byar, intervals.poisson_limits])
def test_missing_count_gives_missing_limits(fn):
    lo, hi = fn(np.array([np.nan, 0.0, 12.0]), 95)
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    assert lo[1] == 0.0 and lo[2] > 0


def test_missing_proportion_and_rate_give_missing_limits():
    lo, hi = intervals.wilson([np.nan, 3], [10, np.nan], 95)
    assert np.isnan(lo).all() and np.isnan(hi).all()
    value, lo, hi = intervals.rate([np.nan], [1000.0], 95)
    assert np.isnan(value[0]) and np.isnan(lo[0]) and np.isnan(hi[0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: intervals.wilson([3, -1], [10, 10]),
            r"numerator must be finite and >= 0: got -1 at index 1",
        ),
        (
            lambda: intervals.wilson([3, 11], [10, 10]),
            r"numerator must not exceed denominator: got 11 > 10 at index 1",
        ),
        (lambda: intervals.wilson([0, 0], [10, 0]), r"denominator must be finite and > 0: got 0 at index 1"),
        (lambda: intervals.poisson_exact([2, -3]), r"observed must be finite and >= 0: got -3 at index 1"),
        (lambda: intervals.byar([[1, 2], [-1, 4]]), r"observed .* at index \(1, 0\)"),
        (lambda: intervals.poisson_limits([np.inf]), r"observed must be finite"),
        (lambda: intervals.rate([5, 5], [100, 0]), r"denominator must be finite and > 0: got 0 at index 1"),
        (lambda: intervals.standardised_ratio([5], [0.0]), r"expected must be finite and > 0"),
        (lambda: intervals.dobson([[1, -2]], [[10, 10]], [1, 1]), r"observed .* at index \(0, 1\)"),
        (lambda: intervals.dobson([[1, 2]], [[10, 0]], [1, 1]), r"population must be finite and > 0"),
        (lambda: intervals.dobson([[1, 2]], [[10, 10]], [0, 0]), r"standard must have a positive total"),
        (lambda: intervals.mean_t([1.0, np.inf]), r"values must be finite: got inf at index 1"),
    ],
)
def test_impossible_inputs_are_refused_naming_argument_and_index(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- indirect standardisation from reference rates ----------------------------------------------------


def test_expected_counts_and_ratio_from_reference_rates():
    # Two areas, three age bands; reference (England) events and population by band.
    ref_events = np.array([120.0, 900.0, 4_000.0])
    ref_population = np.array([1_000_000.0, 2_000_000.0, 500_000.0])
    rates = intervals.reference_rates(ref_events, ref_population)
    np.testing.assert_allclose(rates, [1.2e-4, 4.5e-4, 8e-3], rtol=1e-15)
    population = np.array([[10_000.0, 30_000.0, 4_000.0], [8_000.0, 20_000.0, 9_000.0]])
    expected = intervals.expected_counts(population, rates)
    # by hand: 1.2 + 13.5 + 32 = 46.7 and 0.96 + 9 + 72 = 81.96
    np.testing.assert_allclose(expected, [46.7, 81.96], rtol=1e-12)
    observed = np.array([58.0, 70.0])
    ratio, lo, hi, e = intervals.indirectly_standardised_ratio(
        observed, population, rates, 95, multiplier=100
    )
    np.testing.assert_allclose(e, expected, rtol=1e-15)
    np.testing.assert_allclose(ratio, 100 * observed / expected, rtol=1e-12)
    b_lo, b_hi = intervals.byar(observed, 95)  # both counts ≥ 10: Byar's (Fingertips rule)
    np.testing.assert_allclose(lo, 100 * b_lo / expected, rtol=1e-12)
    np.testing.assert_allclose(hi, 100 * b_hi / expected, rtol=1e-12)


# -- DSR for non-independent events -------------------------------------------------------------------

# PHEindicatormethods' own test data for calculate_dsr(independent_events = FALSE): two areas, three age
# bands, people with 1 or 2 events; standard population 5500/12500/3500.
NI_STANDARD = np.array([5500.0, 12500.0, 3500.0])
NI_FREQUENCY = np.array([1.0, 2.0])
NI_PEOPLE = np.array(
    [
        [[10.0, 20.0, 15.0], [1.0, 2.0, 3.0]],  # North: people with 1 event, with 2 events, by band
        [[8.0, 16.0, 12.0], [1.0, 1.0, 2.0]],  # South
    ]
)
NI_POPULATION = np.array([[5000.0, 12000.0, 3000.0], [4800.0, 11000.0, 3200.0]])


def reference_dsr_non_independent(people, frequency, population, standard, z):
    """PHEindicatormethods' documented steps, one area at a time in plain Python: a Dobson variance for
    each event-frequency group, multiplied by the frequency squared and summed; Byar's limits on the total
    event count."""
    total_std = sum(standard)
    events = [sum(f * people[k][i] for k, f in enumerate(frequency)) for i in range(len(standard))]
    dsr = sum(e * s / n for e, s, n in zip(events, standard, population, strict=True)) / total_std
    var = 0.0
    for k, f in enumerate(frequency):
        var_k = sum(x * (s / n) ** 2 for x, s, n in zip(people[k], standard, population, strict=True))
        var += f * f * var_k / total_std**2
    o = sum(events)
    lo = o * (1 - 1 / (9 * o) - z / (3 * math.sqrt(o))) ** 3
    hi = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * math.sqrt(o + 1))) ** 3
    return dsr * 1e5, (dsr + math.sqrt(var / o) * (lo - o)) * 1e5, (dsr + math.sqrt(var / o) * (hi - o)) * 1e5


def test_dsr_non_independent_follows_phe_method_on_its_test_data():
    got = intervals.dobson_non_independent(
        NI_PEOPLE, NI_FREQUENCY, NI_POPULATION, NI_STANDARD, 95, method="byar"
    )
    for area in range(2):
        ref = reference_dsr_non_independent(
            NI_PEOPLE[area].tolist(),
            NI_FREQUENCY.tolist(),
            NI_POPULATION[area].tolist(),
            NI_STANDARD,
            1.959964,
        )
        assert [float(g[area]) for g in got] == pytest.approx(ref, rel=1e-6)
    # North by hand: events by band 12, 24, 21 (57); DSR = (12·5500/5000 + 24·12500/12000 + 21·3500/3000)
    # / 21500 = 62.7 / 21500 per person → 291.6279 per 100,000.
    assert float(got[0][0]) == pytest.approx((13.2 + 25.0 + 24.5) / 21500 * 1e5, rel=1e-12)
    assert float(got[0][0]) == pytest.approx(291.6279, abs=1e-4)


def test_dsr_non_independent_equals_dobson_value_and_widens_its_interval():
    # The PHEindicatormethods vignette: the DSR is that of the events counted as independent, the
    # interval is wider. With everyone having one event the two methods are identical.
    events = np.einsum("k,akb->ab", NI_FREQUENCY, NI_PEOPLE)
    independent = intervals.dobson(events, NI_POPULATION, NI_STANDARD, 95)
    clustered = intervals.dobson_non_independent(NI_PEOPLE, NI_FREQUENCY, NI_POPULATION, NI_STANDARD, 95)
    np.testing.assert_allclose(clustered[0], independent[0], rtol=1e-12)
    assert np.all(clustered[1] < independent[1]) and np.all(clustered[2] > independent[2])
    single = intervals.dobson_non_independent(events[:, None, :], [1.0], NI_POPULATION, NI_STANDARD, 95)
    np.testing.assert_allclose(np.vstack(single), np.vstack(independent), rtol=1e-12)


def test_dsr_non_independent_checks_its_shapes():
    with pytest.raises(ValueError, match="people must have shape"):
        intervals.dobson_non_independent(NI_PEOPLE, [1.0, 2.0, 3.0], NI_POPULATION, NI_STANDARD)
    with pytest.raises(ValueError, match="event_frequency must be finite and > 0"):
        intervals.dobson_non_independent(NI_PEOPLE, [0.0, 2.0], NI_POPULATION, NI_STANDARD)


# -- means with a Student's t interval ----------------------------------------------------------------


def test_mean_t_reproduces_phe_mean_examples():
    # PHEindicatormethods phe_mean examples: 30, 40, 50, 60 (mean 45, sd 12.909944); t(0.975, 3) =
    # 3.182446 (tables) → 45 ∓ 20.542603. Grouped: 20/30/40 and 200/300/400, t(0.975, 2) = 4.302653.
    mean, lo, hi, n, sd = intervals.mean_t([30.0, 40.0, 50.0, 60.0])
    assert (float(mean[0]), int(n[0])) == (45.0, 4)
    assert float(sd[0]) == pytest.approx(12.909944, abs=1e-6)
    assert float(lo[0]) == pytest.approx(45 - 3.182446 * 12.909944 / 2, abs=1e-5)
    assert float(hi[0]) == pytest.approx(65.542603, abs=1e-5)
    mean, lo, hi, n, sd = intervals.mean_t([20.0, 30.0, 40.0, 200.0, 300.0, 400.0], [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(mean, [30.0, 300.0])
    np.testing.assert_allclose(
        lo, [30 - 4.302653 * 10 / math.sqrt(3), 300 - 4.302653 * 100 / math.sqrt(3)], rtol=1e-6
    )
    np.testing.assert_allclose(hi, [54.841377, 548.413772], rtol=1e-6)


def test_mean_t_skips_missing_values_and_needs_two_values():
    mean, lo, hi, n, sd = intervals.mean_t([5.0, np.nan, 7.0, 3.0, np.nan], [0, 0, 0, 1, 2])
    assert mean.tolist()[:2] == [6.0, 3.0] and np.isnan(mean[2])
    assert n.tolist() == [2, 1, 0]
    assert np.isnan(lo[1]) and np.isnan(hi[1]) and np.isnan(sd[1])
    assert float(lo[0]) == pytest.approx(6 - stats.t.ppf(0.975, 1) * math.sqrt(2) / math.sqrt(2))


@given(
    groups=st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=12), min_size=1, max_size=6
    ),
    level=st.sampled_from([90, 95, 99.8]),
)
def test_mean_t_vectorised_equals_one_group_at_a_time(groups, level):
    values = [v for g in groups for v in g]
    codes = [i for i, g in enumerate(groups) for _ in g]
    if not values:
        return
    mean, lo, hi, n, _ = intervals.mean_t(values, np.array(codes, dtype=np.int64), level)
    for i, g in enumerate(groups[: max(codes) + 1]):
        assert n[i] == len(g)
        if len(g) < 2:
            assert np.isnan(lo[i])
            continue
        m = sum(g) / len(g)
        s = math.sqrt(sum((x - m) ** 2 for x in g) / (len(g) - 1))
        t = stats.t.ppf(0.5 + level / 200, len(g) - 1)
        assert mean[i] == pytest.approx(m, rel=1e-9, abs=1e-6)
        assert lo[i] == pytest.approx(m - t * s / math.sqrt(len(g)), rel=1e-7, abs=1e-5)
        assert hi[i] == pytest.approx(m + t * s / math.sqrt(len(g)), rel=1e-7, abs=1e-5)


# -- the interval of a published figure, by value type (what charts draw) ----------------------------


def test_figure_interval_of_a_proportion_is_wilson_newcombe_1998():
    # Newcombe (1998) Table II, Wilson score, 95%, to 4 dp: 81/263 and 15/148.
    lo, hi = intervals.figure_interval("proportion", [81, 15], [263, 148], 95)
    assert np.round(lo, 4).tolist() == [0.2553, 0.0624]
    assert np.round(hi, 4).tolist() == [0.3662, 0.1605]


def test_figure_interval_of_a_ratio_or_rate_is_the_counts_poisson_interval_over_its_size():
    # Below 10 the exact (Garwood) limits, as tabulated (Ulm 1990; 5 → 1.6235 to 11.6683), divided by
    # the expected count; from 10 Byar's (10 → 4.7874 to 18.3915, the PHE guide's formula), to 1e-4.
    lo, hi = intervals.figure_interval("indirectly_standardised_ratio", [5, 10], [4.0, 8.0], 95)
    assert lo.tolist() == pytest.approx([1.6235 / 4.0, 4.7874 / 8.0], abs=1e-4)
    assert hi.tolist() == pytest.approx([11.6683 / 4.0, 18.3915 / 8.0], abs=1e-4)
    lo, hi = intervals.figure_interval("rate", [5], [1000.0], 95)
    assert (float(lo[0]), float(hi[0])) == (
        pytest.approx(1.6235e-3, abs=1e-7),
        pytest.approx(11.6683e-3, abs=1e-7),
    )
    # SciPy's chi-squared definition of the exact limits, to 1e-12 relative, at a non-integer count.
    lo, hi = intervals.figure_interval("indirectly_standardised_ratio", 7.5, 6.25, 95)
    assert float(lo) == pytest.approx(stats.chi2.ppf(0.025, 15) / 2 / 6.25, rel=1e-12)
    assert float(hi) == pytest.approx(stats.chi2.ppf(0.975, 17) / 2 / 6.25, rel=1e-12)


def test_figure_interval_is_missing_where_the_counts_cannot_give_one():
    # missing count, zero size, negative count, a proportion above 1: no interval, and no error
    lo, hi = intervals.figure_interval("proportion", [np.nan, 3, -1, 12, 4], [10, 0, 10, 10, 10])
    assert np.isnan(lo[:4]).all() and np.isnan(hi[:4]).all()
    assert 0 <= lo[4] < 0.4 < hi[4] <= 1
    with pytest.raises(ValueError, match="value_type"):
        intervals.figure_interval("mean", 1, 2)
