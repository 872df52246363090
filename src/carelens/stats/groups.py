"""Vectorised group-wise operations: sums, counts, ranks and quantiles for many groups at once.

Every kernel in ``carelens.stats`` works on whole columns where each row carries a group code
(indicator × period × peer group for funnels, organisation × indicator for control charts). These
helpers do the per-group arithmetic with ``bincount``, and order statistics with compiled loops
(:mod:`carelens.stats.group_loops`), never a Python loop per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def running_count(mask: np.ndarray) -> np.ndarray:
    """``np.cumsum(mask)`` of a boolean mask (int64): the same numbers, several times faster, as NumPy
    adds booleans one at a time but 64-bit integers in vector registers."""
    return np.asarray(mask).astype(np.int64).cumsum()


@dataclass(frozen=True)
class Groups:
    """Integer group codes ``0..n-1`` for each row, and the number of groups ``n``."""

    codes: np.ndarray
    n: int

    @classmethod
    def single(cls, size: int) -> Groups:
        """All rows in one group."""
        return cls(np.zeros(size, dtype=np.int64), 1 if size else 0)

    @classmethod
    def from_keys(cls, *keys: np.ndarray | pd.Series, size: int | None = None) -> Groups:
        """Factorise one or more key columns (combinations in order of first appearance)."""
        if not keys:
            if size is None:
                raise ValueError("size is required when no keys are given")
            return cls.single(size)
        if len(keys) == 1:
            codes, uniques = pd.factorize(np.asarray(keys[0]), use_na_sentinel=False)
            return cls(codes.astype(np.int64), len(uniques))
        frame = pd.DataFrame({f"k{i}": np.asarray(k) for i, k in enumerate(keys)})
        codes = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
        return cls(codes.astype(np.int64), int(codes.max()) + 1 if len(codes) else 0)

    @classmethod
    def from_codes(cls, codes: np.ndarray) -> Groups:
        codes = np.asarray(codes, dtype=np.int64)
        return cls(codes, int(codes.max()) + 1 if len(codes) else 0)

    @property
    def _codes64(self) -> np.ndarray:
        """The codes as contiguous int64, the one type the compiled loops are built for (no copy if they
        are)."""
        return np.ascontiguousarray(self.codes, dtype=np.int64)

    # -- reductions (one value per group) ------------------------------------------------------

    def sum(self, values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """Per-group sum of ``values`` over rows where ``where`` is true (all rows by default)."""
        values = np.asarray(values, dtype=float)
        if where is not None:
            values = np.where(where, values, 0.0)
        return np.bincount(self.codes, weights=values, minlength=self.n)

    def count(self, where: np.ndarray | None = None) -> np.ndarray:
        """Per-group number of rows (where ``where`` is true)."""
        if where is None:
            return np.bincount(self.codes, minlength=self.n)
        return np.bincount(self.codes, weights=np.asarray(where, dtype=float), minlength=self.n).astype(
            np.int64
        )

    def mean(
        self, values: np.ndarray, where: np.ndarray | None = None, count: np.ndarray | None = None
    ) -> np.ndarray:
        """Per-group mean (NaN for a group with no rows selected). ``count``: the per-group number of
        rows selected (``self.count(where)``), when the caller has it already."""
        total = self.sum(values, where)
        n = self.count(where) if count is None else count
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)

    def broadcast(self, per_group: np.ndarray) -> np.ndarray:
        """Expand a per-group array back to one value per row."""
        return np.asarray(per_group)[self.codes]

    # -- order statistics ----------------------------------------------------------------------
    # Compiled loops (carelens.stats.group_loops), imported on first use: numba is slow to import.

    def rank(self, values: np.ndarray) -> np.ndarray:
        """1-based rank within each group, ties given their average rank; NaN stays NaN."""
        from carelens.stats import group_loops

        values = np.ascontiguousarray(values, dtype=float)
        return group_loops.average_ranks(self._codes64, self.n, values)

    def quantile(self, values: np.ndarray, q: float) -> np.ndarray:
        """Per-group quantile with linear interpolation (R type 7, NumPy's default), ignoring NaN."""
        return self.quantiles(values, (q,))[0]

    def quantiles(self, values: np.ndarray, qs) -> np.ndarray:
        """Several per-group quantiles (type 7), ignoring NaN: shape (len(qs), number of groups).

        One stable counting sort by group code makes each group's values one contiguous block, in which
        the ranks wanted are found by bucket selection (linear time), all in compiled code
        (:func:`carelens.stats.group_loops.order_statistics`). The interpolation is NumPy's, as before."""
        from carelens.stats import group_loops

        values = np.ascontiguousarray(values, dtype=float)
        qs = np.asarray(qs, dtype=float)
        if np.any(~((qs >= 0) & (qs <= 1))):
            raise ValueError(f"quantiles must be in [0, 1], got {qs.tolist()}")
        grouped, starts = group_loops.blocks_of(self._codes64, self.n, values)
        n = np.diff(starts)
        h = (n - 1) * qs[:, None]  # (len(qs), groups): fractional position of each quantile
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        ok = np.broadcast_to(n > 0, h.shape)
        if not ok.any():
            return np.full(h.shape, np.nan)
        ranks = np.where(n > 0, np.concatenate([lo, hi]), 0)
        x_lo, x_hi = np.split(group_loops.order_statistics(grouped, starts, ranks), 2)
        out = np.full(h.shape, np.nan)
        frac = h - lo
        with np.errstate(invalid="ignore"):
            out[ok] = np.where(frac[ok] > 0, x_lo[ok] + frac[ok] * (x_hi[ok] - x_lo[ok]), x_lo[ok])
        return out
