"""Risk-adjusted Bernoulli CUSUM (log-likelihood CUSUM) for mortality alerts, many series at once
(docs/methods/cusum.md).

Steiner, Cook, Farewell and Treasure (2000) monitor one patient at a time: each record t carries an outcome
yₜ (1 = death) and the risk pₜ a model predicts for that patient. The chart accumulates the log-likelihood
ratio of "the odds of death are multiplied by R_A" against "they are as the model says (R₀ = 1)":

    Wₜ = yₜ·log(R_A/R₀) − log((1 + (R_A − 1)pₜ) / (1 + (R₀ − 1)pₜ)),   Sₜ = max(0, Sₜ₋₁ + Wₜ), S₀ = 0,

and signals when Sₜ ≥ h. R_A = 2 looks for a doubling of the odds of death (the usual mortality alert);
R_A = ½ for a halving (an improvement chart, still a non-negative statistic here). After a signal the
statistic restarts from 0 at the next record (``reset=True``), as Steiner et al. and the national mortality
alerts do. With constant risks it is the plain Bernoulli CUSUM.

The threshold h comes from a target false-alarm rate α: the probability that a series that performs
exactly as predicted signals at least once within its records (or within ``horizon`` records). Before its
first signal a chart with reset equals one without, so that probability is P(max Sₜ ≥ h), and h is read
off the distribution of the maximum of simulated in-control charts (:func:`cusum_threshold`; outcomes drawn
from the series' own risks with a seeded NumPy generator, so thresholds are reproducible).

Counts per period (:func:`count_cusum`): where only each period's deaths O and expected deaths E are
known (monthly O/E per organisation), the period's score is the Poisson log-likelihood ratio
Wₜ = Oₜ·log R − (R − 1)·Eₜ, the limit of Steiner's scores summed over the period's patients as their risks
become small; the chart, signal, reset and the simulated threshold (:func:`count_cusum_threshold`, with
Oₜ ~ Poisson(Eₜ)) are the same.

Everything is vectorised over series: records sorted by series then time, each with an integer series
code. The recursion is evaluated as Sₜ = Cₜ − min(0, min_{j≤t} Cⱼ) on cumulative sums C of W, restarted at
each series start and after each signal; only the records after a signal are evaluated again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carelens.stats.intervals import check_values
from carelens.stats.spc import check_series

DEFAULT_ODDS_RATIO = 2.0
"""The alternative: the odds of death doubled (Steiner et al. 2000; the national mortality alerts)."""
DEFAULT_SIMULATIONS = 2000
DEFAULT_SEED = 20000
"""Seed of the threshold simulation (a fixed default, so the same risks always give the same threshold)."""
MIN_EXCEEDANCES = 5
"""The simulation must expect at least this many false alarms (n_simulations·α) to estimate h."""


def cusum_weights(outcomes, risks, odds_ratio: float = DEFAULT_ODDS_RATIO, null_odds_ratio: float = 1.0):
    """Steiner's log-likelihood ratio score Wₜ of each record (module docstring)."""
    y = np.asarray(outcomes, dtype=float)
    p = np.asarray(risks, dtype=float)
    w = y * np.log(odds_ratio / null_odds_ratio) - np.log1p((odds_ratio - 1) * p)
    if null_odds_ratio != 1:
        w += np.log1p((null_odds_ratio - 1) * p)
    return w


@dataclass(frozen=True)
class CusumResult:
    """Per record (aligned with the input) and per series (indexed by series code)."""

    weight: np.ndarray
    statistic: np.ndarray
    """Sₜ after record t (at a signal: the value that reached the threshold, before the restart)."""
    signal: np.ndarray
    restart: np.ndarray
    """True where the chart (re)starts from 0: each series' first record and the record after a signal."""
    outcomes: np.ndarray
    risks: np.ndarray
    threshold: np.ndarray
    """Per series."""
    n_records: np.ndarray
    n_signals: np.ndarray
    last_statistic: np.ndarray
    """Sₜ at each series' last record (NaN for a code with no records)."""
    last_observed: np.ndarray
    """Deaths since the series' chart last (re)started, up to its last record."""
    last_expected: np.ndarray
    """Predicted deaths (sum of risks) over the same records."""
    first_signal: np.ndarray
    """Index (into the input) of each series' first signal, −1 if none."""

    # Per-record running totals since the last restart, built only when asked for.
    @property
    def observed(self) -> np.ndarray:
        """Deaths since the chart last (re)started, up to and including each record."""
        return _segment_cumsum(self.outcomes, self.restart)

    @property
    def expected(self) -> np.ndarray:
        """Predicted deaths over the same records (what an observed − expected plot draws)."""
        return _segment_cumsum(self.risks, self.restart)


def risk_adjusted_cusum(
    outcomes,
    risks,
    series_codes,
    *,
    threshold,
    odds_ratio: float = DEFAULT_ODDS_RATIO,
    null_odds_ratio: float = 1.0,
    reset: bool = True,
) -> CusumResult:
    """Risk-adjusted CUSUM of many series of patient records at once (module docstring).

    ``outcomes``: 0/1 per record; ``risks``: the predicted probability of the outcome, in [0, 1];
    ``series_codes``: integer ≥ 0 per record, records sorted by series then time; ``threshold``: h, one
    for all series or one per series code (e.g. from :func:`cusum_threshold`).
    """
    p, y, codes, series_first, n_series = _check_records(risks, outcomes, series_codes)
    _check_odds(odds_ratio, null_odds_ratio)
    w = cusum_weights(y, p, odds_ratio, null_odds_ratio)
    return _cusum(w, y, p, codes, series_first, n_series, threshold, reset)


def count_weights(observed, expected, rate_ratio: float = DEFAULT_ODDS_RATIO):
    """The log-likelihood ratio of a period's count O against its expected count E when the rate is
    multiplied by ``rate_ratio`` (R): W = O·log R − (R − 1)·E (Poisson). Summed over a period's patients,
    Steiner's record scores tend to it as the risks become small."""
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    return o * np.log(rate_ratio) - (rate_ratio - 1) * e


def count_cusum(
    observed,
    expected,
    series_codes,
    *,
    threshold,
    rate_ratio: float = DEFAULT_ODDS_RATIO,
    reset: bool = True,
) -> CusumResult:
    """CUSUM of counts per period against expected counts (e.g. monthly deaths O against the deaths E a
    risk model predicts), many series at once: Sₜ = max(0, Sₜ₋₁ + Wₜ) with :func:`count_weights`,
    signalling at Sₜ ≥ h and restarting after a signal with ``reset``. ``observed``: whole counts ≥ 0;
    ``expected``: > 0; periods sorted by series then time. The result's ``outcomes`` and ``risks`` are
    O and E, so ``observed``/``expected`` are the counts since the chart last restarted."""
    e, o, codes, series_first, n_series = _check_counts(expected, observed, series_codes)
    _check_odds(rate_ratio, 1.0)
    return _cusum(count_weights(o, e, rate_ratio), o, e, codes, series_first, n_series, threshold, reset)


def _cusum(w, y, p, codes, series_first, n_series, threshold, reset) -> CusumResult:
    """The chart of scores ``w`` (records sorted by series), with signals, restarts and per-series totals."""
    h = np.asarray(threshold, dtype=float)
    h = np.full(n_series, float(h)) if h.ndim == 0 else h
    if h.shape != (n_series,) or not np.all(h > 0):
        raise ValueError(f"threshold must be > 0, one value or one per series code ({n_series})")
    n = len(w)
    record_h = h[0] if n_series and np.all(h == h[0]) else h[codes]  # one threshold: no per-record copy

    statistic = _segment_cusum(w, series_first)
    signal = statistic >= record_h
    if reset and signal.any():
        # Records up to each segment's first signal are final; the records after it restart the chart and
        # are evaluated again (only those), until no restarted segment reaches its threshold.
        signal = np.zeros(n, dtype=bool)
        start = series_first.copy()
        todo = np.arange(n)
        s = statistic
        while True:
            crossed = np.flatnonzero(s >= (record_h if np.ndim(record_h) == 0 else record_h[todo]))
            if not len(crossed):
                break
            segment = np.cumsum(start[todo]) - 1
            crossed_segment = segment[crossed]
            first = crossed[np.r_[True, crossed_segment[1:] != crossed_segment[:-1]]]
            cut = np.full(int(segment[-1]) + 1, len(todo), dtype=np.int64)
            cut[segment[first]] = first
            signal[todo[first]] = True
            later = np.arange(len(todo)) > cut[segment]
            following = first + 1
            following = following[following < len(todo)]
            start[todo[following[later[following]]]] = True
            todo = todo[later]
            if not len(todo):
                break
            s = _segment_cusum(w[todo], start[todo])
            statistic[todo] = s

    # deaths and expected deaths since each chart (re)started, at the last record of each series
    restart = series_first.copy()
    if reset:
        restart[1:] |= signal[:-1]
    last = np.r_[np.flatnonzero(series_first)[1:] - 1, n - 1] if n else np.zeros(0, dtype=np.int64)
    last_restart = np.maximum.accumulate(np.where(restart, np.arange(n), 0))[last] if n else last
    cum_y, cum_p = np.cumsum(y), np.cumsum(p)
    series_id = codes[last]
    last_statistic = np.full(n_series, np.nan)
    last_statistic[series_id] = statistic[last]
    last_observed = np.full(n_series, np.nan)
    last_observed[series_id] = cum_y[last] - cum_y[last_restart] + y[last_restart]
    last_expected = np.full(n_series, np.nan)
    last_expected[series_id] = cum_p[last] - cum_p[last_restart] + p[last_restart]
    first_signal = np.full(n_series, -1, dtype=np.int64)
    signalled = np.flatnonzero(signal)
    first_signal[codes[signalled][::-1]] = signalled[::-1]
    return CusumResult(
        weight=w,
        statistic=statistic,
        signal=signal,
        restart=restart,
        outcomes=y,
        risks=p,
        threshold=h,
        n_records=np.bincount(codes, minlength=n_series),
        n_signals=np.bincount(codes, weights=signal, minlength=n_series).astype(np.int64),
        last_statistic=last_statistic,
        last_observed=last_observed,
        last_expected=last_expected,
        first_signal=first_signal,
    )


def cusum_threshold(
    risks,
    series_codes,
    *,
    false_alarm_rate: float,
    odds_ratio: float = DEFAULT_ODDS_RATIO,
    null_odds_ratio: float = 1.0,
    horizon: int | None = None,
    n_simulations: int = DEFAULT_SIMULATIONS,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """Per series, the threshold h at which an in-control series signals with probability
    ``false_alarm_rate`` within its records (or within ``horizon`` records), by simulation.

    For each series, ``n_simulations`` in-control outcome sequences are drawn, yₜ ~ Bernoulli(pₜ): over the
    series' own risks in order, or, with ``horizon``, over ``horizon`` risks drawn with replacement from
    them. h is set between the k-th and (k+1)-th largest simulated maxima of Sₜ, k = ⌊α·n_simulations⌋, so
    that exactly a share α of the simulated charts reach it. The generator is NumPy's default (PCG64)
    seeded with ``seed``; the Monte Carlo error of the attained rate is about √(α(1 − α)/n_simulations).
    """
    _check_threshold_options(false_alarm_rate, n_simulations, horizon)
    _check_odds(odds_ratio, null_odds_ratio)
    p, _, codes, series_first, n_series = _check_records(
        risks, np.zeros(len(np.asarray(risks))), series_codes
    )
    log_ratio = np.log(odds_ratio / null_odds_ratio)

    def scores(rng, table, count):
        survive = np.log((1 + (odds_ratio - 1) * table) / (1 + (null_odds_ratio - 1) * table))
        deaths = rng.random((count, *table.shape)) < table
        return np.where(deaths, log_ratio, 0.0) - survive

    return _simulated_threshold(
        p, codes, series_first, n_series, scores, false_alarm_rate, horizon, n_simulations, seed
    )


def count_cusum_threshold(
    expected,
    series_codes,
    *,
    false_alarm_rate: float,
    rate_ratio: float = DEFAULT_ODDS_RATIO,
    horizon: int | None = None,
    n_simulations: int = DEFAULT_SIMULATIONS,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """Per series, the threshold of :func:`count_cusum` at which an in-control series (Oₜ ~ Poisson(Eₜ))
    signals with probability ``false_alarm_rate`` within its periods (or ``horizon`` periods), simulated
    exactly as :func:`cusum_threshold` does for records."""
    _check_threshold_options(false_alarm_rate, n_simulations, horizon)
    _check_odds(rate_ratio, 1.0)
    e, _, codes, series_first, n_series = _check_counts(
        expected, np.zeros(len(np.asarray(expected))), series_codes
    )

    def scores(rng, table, count):
        return count_weights(rng.poisson(np.broadcast_to(table, (count, *table.shape))), table, rate_ratio)

    return _simulated_threshold(
        e, codes, series_first, n_series, scores, false_alarm_rate, horizon, n_simulations, seed
    )


def _check_threshold_options(false_alarm_rate: float, n_simulations: int, horizon: int | None) -> None:
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    if n_simulations * false_alarm_rate < MIN_EXCEEDANCES:
        raise ValueError(
            f"n_simulations must be at least {MIN_EXCEEDANCES}/false_alarm_rate "
            f"({int(np.ceil(MIN_EXCEEDANCES / false_alarm_rate))}) to estimate the threshold"
        )
    if horizon is not None and horizon < 1:
        raise ValueError("horizon must be at least 1 record")


def _simulated_threshold(
    p, codes, series_first, n_series, scores, false_alarm_rate, horizon, n_simulations, seed
):
    """Thresholds from the maxima of simulated in-control charts: ``scores(rng, table, count)`` draws
    ``count`` charts' scores for a table of per-record parameters (series × records; 0 pads short series,
    and a zero risk or expected count adds nothing)."""
    rng = np.random.default_rng(seed)
    starts = np.flatnonzero(series_first)
    lengths = np.diff(np.r_[starts, len(p)])
    series_ids = codes[starts]
    if horizon is None:
        width = int(lengths.max()) if len(lengths) else 0
        table = np.zeros((len(starts), width))
        table[np.repeat(np.arange(len(starts)), lengths), np.arange(len(p)) - np.repeat(starts, lengths)] = p
    else:
        picks = starts[:, None] + (rng.random((len(starts), horizon)) * lengths[:, None]).astype(np.int64)
        table = p[picks]
    h = np.full(n_series, np.nan)
    k = int(np.floor(false_alarm_rate * n_simulations))
    # a block of simulations at a time keeps memory near 64 MB whatever the number of series
    block = max(1, int(8_000_000 // max(table.size, 1)))
    maxima = np.empty((n_simulations, len(starts)))
    for first in range(0, n_simulations, block):  # a loop over blocks of simulations, not over series
        count = min(block, n_simulations - first)
        c = np.cumsum(scores(rng, table, count), axis=2)
        maxima[first : first + count] = np.max(c - np.minimum(np.minimum.accumulate(c, axis=2), 0.0), axis=2)
    ordered = -np.sort(-maxima, axis=0)  # descending per series
    reached = ordered[k - 1] if k >= 1 else ordered[0] + 1.0
    h_series = (reached + ordered[k]) / 2
    h_series = np.where(h_series > 0, h_series, np.finfo(float).tiny)  # a chart that cannot rise: any death
    h[series_ids] = h_series
    return h


def false_alarm_probability(risks, threshold: float, odds_ratio: float = DEFAULT_ODDS_RATIO) -> float:
    """Exact P(max Sₜ ≥ h) for one in-control series of records with the given risks, by dynamic
    programming over the chart's attainable values (for checking thresholds on short series: the number of
    states grows with the number of distinct risks and records)."""
    p = check_values(risks, "risks", allow_missing=False)
    if p.size and p.max() > 1:
        raise ValueError("risks must be probabilities <= 1")
    states = {0.0: 1.0}
    alarmed = 0.0
    for pt in p:
        w_death = float(cusum_weights(1.0, pt, odds_ratio))
        w_survive = float(cusum_weights(0.0, pt, odds_ratio))
        following: dict[float, float] = {}
        for s, prob in states.items():
            for w, q in ((w_death, pt), (w_survive, 1 - pt)):
                if q == 0:
                    continue
                value = max(0.0, s + w)
                if value >= threshold:
                    alarmed += prob * q
                else:
                    key = round(value, 12)
                    following[key] = following.get(key, 0.0) + prob * q
        states = following
    return alarmed


def _check_odds(odds_ratio: float, null_odds_ratio: float) -> None:
    if not (odds_ratio > 0 and null_odds_ratio > 0) or odds_ratio == null_odds_ratio:
        raise ValueError("odds_ratio and null_odds_ratio must be positive and different")


def _check_records(risks, outcomes, series_codes):
    p, codes, series_first, n_series = check_series(risks, series_codes)
    p = check_values(p, "risks", allow_missing=False)
    if p.size and p.max() > 1:
        i = int(np.argmax(p))
        raise ValueError(f"risks must be probabilities <= 1: got {p[i]:g} at index {i}")
    y = check_values(outcomes, "outcomes", allow_missing=False)
    if y.shape != p.shape:
        raise ValueError(f"outcomes must have one value per record ({len(p)}), got {y.shape}")
    bad = (y != 0) & (y != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"outcomes must be 0 or 1: got {y[i]:g} at index {i}")
    return p, y, codes, series_first, n_series


def _check_counts(expected, observed, series_codes):
    e, codes, series_first, n_series = check_series(expected, series_codes)
    e = check_values(e, "expected", allow_missing=False, positive=True)
    o = check_values(observed, "observed", allow_missing=False)
    if o.shape != e.shape:
        raise ValueError(f"observed must have one value per period ({len(e)}), got {o.shape}")
    fractional = o != np.round(o)
    if fractional.any():
        i = int(np.flatnonzero(fractional)[0])
        raise ValueError(f"observed must be whole counts: got {o[i]:g} at index {i}")
    return e, o, codes, series_first, n_series


def _segment_cusum(w: np.ndarray, segment_first: np.ndarray) -> np.ndarray:
    """Sₜ = max(0, Sₜ₋₁ + Wₜ) restarted at each segment start, as Cₜ − min(0, min C) on cumulative sums.

    Segments of similar length are laid out as rows of a padded table (cumulative sums and minima along
    rows, exact per segment); very uneven segments use a running minimum over offset segments instead."""
    n = len(w)
    if n == 0:
        return np.zeros(0)
    starts = np.flatnonzero(segment_first)
    lengths = np.diff(np.r_[starts, n])
    width = int(lengths.max())
    if len(starts) * width == n:  # segments of equal length: a plain reshape
        c = np.cumsum(w.reshape(len(starts), width), axis=1)
        return (c - np.minimum(np.minimum.accumulate(c, axis=1), 0.0)).ravel()
    rows = np.repeat(np.arange(len(starts)), lengths)
    columns = np.arange(n) - np.repeat(starts, lengths)
    if len(starts) * width <= 4 * n + 4096:
        table = np.zeros((len(starts), width))
        table[rows, columns] = w
        c = np.cumsum(table, axis=1)
        s = c - np.minimum(np.minimum.accumulate(c, axis=1), 0.0)
        return s[rows, columns]
    c = _segment_cumsum(w, segment_first)
    # running minimum within segments: each segment shifted below all earlier ones
    span = float(np.max(np.abs(c))) * 2 + 1.0
    shifted = c - rows * span
    running = np.minimum.accumulate(shifted) + rows * span
    return c - np.minimum(running, 0.0)


def _segment_cumsum(x: np.ndarray, segment_first: np.ndarray) -> np.ndarray:
    """Cumulative sums restarted at each segment start."""
    total = np.cumsum(x)
    segment_start = np.maximum.accumulate(np.where(segment_first, np.arange(len(x)), 0))
    return total - (total - x)[segment_start]
