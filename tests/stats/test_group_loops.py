"""Generated tests: the compiled group loops give the numbers of the NumPy forms they replace, to the
bit (``group_references``), on awkward data: NaN, ±inf, signed zeros, ties, empty and one-row groups,
groups large enough for the bucket selection and values spread too wide for it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carelens.stats import group_loops
from carelens.stats.funnel import funnel, funnel_fit
from carelens.stats.groups import Groups

from . import group_references as reference

special = st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.0, 2.5, 1e-300, 5e-324, 1e308, -1e308])
number = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), special)


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaN where NaN, and the same sign bit everywhere else (so -0.0 is not 0.0)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
        return False
    numbers = ~np.isnan(a) if a.dtype.kind == "f" else np.ones(a.shape, dtype=bool)
    return bool(np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers])))


@st.composite
def grouped_rows(draw, values=number, max_size=120):
    """Group codes (some groups left empty) and a value per row."""
    n_groups = draw(st.integers(1, 6))
    size = draw(st.integers(0, max_size))
    codes = np.array(
        draw(st.lists(st.integers(0, n_groups - 1), min_size=size, max_size=size)), dtype=np.int64
    )
    x = np.array(draw(st.lists(values, min_size=size, max_size=size)), dtype=float)
    return Groups(codes, n_groups + draw(st.integers(0, 2))), x


@st.composite
def large_groups(draw):
    """A few groups of up to a few thousand rows (beyond the small-block sort), drawn from a seeded
    generator in one of several shapes: smooth, heavy-tailed, tied, sorted, with infinities or NaN,
    spread over the whole float range."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = draw(st.integers(0, 3000))
    shape = draw(
        st.sampled_from(["normal", "cauchy", "ties", "sorted", "reversed", "infinite", "nan", "wide", "tiny"])
    )
    x = {
        "normal": lambda: rng.normal(size=size),
        "cauchy": lambda: rng.standard_cauchy(size) * 1e6,
        "ties": lambda: rng.integers(-2, 3, size).astype(float),
        "sorted": lambda: np.sort(rng.normal(size=size)),
        "reversed": lambda: np.sort(rng.normal(size=size))[::-1].copy(),
        "infinite": lambda: np.where(
            rng.random(size) < 0.3, rng.choice([np.inf, -np.inf], size), rng.normal(size=size)
        ),
        "nan": lambda: np.where(rng.random(size) < 0.3, np.nan, rng.normal(size=size)),
        "wide": lambda: rng.choice([1e308, -1e308, 0.0, 1.0, -1.0, 5e-324], size),
        "tiny": lambda: rng.normal(size=size) * 1e-310,
    }[shape]()
    n_groups = draw(st.integers(1, 4))
    return Groups(
        np.sort(rng.integers(0, n_groups, size)) if shape == "sorted" else rng.integers(0, n_groups, size),
        n_groups,
    ), x


quantile_levels = st.lists(st.floats(0, 1), min_size=1, max_size=5) | st.just([0.1, 0.9])


@given(data=grouped_rows(), qs=quantile_levels)
def test_quantiles_match_one_sort_of_all_rows(data, qs):
    groups, x = data
    np.testing.assert_array_equal(groups.quantiles(x, qs), reference.quantiles_by_sorting(groups, x, qs))


@settings(max_examples=60, deadline=None)
@given(data=large_groups(), qs=quantile_levels)
def test_quantiles_of_large_groups_match_one_sort_of_all_rows(data, qs):
    """Groups beyond the small-block sort take the bucket selection (or, for values spread too wide or
    nearly constant, direct selection): the same order statistics whatever the shape of the data."""
    groups, x = data
    np.testing.assert_array_equal(groups.quantiles(x, qs), reference.quantiles_by_sorting(groups, x, qs))


@given(data=grouped_rows())
def test_ranks_match_one_sort_of_all_rows(data):
    groups, x = data
    assert identical(groups.rank(x), reference.ranks_by_sorting(groups, x))


@settings(max_examples=40, deadline=None)
@given(data=large_groups())
def test_ranks_of_large_groups_match_one_sort_of_all_rows(data):
    groups, x = data
    assert identical(groups.rank(x), reference.ranks_by_sorting(groups, x))


@given(data=grouped_rows(), others=st.data())
def test_dispersion_sums_match_bincount_of_clipped_values(data, others):
    """Count, Σ clip(z)², Σ w and Σ w² over kept rows: np.clip's result (NaN bounds and signed zeros
    included) and np.bincount's sums, bit for bit."""
    groups, z = data
    size, n = len(z), groups.n
    s = np.array(others.draw(st.lists(st.floats(1e-200, 1e200) | special, min_size=size, max_size=size)))
    keep = np.array(others.draw(st.lists(st.booleans(), min_size=size, max_size=size)), dtype=bool)
    low = np.array(others.draw(st.lists(number, min_size=n, max_size=n)))
    high = np.array(others.draw(st.lists(number, min_size=n, max_size=n)))
    got = group_loops.dispersion_sums(groups.codes, n, z, s, keep, low, high)
    expected = reference.dispersion_sums(groups, z, s, keep, low, high)
    for a, b in zip(got, expected, strict=True):
        assert identical(a, b)


@given(data=grouped_rows(), others=st.data())
def test_sums_and_group_subtraction_match_numpy(data, others):
    groups, x = data
    size, n = len(x), groups.n
    y = np.array(others.draw(st.lists(number, min_size=size, max_size=size)))
    per_group = np.array(others.draw(st.lists(number, min_size=n, max_size=n)))
    sum_x, sum_y = group_loops.sums2(groups.codes, n, x, y)
    assert identical(sum_x, groups.sum(x)) and identical(sum_y, groups.sum(y))
    with np.errstate(all="ignore"):
        expected = x - per_group[groups.codes]
    group_loops.subtract_per_group(x, per_group, groups.codes)
    assert identical(x, expected)


@given(data=grouped_rows(), others=st.data())
def test_adjusted_z_matches_numpy(data, others):
    groups, z = data
    size, n = len(z), groups.n
    residual = np.array(others.draw(st.lists(number, min_size=size, max_size=size)))
    s = np.array(others.draw(st.lists(st.floats(0, 1e200) | special, min_size=size, max_size=size)))
    tau2 = np.array(others.draw(st.lists(st.floats(0, 1e6) | special, min_size=n, max_size=n)))
    adjusted = np.array(others.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    root = group_loops.adjusted_variance(groups.codes, s, tau2, adjusted)
    with np.errstate(all="ignore"):
        np.sqrt(root, out=root)
    got = group_loops.adjusted_z(groups.codes, z, residual, root, adjusted)
    assert identical(got, reference.adjusted_z(groups, z, residual, s, tau2, adjusted))


def test_a_rank_outside_its_group_is_refused():
    grouped, starts = group_loops.blocks_of(np.zeros(3, dtype=np.int64), 1, np.array([3.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="rank outside its group"):
        group_loops.order_statistics(grouped, starts, np.array([[3]], dtype=np.int64))


@st.composite
def funnels(draw):
    """Units of a few funnels: counts and denominators of a kind, with group codes."""
    kind, method = draw(st.sampled_from([("pr", "cqc"), ("rc", "cqc"), ("sr", "cqc"), ("sr", "shmi")]))
    size = draw(st.integers(1, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    d = np.round(np.exp(rng.normal(5, 1.5, size))) + 1
    rate = rng.gamma(4, 0.25 / 4 if kind == "pr" else 1 / 4, size)
    o = (
        np.minimum(rng.poisson(d * rate).astype(float), d)
        if kind == "pr"
        else rng.poisson(d * rate).astype(float)
    )
    codes = rng.integers(0, draw(st.integers(1, 8)), size)
    return kind, method, o, d, codes


@settings(max_examples=50, deadline=None)
@given(case=funnels(), gap=st.integers(1, 50), trim=st.sampled_from([0.0, 0.1, 0.2]))
def test_funnel_rows_do_not_depend_on_how_groups_are_numbered(case, gap, trim):
    """The monitoring kernel passes its funnel codes as they are, with unused numbers between them:
    every row's figures are those of the densely numbered groups, to the bit."""
    kind, method, o, d, codes = case
    _, dense = np.unique(codes, return_inverse=True)
    # Numbered backwards, ``gap`` apart, from 3: most numbers belong to no row.
    sparse = Groups((dense.max() - dense) * gap + 3, int(dense.max()) * gap + 4)
    options = dict(kind=kind, method=method, trim=trim)
    a = funnel(o, d, groups=Groups.from_codes(dense), levels=(95.0, 99.8), exact_poisson=False, **options)
    b = funnel(o, d, groups=sparse, levels=(95.0, 99.8), exact_poisson=False, **options)
    for name in ("value", "target", "z", "z_adjusted", "lower", "upper"):
        assert identical(getattr(a, name), getattr(b, name)), name
    for name in ("phi", "tau2", "od_adjusted", "od_note"):
        assert np.array_equal(getattr(a, name)[a.group_codes], getattr(b, name)[b.group_codes]), name
    fit = funnel_fit(o, d, groups=sparse, **options)
    assert identical(fit.z_adjusted, b.z_adjusted) and identical(fit.z, b.z)
