"""Vectorised group-wise operations: sums, counts, ranks and quantiles for many groups at once.

Every kernel in ``carelens.stats`` works on whole columns where each row carries a group code
(indicator × period × peer group for funnels, organisation × indicator for control charts). These
helpers do the per-group arithmetic with ``bincount`` and one sort, never a Python loop per group.
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

    def _sorted(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row order sorting by (group, value) with NaN last in each group; group start offsets."""
        values = np.asarray(values, dtype=float)
        order = np.lexsort((values, self.codes))
        starts = np.searchsorted(self.codes[order], np.arange(self.n))
        return order, values[order], starts

    def rank(self, values: np.ndarray) -> np.ndarray:
        """1-based rank within each group, ties given their average rank; NaN stays NaN."""
        values = np.asarray(values, dtype=float)
        order, sorted_values, starts = self._sorted(values)
        sorted_codes = self.codes[order]
        position = np.arange(len(values)) - starts[sorted_codes] + 1.0
        # A tie run is a stretch of equal (group, value); each member takes the run's mean position.
        new_run = np.ones(len(values), dtype=bool)
        if len(values) > 1:
            new_run[1:] = (sorted_codes[1:] != sorted_codes[:-1]) | (sorted_values[1:] != sorted_values[:-1])
        run = running_count(new_run) - 1
        run_mean = np.bincount(run, weights=position) / np.bincount(run)
        ranks = np.empty(len(values))
        ranks[order] = run_mean[run]
        ranks[np.isnan(values)] = np.nan
        return ranks

    def quantile(self, values: np.ndarray, q: float) -> np.ndarray:
        """Per-group quantile with linear interpolation (R type 7, NumPy's default), ignoring NaN."""
        return self.quantiles(values, (q,))[0]

    def quantiles(self, values: np.ndarray, qs) -> np.ndarray:
        """Several per-group quantiles (type 7), ignoring NaN: shape (len(qs), number of groups).

        Large groups (the usual case: funnels of thousands of units) are read by selection
        (``np.partition``, linear time) one group at a time; many small groups by one sort of all
        rows. Both find the same order statistics, so the results are identical to the last bit.
        """
        values = np.asarray(values, dtype=float)
        n = self.count(~np.isnan(values))
        qs = np.asarray(qs, dtype=float)
        h = (n - 1) * qs[:, None]  # (len(qs), groups): fractional position of each quantile
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        ok = np.broadcast_to(n > 0, h.shape)
        if not ok.any():
            return np.full(h.shape, np.nan)
        if len(values) >= SELECTION_MIN_MEAN_GROUP_SIZE * max(self.n, 1):
            x_lo, x_hi = self._order_statistics_by_selection(values, n, lo, hi)
        else:
            _, sorted_values, starts = self._sorted(values)
            at_lo, at_hi = (np.where(ok, starts + lo, 0), np.where(ok, starts + hi, 0))
            x_lo, x_hi = sorted_values[at_lo], sorted_values[at_hi]
        out = np.full(h.shape, np.nan)
        frac = h - lo
        with np.errstate(invalid="ignore"):
            out[ok] = np.where(frac[ok] > 0, x_lo[ok] + frac[ok] * (x_hi[ok] - x_lo[ok]), x_lo[ok])
        return out

    def _order_statistics_by_selection(
        self, values: np.ndarray, n: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``lo``-th and ``hi``-th smallest non-NaN value of each group (0 where a group has none).

        One stable sort by group code (a radix sort for up to 65,536 groups) makes each group one
        contiguous block; each block is then partitioned at just the ranks wanted."""
        codes = self.codes.astype(np.uint16) if self.n <= 2**16 else self.codes
        in_order = len(codes) < 2 or bool(np.all(codes[1:] >= codes[:-1]))
        grouped = values if in_order else values[np.argsort(codes, kind="stable")]
        ends = np.cumsum(np.bincount(self.codes, minlength=self.n))
        x_lo, x_hi = np.zeros(lo.shape), np.zeros(hi.shape)
        start = 0
        for g, end in enumerate(ends.tolist()):
            block = grouped[start:end]
            start = end
            if n[g] == 0:
                continue
            if n[g] < len(block):
                block = block[~np.isnan(block)]
            ranks = np.unique(np.concatenate([lo[:, g], hi[:, g]]))
            selected = np.partition(block, ranks)
            x_lo[:, g], x_hi[:, g] = selected[lo[:, g]], selected[hi[:, g]]
        return x_lo, x_hi


SELECTION_MIN_MEAN_GROUP_SIZE = 256
""":meth:`Groups.quantiles` selects per group (a Python step per group) when groups average at least
this many rows, and sorts all rows at once otherwise; measured crossover is well below this."""
