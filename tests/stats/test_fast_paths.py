"""Generated tests: the kernels' faster forms of NumPy operations give the very numbers of the plain ones
(``running_count`` for ``np.cumsum`` of a mask, ``sign_codes`` for ``np.sign`` with NaN as 0) and the
two-pass input check refuses exactly what the full check refuses, with the same message."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carelens.stats.groups import running_count
from carelens.stats.intervals import check_values
from carelens.stats.spc import sign_codes

special = st.sampled_from([0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1e-300, -1e-300])
number = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), special)


@given(st.lists(st.booleans(), max_size=300))
def test_running_count_is_cumsum(mask):
    mask = np.array(mask, dtype=bool)
    expected = np.cumsum(mask)
    got = running_count(mask)
    assert got.dtype == np.int64 and np.array_equal(got, expected)


@given(st.lists(number, max_size=300))
def test_sign_codes_are_sign_with_nan_as_zero(values):
    x = np.array(values, dtype=float)
    with np.errstate(invalid="ignore"):
        expected = np.where(np.isnan(np.sign(x)), 0, np.sign(x)).astype(np.int8)
    got = sign_codes(x)
    assert got.dtype == np.int8 and np.array_equal(got, expected)


def _full_check(values, positive, allow_missing):
    """The check without its fast path: what it must refuse (None when the values pass)."""
    a = np.asarray(values, dtype=float)
    missing = np.isnan(a)
    if not allow_missing and missing.any():
        return "must not be missing"
    with np.errstate(invalid="ignore"):
        bad = ~missing & (~np.isfinite(a) | ((a <= 0) if positive else (a < 0)))
    return "must be finite" if bad.any() else None


@given(st.lists(number, max_size=50), st.booleans(), st.booleans())
def test_check_values_refuses_what_the_full_check_refuses(values, positive, allow_missing):
    refused = _full_check(values, positive, allow_missing)
    if refused is None:
        out = check_values(values, "x", positive=positive, allow_missing=allow_missing)
        assert np.array_equal(out, np.asarray(values, dtype=float), equal_nan=True)
    else:
        with pytest.raises(ValueError, match=refused):
            check_values(values, "x", positive=positive, allow_missing=allow_missing)
