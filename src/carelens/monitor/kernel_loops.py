"""Compiled loops of the monitoring kernel's row glue (:mod:`carelens.monitor.kernel`): one pass over an
indicator's rows where NumPy would make several row-sized temporaries. Only comparisons, counts, one
division and sums added in row order (as ``np.bincount`` adds), so results are identical to the NumPy
code they replace. Imported only where used, so that importing the kernel does not load numba.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def ready() -> int:
    """Nothing: calling it once sets up numba's compiler state in this process (about half a second,
    the same for every compiled loop), so that processes forked after it start with that done."""
    return 0


@numba.njit(cache=True, nogil=True)
def used_codes(codes: np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """Which of ``n`` categories the ``codes`` use (``np.bincount(codes[codes >= 0], minlength=n) > 0``)
    and whether any code is missing (−1), in one pass without converting the codes."""
    used = np.zeros(n, dtype=np.bool_)
    missing = False
    for c in codes:
        if c < 0:
            missing = True
        else:
            used[c] = True
    return used, missing


@numba.njit(cache=True, nogil=True)
def in_canonical_order(ind: np.ndarray, org: np.ndarray, day: np.ndarray) -> bool:
    """Whether rows are sorted by (indicator, organisation, day) codes, ties allowed."""
    for i in range(1, len(ind)):
        if ind[i] != ind[i - 1]:
            if ind[i] < ind[i - 1]:
                return False
        elif org[i] != org[i - 1]:
            if org[i] < org[i - 1]:
                return False
        elif day[i] < day[i - 1]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def checked_rows(
    o: np.ndarray,
    d: np.ndarray,
    e: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    is_ratio: bool,
    is_proportion: bool,
    is_rate: bool,
    min_size: float,
    min_units: int,
    zero_rule: bool,
    zero_above: float,
    reasons: tuple,
):
    """Step 1 of an indicator's rows in two passes: each row's value, validity, eligibility and reason
    code, and whether it is comparable (its funnel ``group`` has at least ``min_units`` eligible units
    and, for rates, any events among them), with each group's eligible units. ``reasons`` are the codes
    (none, below-minimum, invalid, implausible zero, no events, few peers)."""
    r_none, r_small, r_invalid, r_zero, r_no_events, r_few = reasons
    n = len(o)
    value = np.empty(n)
    valid = np.empty(n, dtype=np.bool_)
    eligible = np.empty(n, dtype=np.bool_)
    reason = np.empty(n, dtype=np.int8)
    units = np.zeros(n_groups, dtype=np.int64)
    events = np.zeros(n_groups)
    for i in range(n):
        oi, di = o[i], d[i]
        base = e[i] if is_ratio else di
        ok = np.isfinite(oi) and oi >= 0 and np.isfinite(base) and base > 0
        if ok and is_proportion and not is_ratio:
            ok = oi <= di
        big_enough = base >= min_size
        why = r_none if big_enough else r_small
        if not ok:
            why = r_invalid
        elif zero_rule and oi == 0 and di > zero_above:  # implausible zero (docs/methods/data-quality.md)
            why = r_zero
            ok = False
        value[i] = oi / base if ok else np.nan
        valid[i] = ok
        eligible[i] = ok and big_enough
        reason[i] = why
        if ok and big_enough:
            units[group[i]] += 1
            events[group[i]] += oi  # in row order, as np.bincount adds
    comparable = np.empty(n, dtype=np.bool_)
    for i in range(n):
        g = group[i]
        enough_peers = units[g] >= min_units
        has_events = events[g] > 0 if is_rate else True
        if eligible[i]:
            if not has_events:
                reason[i] = r_no_events
            if not enough_peers:
                reason[i] = r_few
        comparable[i] = eligible[i] and enough_peers and has_events
    return value, valid, eligible, reason, comparable, units


@numba.njit(cache=True, nogil=True)
def periods_and_series(day: np.ndarray, org: np.ndarray, judged_periods: int):
    """An indicator's rows (sorted by organisation, then day) on the axis of its distinct periods and in
    its series: each row's period position, the last position, whether a row is at it and whether it is
    judged (among the latest ``judged_periods`` periods; negative: every period), then whether a row
    starts its series, its series number, and each series' last row."""
    n = len(day)
    first_day, last_day = day[0], day[0]
    for i in range(1, n):
        first_day = min(first_day, day[i])
        last_day = max(last_day, day[i])
    rank = np.zeros(last_day - first_day + 1, dtype=np.int64)
    for i in range(n):
        rank[day[i] - first_day] = 1
    periods = 0
    for t in range(len(rank)):
        if rank[t]:
            rank[t] = periods
            periods += 1
    last_position = periods - 1
    position = np.empty(n, dtype=np.int64)
    at_latest = np.empty(n, dtype=np.bool_)
    judged = np.empty(n, dtype=np.bool_)
    first = np.empty(n, dtype=np.bool_)
    series = np.empty(n, dtype=np.int64)
    last_row = np.empty(n, dtype=np.int64)
    n_series = 0
    for i in range(n):
        p = rank[day[i] - first_day]
        position[i] = p
        at_latest[i] = p == last_position
        judged[i] = judged_periods < 0 or p > last_position - judged_periods
        starts = i == 0 or org[i] != org[i - 1]
        first[i] = starts
        if starts:
            if i:
                last_row[n_series - 1] = i - 1
            n_series += 1
        series[i] = n_series - 1
    if n:
        last_row[n_series - 1] = n - 1
    return position, last_position, at_latest, judged, first, series, last_row[:n_series].copy()
