"""The plain NumPy forms that :mod:`carelens.stats.group_loops` replaces (what ``Groups`` and the funnel
fit did before they were compiled): sums by ``np.bincount``, ranks and quantiles by one ``np.lexsort`` of
all rows, clipping by ``np.clip``. Tests hold the compiled loops to these, bit for bit."""

from __future__ import annotations

import numpy as np

from carelens.stats.groups import Groups, running_count


def _sorted(groups: Groups, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order sorting by (group, value) with NaN last in each group; group start offsets."""
    order = np.lexsort((values, groups.codes))
    starts = np.searchsorted(groups.codes[order], np.arange(groups.n))
    return order, values[order], starts


def ranks_by_sorting(groups: Groups, values: np.ndarray) -> np.ndarray:
    """1-based rank within each group, ties given their average rank; NaN stays NaN."""
    values = np.asarray(values, dtype=float)
    order, sorted_values, starts = _sorted(groups, values)
    sorted_codes = groups.codes[order]
    position = np.arange(len(values)) - starts[sorted_codes] + 1.0
    new_run = np.ones(len(values), dtype=bool)
    if len(values) > 1:
        new_run[1:] = (sorted_codes[1:] != sorted_codes[:-1]) | (sorted_values[1:] != sorted_values[:-1])
    run = running_count(new_run) - 1
    ranks = np.empty(len(values))
    if len(values):
        ranks[order] = (np.bincount(run, weights=position) / np.bincount(run))[run]
    ranks[np.isnan(values)] = np.nan
    return ranks


def quantiles_by_sorting(groups: Groups, values: np.ndarray, qs) -> np.ndarray:
    """Per-group type-7 quantiles ignoring NaN, read from one sort of all rows: (len(qs), groups)."""
    values = np.asarray(values, dtype=float)
    n = groups.count(~np.isnan(values))
    qs = np.asarray(qs, dtype=float)
    h = (n - 1) * qs[:, None]
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    ok = np.broadcast_to(n > 0, h.shape)
    out = np.full(h.shape, np.nan)
    if not ok.any():
        return out
    _, sorted_values, starts = _sorted(groups, values)
    x_lo = sorted_values[np.where(ok, starts + lo, 0)]
    x_hi = sorted_values[np.where(ok, starts + hi, 0)]
    frac = h - lo
    with np.errstate(invalid="ignore"):
        out[ok] = np.where(frac[ok] > 0, x_lo[ok] + frac[ok] * (x_hi[ok] - x_lo[ok]), x_lo[ok])
    return out


def dispersion_sums(groups: Groups, z, s, keep, low, high):
    """Count, Σ clip(z)², Σ 1/s², Σ (1/s²)² over the kept rows of each group, as the funnel fit summed them."""
    with np.errstate(all="ignore"):
        clipped = np.clip(z, low[groups.codes], high[groups.codes])
        w_kept = np.where(keep, 1.0 / s**2, 0.0)
        return (
            groups.count(keep),
            groups.sum(clipped**2, where=keep),
            groups.sum(w_kept),
            groups.sum(w_kept**2),
        )


def adjusted_z(groups: Groups, z, residual, s, tau2, adjusted):
    """z adjusted by the additive τ² of adjusted groups (z elsewhere), as the funnel fit computed it."""
    row_adjusted = adjusted[groups.codes]
    with np.errstate(all="ignore"):
        row_tau2 = np.where(row_adjusted, tau2[groups.codes], 0.0)
        return np.where(row_adjusted, residual / np.sqrt(s**2 + row_tau2), z)
