"""Compiled loops behind the digests of :mod:`carelens.monitor.engines`: each column of a table hashed
as ``pd.util.hash_array`` hashes it and folded into its rows' hashes as ``pd.util.hash_pandas_object``
combines columns, in one loop over the rows per column, with no array in between.

The steps are pandas' (``pandas.core.util.hashing``, 3.1): a value's bits as an unsigned 64-bit integer
(booleans and narrower integers zero-extended from their own width; a float's bits with every NaN
made NumPy's NaN and -0.0 made 0.0; dates and times as their integer count), mixed by ``x ^= x >> 30;
x *= 0xBF58476D1CE4E5B9; x ^= x >> 27; x *= 0x94D049BB133111EB; x ^= x >> 31``; a categorical's
value the hash of its category (hashed by pandas, once per category), a missing one 2**64 - 1; a row
``((0x345678 ^ h0) * m0 ^ h1) * m1 ... + 97531`` with pandas' multipliers. Only integer operations,
so the values are pandas' to the bit. Compiled with ``cache=True``; import this module where it is
used (importing numba takes a few tenths of a second).
"""

from __future__ import annotations

import numba
import numpy as np

_SHIFT_30 = np.uint64(30)
_SHIFT_27 = np.uint64(27)
_SHIFT_31 = np.uint64(31)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
MISSING = np.uint64(2**64 - 1)
"""The hash of a missing categorical value (pandas' ``lib.u8max``)."""


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    x ^= x >> _SHIFT_30
    x *= _MIX_1
    x ^= x >> _SHIFT_27
    x *= _MIX_2
    x ^= x >> _SHIFT_31
    return x


@numba.njit(cache=True, nogil=True)
def fold_bits(out: np.ndarray, bits: np.ndarray, multiplier: np.uint64) -> None:
    """Fold a column of unsigned integers (a value's bits, any width) into the row hashes ``out``."""
    for i in range(len(out)):
        out[i] = (out[i] ^ _mix(np.uint64(bits[i]))) * multiplier


@numba.njit(cache=True, nogil=True)
def fold_floats(
    out: np.ndarray, values: np.ndarray, bits: np.ndarray, nan_bits: np.uint64, multiplier: np.uint64
) -> None:
    """Fold a float column (``bits``: the same memory as unsigned integers) into ``out``: NaN hashes as
    ``nan_bits`` whatever its sign or payload, -0.0 as 0.0."""
    zero = np.uint64(0)
    for i in range(len(out)):
        x = values[i]
        if x != x:
            b = nan_bits
        elif x == 0.0:
            b = zero
        else:
            b = np.uint64(bits[i])
        out[i] = (out[i] ^ _mix(b)) * multiplier


@numba.njit(cache=True, nogil=True)
def fold_codes(out: np.ndarray, codes: np.ndarray, table: np.ndarray, multiplier: np.uint64) -> None:
    """Fold a categorical column into ``out``: code ``c`` hashes as ``table[c]``, -1 (missing) as
    :data:`MISSING`."""
    for i in range(len(out)):
        c = codes[i]
        h = table[c] if c >= 0 else MISSING
        out[i] = (out[i] ^ h) * multiplier


@numba.njit(cache=True, nogil=True)
def fold_hashed(out: np.ndarray, hashes: np.ndarray, multiplier: np.uint64) -> None:
    """Fold a column already hashed (by pandas) into ``out``."""
    for i in range(len(out)):
        out[i] = (out[i] ^ hashes[i]) * multiplier
