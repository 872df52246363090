"""Each named step of the monitoring kernel, table by table (carelens.monitor.kernel)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from carelens.monitor import kernel
from carelens.monitor.comparison import comparison_for
from carelens.monitor.settings import load_settings

SETTINGS = dataclasses.replace(load_settings(), min_denominator=20, min_expected=5, min_units=3)


def spec(value_type: str = "proportion", polarity: str = "lower_is_better"):
    return comparison_for("x", {"value_type": value_type, "polarity": polarity}, SETTINGS)


def days(*dates: str) -> np.ndarray:
    return np.array(dates, dtype="datetime64[D]").astype(np.int64)


@pytest.mark.parametrize(
    ("judged_periods", "judged"),
    [
        (1, [False, False, False, True, True]),
        (2, [False, False, True, True, True]),
        (None, [True, True, True, True, True]),
    ],
)
def test_periods_position_rows_on_the_axis_of_distinct_periods(judged_periods, judged):
    # January, March (February missing: no position for it), April, April, then April again.
    when = kernel.periods_of(
        days("2024-01-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-05-01"), judged_periods
    )
    assert when.position.tolist() == [0, 1, 2, 3, 3]
    assert when.last_position == 3 and when.at_latest.tolist() == [False, False, False, True, True]
    assert when.judged.tolist() == judged


def test_series_are_the_blocks_of_rows_of_one_organisation():
    day = days("2024-01-01", "2024-02-01", "2024-01-01", "2024-02-01", "2024-04-01", "2024-04-01")
    when, first, series, last_row = kernel._periods_and_series(day, np.array([3, 3, 5, 5, 5, 9]), 2)
    assert when.position.tolist() == [0, 1, 0, 1, 2, 2] and when.judged.tolist() == [0, 1, 0, 1, 1, 1]
    assert first.tolist() == [1, 0, 1, 0, 0, 1] and series.tolist() == [0, 0, 1, 1, 1, 2]
    assert last_row.tolist() == [1, 4, 5]


@pytest.mark.parametrize(
    ("value_type", "o", "d", "e", "eligible", "reason"),
    [
        ("proportion", 5, 100, np.nan, True, ""),
        ("proportion", 5, 19, np.nan, False, "denominator below the minimum"),
        ("proportion", 30, 20, np.nan, False, "missing or invalid counts"),  # numerator above denominator
        ("proportion", -1, 100, np.nan, False, "missing or invalid counts"),
        ("proportion", np.nan, 100, np.nan, False, "missing or invalid counts"),
        ("rate", 30, 20, np.nan, True, ""),  # a rate may exceed 1
        ("indirectly_standardised_ratio", 7, np.nan, 6.0, True, ""),
        ("indirectly_standardised_ratio", 7, 1000, 4.9, False, "expected count below the minimum"),
        ("indirectly_standardised_ratio", 7, 1000, 0.0, False, "missing or invalid counts"),
    ],
)
def test_eligibility_needs_valid_counts_and_enough_behind_them(value_type, o, d, e, eligible, reason):
    checked = kernel.eligibility(
        np.array([o], float), np.array([d], float), np.array([e], float), spec(value_type)
    )
    assert bool(checked.eligible[0]) is eligible
    assert kernel.REASONS[checked.reason[0]] == reason
    if reason == "missing or invalid counts":
        assert np.isnan(checked.value[0])  # no value to show
    else:  # a small denominator still has its value, only not compared
        assert checked.value[0] == pytest.approx(o / (e if value_type.startswith("indirectly") else d))


def test_a_funnel_needs_enough_peers_and_a_rate_funnel_needs_events():
    o = np.array([1, 2, 3, 0, 0, 0, 5], float)
    d = np.full(7, 100.0)
    group = np.array([0, 0, 0, 1, 1, 1, 2])  # group 2 has one unit only
    checked = kernel.eligibility(o, d, np.full(7, np.nan), spec("proportion"))
    comparable, units = kernel.comparable_rows(o, group, checked, spec("proportion"))
    assert comparable.tolist() == [True] * 6 + [False] and units.tolist() == [3, 3, 1]
    assert kernel.REASONS[checked.reason[6]] == "too few comparable peers in the funnel"
    checked = kernel.eligibility(o, d, np.full(7, np.nan), spec("rate"))
    comparable, _ = kernel.comparable_rows(o, group, checked, spec("rate"))
    assert comparable.tolist() == [True, True, True, False, False, False, False]
    assert [kernel.REASONS[c] for c in checked.reason[3:6]] == ["no events among peers"] * 3


@pytest.mark.parametrize(
    ("value_type", "zero_above"),
    [
        ("proportion", None),
        ("proportion", 50.0),
        ("rate", None),
        ("indirectly_standardised_ratio", 50.0),
    ],
)
def test_step_one_in_one_compiled_pass_is_the_numpy_steps(value_type, zero_above):
    # Counts with every case of step 1: missing, negative, zero, above the denominator, small, big; funnel
    # groups of a few units, some with no events, with rows of a group far apart.
    rng = np.random.default_rng(7)
    n = 4000
    o = rng.choice([np.nan, -1.0, 0.0, 0.0, 1.0, 3.0, 40.0, 250.0], n)
    d = rng.choice([np.nan, 0.0, 10.0, 19.0, 20.0, 100.0, 300.0], n)
    e = rng.choice([np.nan, 0.0, 2.0, 4.9, 5.0, 60.0], n)
    group = rng.integers(0, 400, n)
    group[group % 7 == 0] = 3  # one big group, others of about ten rows
    comparison = dataclasses.replace(spec(value_type), implausible_zero_above=zero_above)
    checked, comparable, units = kernel.checked_rows(o, d, e, group, comparison)
    expected = kernel.eligibility(o, d, e, comparison)
    expected_comparable, expected_units = kernel.comparable_rows(o, group, expected, comparison)
    for name in ("value", "valid", "eligible", "reason"):
        np.testing.assert_array_equal(getattr(checked, name), getattr(expected, name), strict=True)
    np.testing.assert_array_equal(comparable, expected_comparable, strict=True)
    np.testing.assert_array_equal(units, expected_units, strict=True)
    assert comparable.any() and not comparable.all() and (expected.reason == kernel._R_FEW_PEERS).any()


@pytest.mark.parametrize(
    ("polarity", "z", "flag", "why"),
    [
        ("lower_is_better", 0.5, "no evidence of risk", ""),
        ("lower_is_better", 2.0, "risk", "adverse z_adjusted beyond the risk threshold"),
        ("lower_is_better", 3.5, "elevated risk", "adverse z_adjusted beyond the elevated-risk threshold"),
        ("lower_is_better", -3.5, "no evidence of risk", ""),  # better, not a risk
        ("higher_is_better", -2.0, "risk", "adverse z_adjusted beyond the risk threshold"),
        ("neutral", 5.0, "not scored", "neutral polarity: compared, not scored"),
    ],
)
def test_flags_are_the_verdict_in_the_adverse_direction(polarity, z, flag, why):
    code, reason = kernel.flags_of(
        np.array([z]), np.array([True]), np.array([True]), np.array([0], np.int8), spec(polarity=polarity)
    )
    assert kernel.FLAG_LABELS[int(code[0])] == flag and kernel.REASONS[reason[0]] == why


def test_without_a_figure_for_the_latest_period_there_is_no_flag():
    code, reason = kernel.flags_of(
        np.array([np.nan]), np.array([False]), np.array([False]), np.array([0], np.int8), spec()
    )
    assert kernel.FLAG_LABELS[int(code[0])] == "insufficient data"
    assert kernel.REASONS[reason[0]] == "no observation for the latest period"


def test_benchmark_compares_each_interval_with_the_england_value():
    o = np.array([100.0, 160.0, 70.0, 100.0])
    d = np.full(4, 1000.0)
    reported = np.array([0, 1, 2, -1])  # the fourth series has no latest figure
    england, lower, upper, code = kernel.benchmark(
        o, d, np.full(4, np.nan), reported, np.arange(3), spec(), 95
    )
    assert england[0] == pytest.approx(330 / 3000)
    assert code.tolist() == [0, 1, -1, 9] and np.isnan(lower[3])
    assert lower[1] > england[1] > upper[2]


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
@pytest.mark.parametrize("with_missing", [False, True])
def test_used_codes_is_bincount_in_one_pass(dtype, with_missing):
    # As a categorical's codes come: its own code type, -1 for a missing value, some categories unused.
    from carelens.monitor.kernel_loops import used_codes

    rng = np.random.default_rng(11)
    n = 100 if dtype == np.int8 else 3000
    codes = rng.integers(0, n, 20_000).astype(dtype)
    codes[codes % 5 == 0] = 1  # a fifth of the categories never used
    if with_missing:
        codes[::97] = -1
    used, missing = used_codes(codes, n)
    np.testing.assert_array_equal(used, np.bincount(codes[codes >= 0], minlength=n) > 0, strict=True)
    assert missing == with_missing and not used.all()


@pytest.mark.parametrize("unused", [False, True])
@pytest.mark.parametrize("with_missing", [False, True])
def test_sorted_codes_of_a_categorical_are_those_of_factorize(unused, with_missing):
    # Categories in no particular order, some perhaps unused or missing: coded as pd.factorize(sort=True)
    # codes the text, whatever the categorical's own order.
    import pandas as pd

    values = ["RX1", "A02", "RX1", "B07", "A02", "C11"] + ([None] if with_missing else [])
    categories = ["RX1", "C11", "A02", "B07"] + (["Z99", "A00"] if unused else [])
    column = pd.Series(pd.Categorical(values, categories=categories))
    codes, names = kernel._sorted_codes(column)
    expected_codes, expected_names = pd.factorize(pd.Series(values, dtype=object), sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    assert list(names) == list(expected_names)
