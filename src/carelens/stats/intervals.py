"""Confidence intervals used by public health publishers (OHID Fingertips; docs/methods/intervals.md).

All functions are vectorised: they take scalars or arrays (broadcast together) and return arrays.
``level`` is a confidence level given either as a percentage (95, 99.8) or a fraction (0.95, 0.998).

- proportions: Wilson score interval;
- counts, rates and indirectly standardised ratios: exact Poisson (chi-squared) and Byar's approximation,
  with the Fingertips rule "Byar's when the count is at least 10, exact below"; expected counts from
  reference rates and populations (indirect standardisation);
- directly standardised rates: Dobson's method, for independent events and for people who can have
  several events (non-independent events);
- means: Student's t interval, for many groups at once;
- a published figure of any comparable value type (:func:`figure_interval`), as charts draw it.

A missing input (NaN) gives missing limits. Impossible inputs (a negative count, a numerator above its
denominator, a zero denominator) raise ``ValueError`` naming the argument and the first bad index.
"""

from __future__ import annotations

from functools import lru_cache
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
    return _z_for_fraction(as_fraction(level))


@lru_cache(maxsize=1024)
def _z_for_fraction(fraction: float) -> float:
    """:func:`z_for_level` of a fraction, remembered: SciPy's quantile function costs about 0.1 ms a call,
    and the monitoring kernel asks for the same few levels for every funnel."""
    return float(stats.norm.ppf(0.5 + fraction / 2.0))


def level_label(level: float) -> str:
    """Column-name suffix for a level: 95 → ``95``, 99.8 → ``99_8``, 0.9 → ``90``."""
    pct = round(as_fraction(level) * 100, 6)
    text = f"{pct:g}"
    return text.replace(".", "_")


# -- input checks ------------------------------------------------------------------------------------


def _where(bad: np.ndarray) -> str:
    """The first bad position, as ``index 3`` (1-d) or ``index (2, 5)`` (n-d)."""
    first = np.argwhere(bad)[0]
    return f"index {int(first[0])}" if len(first) == 1 else f"index {tuple(int(i) for i in first)}"


def check_values(values, name: str, *, positive: bool = False, allow_missing: bool = True) -> np.ndarray:
    """``values`` as a float array, refusing infinite and negative values (and 0 when ``positive``).

    NaN is a missing value and passes unless ``allow_missing`` is false. The error names the argument
    and the first offending index, e.g. ``"denominator must be > 0: got 0 at index 2"``."""
    a = np.asarray(values, dtype=float)
    if np.all((a > 0) & (a < np.inf)) if positive else np.all((a >= 0) & (a < np.inf)):
        return a  # the usual case, in two passes (NaN fails both comparisons); else find what is wrong
    missing = np.isnan(a)
    if not allow_missing and missing.any():
        raise ValueError(f"{name} must not be missing: got NaN at {_where(missing)}")
    with np.errstate(invalid="ignore"):
        bad = ~missing & (~np.isfinite(a) | ((a <= 0) if positive else (a < 0)))
    if bad.any():
        value = a[tuple(np.argwhere(bad)[0])] if a.ndim else a
        rule = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {rule}: got {float(value):g} at {_where(bad)}")
    return a


def check_not_above(numerator: np.ndarray, denominator: np.ndarray, names=("numerator", "denominator")):
    """Refuse a numerator above its denominator (a proportion above 1); NaN passes."""
    with np.errstate(invalid="ignore"):
        bad = np.asarray(numerator > denominator)
    if bad.any():
        o, n = np.broadcast_arrays(numerator, denominator)
        i = tuple(np.argwhere(bad)[0])
        raise ValueError(
            f"{names[0]} must not exceed {names[1]}: got {float(o[i]):g} > {float(n[i]):g} at {_where(bad)}"
        )


# -- proportions -------------------------------------------------------------------------------------


def wilson(numerator, denominator, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion ``numerator / denominator`` (as a fraction, not %).

    limits = (2O + z² ∓ z·√(z² + 4O(1 − O/n))) / (2(n + z²)).
    """
    o = check_values(numerator, "numerator")
    n = check_values(denominator, "denominator", positive=True)
    check_not_above(o, n)
    z = z_for_level(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = 2 * o + z**2
        spread = z * np.sqrt(z**2 + 4 * o * (1 - o / n))
        denom = 2 * (n + z**2)
        return (centre - spread) / denom, (centre + spread) / denom


def wilson_funnel_limits(target, denominator, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
    """Fingertips' funnel limits for a proportion: the proportions p at which a unit of size n, observing
    p, has a Wilson score interval whose bound just reaches the ``target`` (the lower bound for the upper
    limit, the upper bound for the lower limit), clipped to [0, 1].

    Setting the Wilson bound of p equal to the target t and squaring gives, with c = z² − 2t(n + z²),
    the quadratic (4n² + 4nz²)p² + 4n(c − z²)p + c² − z⁴ = 0, whose two roots are the lower and upper
    limits.
    """
    t = np.asarray(target, dtype=float)
    n = check_values(denominator, "denominator", positive=True)
    z2 = z_for_level(level) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        c = z2 - 2 * t * (n + z2)
        a = 4 * n * (n + z2)
        b = 4 * n * (c - z2)
        root = np.sqrt(np.maximum(b * b - 4 * a * (c * c - z2 * z2), 0.0))
        lower = (-b - root) / (2 * a)
        upper = (-b + root) / (2 * a)
    return np.clip(lower, 0.0, 1.0), np.clip(upper, 0.0, 1.0)


# -- counts ------------------------------------------------------------------------------------------


def poisson_exact(observed, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (chi-squared) limits for a Poisson count; ``observed`` may be non-integer.

    lower = χ²_{α/2}(2O)/2 (0 when O = 0), upper = χ²_{1−α/2}(2O + 2)/2. A missing count gives NaN.
    """
    o = check_values(observed, "observed")
    alpha = 1 - as_fraction(level)
    with np.errstate(invalid="ignore"):
        lower = np.where(o > 0, special.gammaincinv(np.maximum(o, 1e-300), alpha / 2), 0.0)
        upper = special.gammaincinv(o + 1, 1 - alpha / 2)
    return np.where(np.isnan(o), np.nan, lower), upper


def byar(observed, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to the exact Poisson limits of a count.

    lower = O(1 − 1/(9O) − z/(3√O))³, upper = (O+1)(1 − 1/(9(O+1)) + z/(3√(O+1)))³. The cube goes
    negative for very small counts at high levels (O = 1 at 99.8%): a count cannot be negative, so the
    lower limit is then 0. A missing count gives NaN.
    """
    o = check_values(observed, "observed")
    z = z_for_level(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(o > 0, np.maximum(o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0), 0.0)
        o1 = o + 1
        upper = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
    return np.where(np.isnan(o), np.nan, lower), upper


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
    o = check_values(observed, "observed")
    flat = o.reshape(-1)
    lower, upper = byar(flat, level)
    small = np.flatnonzero(flat < BYAR_MIN_COUNT)  # exact limits (slow to compute) only where needed
    if len(small):
        lower[small], upper[small] = poisson_exact(flat[small], level)
    return lower.reshape(o.shape), upper.reshape(o.shape)


def rate(
    observed, denominator, level: float = 95, multiplier: float = 1.0, method: PoissonMethod = "fingertips"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crude rate O/n × multiplier with Poisson limits on O divided by n: (value, lower, upper)."""
    n = check_values(denominator, "denominator", positive=True)
    o = check_values(observed, "observed")
    lo, hi = poisson_limits(o, level, method)
    with np.errstate(invalid="ignore", divide="ignore"):
        return o / n * multiplier, lo / n * multiplier, hi / n * multiplier


def standardised_ratio(
    observed, expected, level: float = 95, multiplier: float = 1.0, method: PoissonMethod = "fingertips"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indirectly standardised ratio O/E × multiplier (use 100 for an SMR) with limits on O divided by E."""
    e = check_values(expected, "expected", positive=True)
    return rate(observed, e, level, multiplier, method)


def expected_counts(population, reference_rate) -> np.ndarray:
    """Expected events for indirect standardisation: E = Σ_strata nᵢ·rᵢ over the last axis.

    ``population`` has shape (..., strata) (e.g. areas × age bands); ``reference_rate`` is the
    reference (e.g. England) rate per person in each stratum, shape (strata,) or broadcastable. A missing
    population or rate makes E missing."""
    n = check_values(population, "population")
    r = check_values(reference_rate, "reference_rate")
    return np.sum(n * r, axis=-1)


def reference_rates(reference_observed, reference_population) -> np.ndarray:
    """Reference rate per person in each stratum, rᵢ = Oᵢ/nᵢ, from reference events and population."""
    o = check_values(reference_observed, "reference_observed")
    n = check_values(reference_population, "reference_population", positive=True)
    return o / n


def indirectly_standardised_ratio(
    observed,
    population,
    reference_rate,
    level: float = 95,
    multiplier: float = 1.0,
    method: PoissonMethod = "fingertips",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """O/E × multiplier with E from reference rates (:func:`expected_counts`): (ratio, lower, upper, E).

    ``observed``: total events per area, shape (...); ``population``: (..., strata). The limits are the
    count's Poisson limits divided by E (Fingertips rule by default), as :func:`standardised_ratio`."""
    e = expected_counts(population, reference_rate)
    value, lower, upper = standardised_ratio(observed, e, level, multiplier, method)
    return value, lower, upper, e


FIGURE_TYPES = ("proportion", "rate", "indirectly_standardised_ratio")
"""The value types :func:`figure_interval` knows (those carelens compares)."""


def figure_interval(value_type: str, numerator, size, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
    """Limits of figures ``numerator / size`` of one value type, as Fingertips draws them: Wilson for a
    ``proportion`` (``size`` the denominator), the count's Poisson limits (Byar's from 10, exact below)
    divided by ``size`` for a ``rate`` (the denominator) or an ``indirectly_standardised_ratio`` (the
    expected count). A figure whose counts cannot give one (missing, a size of zero or less, a negative
    count, a proportion above 1) has missing limits instead of an error: charts draw whatever else they
    can."""
    if value_type not in FIGURE_TYPES:
        raise ValueError(f"value_type must be one of {', '.join(FIGURE_TYPES)}, got {value_type!r}")
    o, n = np.broadcast_arrays(np.asarray(numerator, dtype=float), np.asarray(size, dtype=float))
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(o) & np.isfinite(n) & (o >= 0) & (n > 0)
        if value_type == "proportion":
            usable &= o <= n
    o, n = np.where(usable, o, np.nan), np.where(usable, n, 1.0)
    if value_type == "proportion":
        return wilson(o, n, level)
    lower, upper = poisson_limits(o, level)
    return lower / n, upper / n


# -- directly standardised rates --------------------------------------------------------------------


def _standard_weights(standard) -> np.ndarray:
    w = check_values(standard, "standard", allow_missing=False)
    if not w.sum() > 0:
        raise ValueError("standard must have a positive total")
    return w / w.sum()


def _dobson_limits(dsr, var, total, level, multiplier, method):
    lo, hi = poisson_limits(total, level, method)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(total > 0, np.sqrt(var / total), 0.0)
        lower = dsr + scale * (lo - total)
        upper = dsr + scale * (hi - total)
    return dsr * multiplier, lower * multiplier, upper * multiplier


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
    o = check_values(observed, "observed")
    n = check_values(population, "population", positive=True)
    w = _standard_weights(standard)
    with np.errstate(invalid="ignore", divide="ignore"):
        dsr = np.sum(w * o / n, axis=-1)
        var = np.sum(w**2 * o / n**2, axis=-1)
    return _dobson_limits(dsr, var, np.sum(o, axis=-1), level, multiplier, method)


def dobson_non_independent(
    people,
    event_frequency,
    population,
    standard,
    level: float = 95,
    multiplier: float = 100_000.0,
    method: PoissonMethod = "fingertips",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directly standardised rate of events that one person can have several times (re-admissions,
    repeat attendances), with Dobson's limits widened for the clustering of events within people.

    ``people`` has shape (..., frequencies, strata): the number of distinct people who had
    ``event_frequency[k]`` events in each stratum (e.g. 70 people with 1 admission, 12 with 2, ...).
    ``event_frequency`` has shape (frequencies,); ``population`` shape (..., strata) and ``standard``
    (strata,) as :func:`dobson`. Events per stratum Oᵢ = Σ_k f_k·people_k,ᵢ give the same DSR as
    :func:`dobson`; the variance uses the second moment of events per person,
    var = Σᵢ wᵢ²/nᵢ² · Σ_k f_k²·people_k,ᵢ (it equals Dobson's when everyone has one event), and the
    limits are DSR + √(var/O)·(O_L − O), DSR + √(var/O)·(O_U − O) with O = Σ Oᵢ. This is the method of
    PHEindicatormethods' ``calculate_dsr(independent_events = FALSE)``.
    """
    p = check_values(people, "people")
    f = check_values(event_frequency, "event_frequency", positive=True, allow_missing=False)
    n = check_values(population, "population", positive=True)
    w = _standard_weights(standard)
    if p.ndim < 2 or f.ndim != 1 or p.shape[-2] != len(f):
        raise ValueError(
            f"people must have shape (..., {len(np.atleast_1d(f))} frequencies, strata), got {p.shape}"
        )
    events = np.sum(f[:, None] * p, axis=-2)
    second_moment = np.sum(f[:, None] ** 2 * p, axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        dsr = np.sum(w * events / n, axis=-1)
        var = np.sum(w**2 * second_moment / n**2, axis=-1)
    return _dobson_limits(dsr, var, np.sum(events, axis=-1), level, multiplier, method)


# -- means -------------------------------------------------------------------------------------------


def mean_t(values, groups=None, level: float = 95) -> tuple[np.ndarray, ...]:
    """Mean of each group with a Student's t interval: (mean, lower, upper, count, sd) per group.

    ``values``: one number per row (NaN rows are left out); ``groups``: integer codes 0..G−1 per row,
    or None for one group. limits = mean ∓ t_{(1+level)/2, n−1}·s/√n with s the sample standard
    deviation (n − 1 divisor), as PHEindicatormethods' ``phe_mean``. A group of one value has no
    interval (NaN)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-d, got shape {x.shape}")
    if np.isinf(x).any():
        raise ValueError(f"values must be finite: got {float(x[np.isinf(x)][0]):g} at {_where(np.isinf(x))}")
    codes = np.zeros(len(x), dtype=np.int64) if groups is None else np.asarray(groups)
    if codes.shape != x.shape or (len(codes) and not np.issubdtype(codes.dtype, np.integer)):
        raise ValueError("groups must be integer codes, one per value")
    if len(codes) and codes.min() < 0:
        raise ValueError(f"groups must be >= 0: got {int(codes.min())} at {_where(codes < 0)}")
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    observed = ~np.isnan(x)
    count = np.bincount(codes, weights=observed, minlength=n_groups)
    total = np.bincount(codes, weights=np.where(observed, x, 0.0), minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        deviation = np.where(observed, x - mean[codes], 0.0)
        sd = np.sqrt(np.bincount(codes, weights=deviation**2, minlength=n_groups) / (count - 1))
        sd = np.where(count > 1, sd, np.nan)
        t = stats.t.ppf(0.5 + as_fraction(level) / 2, np.maximum(count - 1, 1))
        half = np.where(count > 1, t * sd / np.sqrt(count), np.nan)
    return mean, mean - half, mean + half, count.astype(np.int64), sd
