"""Generated tests: the vectorised XmR kernel agrees with the per-series loop reference (``conftest.py``)
on random multi-series input with missing values, ties, points on the mean, rebases and gaps, and does
not depend on the order in which series are stacked."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carelens.stats.spc import RULES, xmr

TOL = 1e-12  # kernel and reference do the same float operations in the same order

# Small integers make ties, points exactly on the mean and equal moving ranges common; NaN is missing.
value = st.one_of(st.integers(0, 6).map(float), st.just(float("nan")), st.floats(0, 6, allow_nan=False))


@st.composite
def series_sets(draw):
    n_series = draw(st.integers(1, 6))
    series = [draw(st.lists(value, min_size=1, max_size=40)) for _ in range(n_series)]
    codes = draw(st.permutations(range(n_series)))  # codes need not follow stacking order
    n = sum(len(s) for s in series)
    rare = st.lists(st.integers(0, 5), min_size=n, max_size=n).map(lambda xs: [x == 0 for x in xs])
    phase_start = draw(rare)  # a rebase starts a new phase
    gap_before = draw(rare)  # periods missing before the point
    options = draw(
        st.fixed_dictionaries(
            {
                "fix_after": st.one_of(st.none(), st.integers(2, 15)),
                "screen": st.booleans(),
                "shift_length": st.integers(2, 8),
                "trend_length": st.integers(2, 8),
                "two_in_three_beyond_process": st.booleans(),
                "precedence": st.permutations(RULES),
                "improvement": st.sampled_from(["increase", "decrease", "neutral"]),
                "target": st.one_of(st.none(), st.floats(-1, 7)),
                "min_points": st.integers(1, 15),
                "missing": st.sampled_from(["break", "skip"]),
            }
        )
    )
    return series, list(codes), np.array(phase_start, bool), np.array(gap_before, bool), options


def stack(series, codes, order):
    """Concatenate the series in ``order``; return values, codes and the slice of each series."""
    values, code_arr, slices, start = [], [], {}, 0
    for i in order:
        values += series[i]
        code_arr += [codes[i]] * len(series[i])
        slices[i] = slice(start, start + len(series[i]))
        start += len(series[i])
    return np.array(values, dtype=float), np.array(code_arr, dtype=np.int64), slices


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=series_sets())
def test_kernel_matches_loop_reference(data, spc_reference):
    series, codes, phase_start, gap_before, options = data
    _, reference_many = spc_reference
    values, code_arr, slices = stack(series, codes, range(len(series)))
    result = xmr(values, code_arr, phase_start=phase_start, gap_before=gap_before, **options)
    expected = reference_many(values, code_arr, phase_start, gap_before, **options)
    for i, part in slices.items():
        ref = expected[codes[i]]
        for key in ("mean", "upper", "lower", "near_upper", "near_lower", "moving_range"):
            np.testing.assert_allclose(
                getattr(result, key)[part], ref[key], rtol=TOL, atol=1e-12, equal_nan=True
            )
        for key in (*RULES, "rule", "point_type", "direction", "phase", "short_phase"):
            assert getattr(result, key)[part].tolist() == list(ref[key]), key
        for key in ("variation_icon", "assurance_icon", "short_series", "n_points", "n_missing", "n_phases"):
            assert getattr(result, key)[codes[i]] == ref[key], key


@settings(max_examples=150, deadline=None)
@given(series_sets(), st.randoms(use_true_random=False))
def test_order_of_series_does_not_matter(data, random):
    series, codes, _, _, options = data
    order = list(range(len(series)))
    random.shuffle(order)
    a_values, a_codes, a_slices = stack(series, codes, range(len(series)))
    b_values, b_codes, b_slices = stack(series, codes, order)
    a = xmr(a_values, a_codes, **options)
    b = xmr(b_values, b_codes, **options)
    for i in range(len(series)):
        for key in ("mean", "upper", "lower", "moving_range"):
            np.testing.assert_array_equal(getattr(a, key)[a_slices[i]], getattr(b, key)[b_slices[i]])
        for key in ("rule", "point_type", "direction", *RULES):
            assert getattr(a, key)[a_slices[i]].tolist() == getattr(b, key)[b_slices[i]].tolist()
    for key in ("variation_icon", "assurance_icon", "short_series", "n_points", "n_missing"):
        assert getattr(a, key).tolist() == getattr(b, key).tolist()
