"""Vectorised group operations agree with per-group NumPy/SciPy computations."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from carelens.stats.groups import Groups

from .group_references import quantiles_by_sorting

values = st.lists(
    st.tuples(
        st.integers(0, 5), st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0, np.nan]) | st.floats(-10, 10)
    ),
    min_size=1,
    max_size=80,
)


@given(rows=values)
def test_rank_sum_count_quantile_match_per_group_reference(rows):
    keys = np.array([k for k, _ in rows])
    x = np.array([v for _, v in rows], dtype=float)
    groups = Groups.from_keys(keys)
    ranks = groups.rank(x)
    q10 = groups.quantile(x, 0.1)
    sums = groups.sum(np.nan_to_num(x))
    for code in range(groups.n):
        member = groups.codes == code
        finite = member & ~np.isnan(x)
        if finite.any():
            np.testing.assert_allclose(ranks[finite], stats.rankdata(x[finite]))
            np.testing.assert_allclose(q10[code], np.quantile(x[finite], 0.1))
        else:
            assert np.isnan(q10[code])
        assert np.isnan(ranks[member & np.isnan(x)]).all()
        np.testing.assert_allclose(sums[code], np.nansum(x[member]))
        assert groups.count()[code] == member.sum()


@given(
    rows=values,
    qs=st.lists(st.floats(0, 1), min_size=1, max_size=4),
    extreme=st.sampled_from([None, np.inf, -np.inf]),
)
def test_quantiles_are_those_of_one_sort_of_all_rows(rows, qs, extreme):
    """The compiled selection gives the quantiles that sorting every group would give, to the bit (NaN
    and ±inf included), and agrees with NumPy's own quantile."""
    keys = np.array([k for k, _ in rows])
    x = np.array([v for _, v in rows], dtype=float)
    if extreme is not None:
        x[::7] = extreme
    groups = Groups.from_keys(keys)
    got = groups.quantiles(x, qs)
    np.testing.assert_array_equal(got, quantiles_by_sorting(groups, x, qs))
    for code in range(groups.n):
        finite = (groups.codes == code) & ~np.isnan(x)
        if finite.any() and np.isfinite(x[finite]).all():
            # NumPy interpolates with another (equally valid) formula: between neighbours of opposite
            # sign a result near 0 may differ by a few units in the last place of the neighbours.
            scale = np.abs(x[finite]).max()
            np.testing.assert_allclose(
                got[:, code], np.quantile(x[finite], qs), rtol=1e-7, atol=1e-12 * scale
            )


def test_quantiles_refuse_a_level_outside_0_1():
    with pytest.raises(ValueError, match="quantiles must be in"):
        Groups.single(3).quantiles(np.array([1.0, 2.0, 3.0]), (0.5, 1.5))


def test_from_keys_combines_several_columns_in_order_of_first_appearance():
    groups = Groups.from_keys(np.array(["a", "b", "a", "a"]), np.array([1, 1, 1, 2]))
    assert groups.codes.tolist() == [0, 1, 0, 2]
    assert groups.n == 3
    np.testing.assert_allclose(groups.mean(np.array([1.0, 2.0, 3.0, 4.0])), [2.0, 2.0, 4.0])
    np.testing.assert_allclose(groups.broadcast(np.array([10, 20, 30])), [10, 20, 10, 30])
