"""Confidence intervals used by public health publishers (OHID Fingertips; docs/methods/intervals.md).

All functions are vectorised: they take scalars or arrays (broadcast together) and return arrays.
``level`` is a confidence level given either as a percentage (95, 99.8) or a fraction (0.95, 0.998).

- proportions: Wilson score interval;
- counts, rates and indirectly standardised ratios: exact Poisson (chi-squared) and Byar's approximation,
  with the Fingertips rule "Byar's when the count is at least 10, exact below";
- directly standardised rates: Dobson's method.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import special, stats

PoissonMethod = Literal["fingertips", "exact", "byar"]
BYAR_MIN_COUNT = 10
"""Fingertips uses Byar's approximation for counts of at least 10 and the exact method below."""


def as_fraction(level: float) -> float:
    """Confidence level as a fraction in (0, 1): accepts 95 or 0.95, 99.8 or 0.998."""
    level = float(level)
    fraction = level / 100.0 if level > 1 else level
    if not 0 < fraction < 1:
        raise ValueError(f"confidence level must be between 0 and 100 (exclusive), got {level}")
    return fraction


def z_for_level(level: float | np.ndarray) -> float | np.ndarray:
    """Two-sided standard normal quantile for a confidence level: 95 → 1.959964, 99.8 → 3.090232."""
    if np.ndim(level):
        return np.array([z_for_level(v) for v in np.ravel(level)]).reshape(np.shape(level))
    return float(stats.norm.ppf(0.5 + as_fraction(level) / 2.0))


def level_label(level: float) -> str:
    """Column-name suffix for a level: 95 → ``95``, 99.8 → ``99_8``, 0.9 → ``90``."""
    pct = round(as_fraction(level) * 100, 6)
    text = f"{pct:g}"
    return text.replace(".", "_")


def wilson(numerator, denominator, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion ``numerator / denominator`` (as a fraction, not %).

    limits = (2O + z² ∓ z·√(z² + 4O(1 − O/n))) / (2(n + z²)).
    """
    o = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    z = z_for_level(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = 2 * o + z**2
        spread = z * np.sqrt(z**2 + 4 * o * (1 - o / n))
        denom = 2 * (n + z**2)
        return (centre - spread) / denom, (centre + spread) / denom


def poisson_exact(observed, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (chi-squared) limits for a Poisson count; ``observed`` may be non-integer.

    lower = χ²_{α/2}(2O)/2 (0 when O = 0), upper = χ²_{1−α/2}(2O + 2)/2.
    """
    o = np.asarray(observed, dtype=float)
    alpha = 1 - as_fraction(level)
    with np.errstate(invalid="ignore"):
        lower = np.where(o > 0, special.gammaincinv(np.maximum(o, 1e-300), alpha / 2), 0.0)
        upper = special.gammaincinv(o + 1, 1 - alpha / 2)
    return lower, upper


def byar(observed, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to the exact Poisson limits of a count.

    lower = O(1 − 1/(9O) − z/(3√O))³, upper = (O+1)(1 − 1/(9(O+1)) + z/(3√(O+1)))³.
    """
    o = np.asarray(observed, dtype=float)
    z = z_for_level(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(o > 0, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0)
        o1 = o + 1
        upper = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
    return lower, upper


def poisson_limits(
    observed, level: float = 95, method: PoissonMethod = "fingertips"
) -> tuple[np.ndarray, np.ndarray]:
    """Limits for a count: ``exact``, ``byar``, or ``fingertips`` (Byar's when O ≥ 10, else exact)."""
    if method == "exact":
        return poisson_exact(observed, level)
    if method == "byar":
        return byar(observed, level)
    if method != "fingertips":
        raise ValueError(f"unknown Poisson interval method {method!r}")
    o = np.asarray(observed, dtype=float)
    flat = o.reshape(-1)
    lower, upper = byar(flat, level)
    small = np.flatnonzero(~(flat >= BYAR_MIN_COUNT))  # exact limits (slow to compute) only where needed
    if len(small):
        lower[small], upper[small] = poisson_exact(flat[small], level)
    return lower.reshape(o.shape), upper.reshape(o.shape)


def rate(
    observed, denominator, level: float = 95, multiplier: float = 1.0, method: PoissonMethod = "fingertips"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crude rate O/n × multiplier with Poisson limits on O divided by n: (value, lower, upper)."""
    n = np.asarray(denominator, dtype=float)
    o = np.asarray(observed, dtype=float)
    lo, hi = poisson_limits(o, level, method)
    with np.errstate(invalid="ignore", divide="ignore"):
        return o / n * multiplier, lo / n * multiplier, hi / n * multiplier


def standardised_ratio(
    observed, expected, level: float = 95, multiplier: float = 1.0, method: PoissonMethod = "fingertips"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indirectly standardised ratio O/E × multiplier (use 100 for an SMR) with limits on O divided by E."""
    return rate(observed, expected, level, multiplier, method)


def dobson(
    observed,
    population,
    standard,
    level: float = 95,
    multiplier: float = 100_000.0,
    method: PoissonMethod = "fingertips",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directly standardised rate with Dobson's limits, for many areas at once.

    ``observed`` and ``population`` have shape (..., strata); ``standard`` is the standard population
    by stratum (e.g. ESP2013 by age band), shape (strata,). Weights wᵢ = standardᵢ / Σ standard.
    DSR = Σ wᵢ Oᵢ/nᵢ; var = Σ wᵢ² Oᵢ/nᵢ²; with O = Σ Oᵢ and (O_L, O_U) its Poisson limits,
    limits = DSR + √(var/O)·(O_L − O) and DSR + √(var/O)·(O_U − O). Returns (dsr, lower, upper)
    scaled by ``multiplier``. Fingertips does not publish a DSR when O < 10: callers suppress that.
    """
    o = np.asarray(observed, dtype=float)
    n = np.asarray(population, dtype=float)
    w = np.asarray(standard, dtype=float)
    w = w / w.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        dsr = np.sum(w * o / n, axis=-1)
        var = np.sum(w**2 * o / n**2, axis=-1)
        total = np.sum(o, axis=-1)
        lo, hi = poisson_limits(total, level, method)
        scale = np.where(total > 0, np.sqrt(var / total), 0.0)
        lower = dsr + scale * (lo - total)
        upper = dsr + scale * (hi - total)
    return dsr * multiplier, lower * multiplier, upper * multiplier
