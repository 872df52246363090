"""Compiled loops for control charts: the XmR chart (:mod:`carelens.stats.spc`) whole, and the four rules
of the attribute charts (:mod:`carelens.stats.control_charts`) on limits computed in NumPy. One pass per
phase instead of many whole-array NumPy passes, for the monitoring kernel's thousands of short series.

They reproduce :class:`carelens.stats.spc._Core` and :func:`carelens.stats.spc.rule_flags` to the last bit: the same float operations in the same
order (sums add the rows in order, as ``np.bincount`` does; no ``fastmath``; only ``+ − × ÷`` and
``abs``, which are exactly rounded in both). ``tests/stats/test_spc_loops.py`` checks them against the
NumPy code on generated series. Imported only where used, so that importing :mod:`carelens.stats.spc`
does not load numba.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

# Rule codes, as in ``spc.RULES`` (0 = none): 1 astronomical, 2 trend, 3 two-in-three, 4 shift.
_ASTRONOMICAL, _TREND, _TWO_IN_THREE, _SHIFT = 1, 2, 3, 4
_TREND_BIT, _TWO_IN_THREE_BIT, _SHIFT_BIT = 1 << (_TREND - 1), 1 << (_TWO_IN_THREE - 1), 1 << (_SHIFT - 1)
_CONCERN = 2  # spc.POINT_TYPES.index("special_cause_concern")


def _at(x, i):
    """``x[i]`` of an array, ``x`` itself of a number (for limits per phase or per point)."""
    return x[i] if isinstance(x, np.ndarray) else x


@overload(_at, jit_options={"cache": True, "nogil": True})
def _at_compiled(x, i):
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


@numba.njit(cache=True, nogil=True)
def _rules(
    y,
    link,
    a,
    b,
    centre,
    upper,
    lower,
    near_upper,
    near_lower,
    shift_length,
    trend_length,
    beyond_process,
    flags,
    side,
    trend_direction,
):
    """``spc.rule_flags`` on points ``a:b`` of one phase, against its centre and limits (one number for the
    phase, or an array with one per point). Writes ``flags`` (bit k−1 where rule k fired), ``side`` and
    ``trend_direction``."""
    # One pass. Runs are counted as they grow (a run starts where ``link`` breaks or the
    # side, or step, changes); when a run reaches the length a rule needs, its points so far are marked,
    # and every later point of it as it comes. Branch-free where the data decide, since sides and steps
    # of noisy series change at random.
    shift_run = 0  # length of the run of equal sides ending at i
    step_run = 0  # length of the run of equal steps ending at i
    previous_side = 0
    previous_step = 0
    counted_1 = counted_2 = 0  # counted (towards two-in-three) at i − 1 and i − 2
    linked_1 = False  # link[i − 1]
    side_2 = 0  # side[i − 2]
    trend_steps = trend_length - 1
    for i in range(a, b):
        yi = y[i]
        linked = link[i]
        astronomical = (yi > _at(upper, i)) | (yi < _at(lower, i))
        near = (yi > _at(near_upper, i)) | (yi < _at(near_lower, i))
        counted = np.int64(near & (beyond_process | (not astronomical)))
        d = yi - _at(centre, i)
        s = np.int8((d > 0) - (d < 0))
        side[i] = s
        trend_direction[i] = 0
        flags[i] = np.uint8(astronomical)

        shift_run = shift_run * (linked & (s == previous_side)) + 1
        if s != 0 and shift_run >= shift_length:
            for j in range(i - shift_run + 1 if shift_run == shift_length else i, i + 1):
                flags[j] |= _SHIFT_BIT

        step = 0
        if linked:
            e = yi - y[i - 1]
            step = (e > 0) - (e < 0)
        step_run = step_run * (step == previous_step) + 1
        if step != 0 and step_run >= trend_steps:
            # the run's steps and the point before its first step; a point's direction is that of the
            # trend to its right when two meet (a later run overwrites it)
            for j in range(i - step_run if step_run == trend_steps else i, i + 1):
                flags[j] |= _TREND_BIT
                trend_direction[j] = step

        same_side = (s != 0) & (s == previous_side) & (s == side_2)
        if linked & linked_1 & same_side & (counted + counted_1 + counted_2 >= 2):
            # only the counted points of the window
            flags[i - 2] |= _TWO_IN_THREE_BIT * counted_2
            flags[i - 1] |= _TWO_IN_THREE_BIT * counted_1
            flags[i] |= _TWO_IN_THREE_BIT * counted
        counted_2 = counted_1
        counted_1 = counted
        side_2 = previous_side
        previous_side = s
        previous_step = step
        linked_1 = linked


@numba.njit(cache=True, nogil=True)
def _phase(
    y,
    link,
    make_link,
    gap_before,
    a,
    b,
    fix_after,
    screen,
    screen_limit,
    constant,
    near_constant,
    shift_length,
    trend_length,
    beyond_process,
    moving_range,
    used,
    flags,
    side,
    trend_direction,
):
    """Limits and rule flags of one phase, points ``a:b``. Writes the per-point outputs (``flags``: bit
    k−1 set where rule k fired; ``link`` too when ``make_link``, from the missing values and
    ``gap_before``, as ``spc.xmr`` makes it with ``missing="break"``) and returns the phase's mean, M̄R (after screening) and number of
    baseline values.

    Sums add the selected rows in row order from 0.0, as ``Groups.mean`` (``np.bincount``) does; rows
    left out add nothing (``np.bincount`` adds 0.0 for them, which cannot change a sum that starts at
    +0.0)."""
    # Baseline: the first ``fix_after`` observed values (all observed values when fix_after < 0).
    total = 0.0
    n_baseline = 0
    mr_total = 0.0
    n_mr = 0
    seen = 0
    previous_baseline = False
    previous_observed = False
    for i in range(a, b):
        observed = not np.isnan(y[i])
        if make_link:
            link[i] = previous_observed & observed & (not gap_before[i])
        previous_observed = observed
        if observed:
            seen += 1
        baseline = observed and (fix_after < 0 or seen <= fix_after)
        if baseline:
            total += y[i]
            n_baseline += 1
        if link[i]:
            moving_range[i] = abs(y[i] - y[i - 1])
        else:
            moving_range[i] = np.nan
        in_baseline_mr = link[i] and baseline and previous_baseline
        used[i] = in_baseline_mr
        if in_baseline_mr:
            mr_total += moving_range[i]
            n_mr += 1
        previous_baseline = baseline
    mean = total / max(n_baseline, 1) if n_baseline > 0 else np.nan
    mean_mr = mr_total / max(n_mr, 1) if n_mr > 0 else np.nan
    if screen:
        cut = screen_limit * mean_mr
        mr_total = 0.0
        n_mr = 0
        for i in range(a, b):
            if used[i]:
                keep = moving_range[i] < cut
                used[i] = keep
                if keep:
                    mr_total += moving_range[i]
                    n_mr += 1
        mean_mr = mr_total / max(n_mr, 1) if n_mr > 0 else np.nan
    upper = mean + constant * mean_mr
    lower = mean - constant * mean_mr
    near_upper = mean + near_constant * mean_mr
    near_lower = mean - near_constant * mean_mr

    _rules(
        y,
        link,
        a,
        b,
        mean,
        upper,
        lower,
        near_upper,
        near_lower,
        shift_length,
        trend_length,
        beyond_process,
        flags,
        side,
        trend_direction,
    )
    return mean, mean_mr, upper, lower, near_upper, near_lower, n_baseline


@numba.njit(cache=True, nogil=True)
def xmr_core(
    y,
    phase,
    link,
    n_phase,
    fix_after,
    screen,
    screen_limit,
    constant,
    near_fraction,
    shift_length,
    trend_length,
    beyond_process,
):
    """``spc._Core`` over points sorted by ``phase`` (codes ``0..n_phase − 1``; a phase without points
    keeps NaN limits and no baseline). ``fix_after`` < 0: no fixing.

    Returns per phase mean, upper, lower, near upper, near lower and the number of baseline values, and
    per point the moving range, whether it was used, the rule flags (bit k−1 for rule k) and the
    side and trend direction."""
    n = len(y)
    near_constant = near_fraction * constant
    moving_range = np.empty(n)
    used = np.zeros(n, dtype=np.bool_)
    flags = np.zeros(n, dtype=np.uint8)
    side = np.zeros(n, dtype=np.int8)
    trend_direction = np.zeros(n, dtype=np.int8)
    mean = np.full(n_phase, np.nan)
    upper = np.full(n_phase, np.nan)
    lower = np.full(n_phase, np.nan)
    near_upper = np.full(n_phase, np.nan)
    near_lower = np.full(n_phase, np.nan)
    n_baseline = np.zeros(n_phase, dtype=np.int64)
    a = 0
    for i in range(1, n + 1):
        if i == n or phase[i] != phase[i - 1]:
            m, _, u, lo, nu, nl, k = _phase(
                y,
                link,
                False,
                link,
                a,
                i,
                fix_after,
                screen,
                screen_limit,
                constant,
                near_constant,
                shift_length,
                trend_length,
                beyond_process,
                moving_range,
                used,
                flags,
                side,
                trend_direction,
            )
            p = phase[a]
            mean[p] = m
            upper[p] = u
            lower[p] = lo
            near_upper[p] = nu
            near_lower[p] = nl
            n_baseline[p] = k
            a = i
    return (
        mean,
        upper,
        lower,
        near_upper,
        near_lower,
        n_baseline,
        moving_range,
        used,
        flags,
        side,
        trend_direction,
    )


@numba.njit(cache=True, nogil=True)
def _classify(flags, side, trend_direction, precedence, improvement_sign):
    """An observed point's rule (the first of ``precedence`` among its ``flags``; 0 for none) and point
    type (code into ``spc.POINT_TYPES``), as ``spc.classify_points`` gives them."""
    for rule in precedence:
        if flags & (1 << (rule - 1)):
            direction = trend_direction if rule == _TREND else side
            if improvement_sign == 0:
                return rule, 3 if direction > 0 else 4
            return rule, 1 if direction * improvement_sign > 0 else 2
    return 0, 0


@numba.njit(cache=True, nogil=True)
def _summarise(y, a, b, s, flags, side, trend_direction, recent, precedence, imp, variation, concern_rule):
    """Series ``s``'s variation code (its phase ``a:b``'s last observed point's type, if it has one) and
    the rule of its last special cause of concern among the ``recent`` points of the phase, if any."""
    for i in range(a, b):  # only observed points have flags
        if flags[i] != 0:
            rule, kind = _classify(flags[i], side[i], trend_direction[i], precedence, imp)
            if kind == _CONCERN and recent[i]:
                concern_rule[s] = rule
    for i in range(b - 1, a - 1, -1):
        if not np.isnan(y[i]):
            variation[s] = _classify(flags[i], side[i], trend_direction[i], precedence, imp)[1]
            break


@numba.njit(cache=True, nogil=True)
def xmr_latest(
    y,
    series,
    n_series,
    phase_start,
    gap_before,
    recent,
    improvement_sign,
    precedence,
    fix_after,
    screen,
    screen_limit,
    constant,
    near_fraction,
    shift_length,
    trend_length,
    beyond_process,
):
    """What the monitoring kernel reads of ``spc.xmr(..., missing="break")`` for each series: the centre
    and process limits of its last phase, its variation code (the type of its last observed point, −1
    if none) and the rule code of its last special cause of concern among the ``recent`` points (0 if
    none). Points sorted by ``series`` (codes ``0..n_series − 1``, each one contiguous block);
    ``precedence``: rule codes, first wins; ``improvement_sign``: +1, −1 or 0 per series."""
    n = len(y)
    near_constant = near_fraction * constant
    link = np.zeros(n, dtype=np.bool_)
    moving_range = np.empty(n)
    used = np.zeros(n, dtype=np.bool_)
    flags = np.zeros(n, dtype=np.uint8)
    side = np.zeros(n, dtype=np.int8)
    trend_direction = np.zeros(n, dtype=np.int8)
    last_mean = np.full(n_series, np.nan)
    last_upper = np.full(n_series, np.nan)
    last_lower = np.full(n_series, np.nan)
    variation = np.full(n_series, -1, dtype=np.int8)
    concern_rule = np.zeros(n_series, dtype=np.int8)
    a = 0
    for b in range(1, n + 1):
        if b < n and series[b] == series[b - 1] and not phase_start[b]:
            continue
        # points a:b are one phase; b starts the next phase (or series)
        mean, _, upper, lower, _, _, _ = _phase(
            y,
            link,
            True,
            gap_before,
            a,
            b,
            fix_after,
            screen,
            screen_limit,
            constant,
            near_constant,
            shift_length,
            trend_length,
            beyond_process,
            moving_range,
            used,
            flags,
            side,
            trend_direction,
        )
        s = series[a]
        last_mean[s] = mean  # a later phase of the series overwrites these
        last_upper[s] = upper
        last_lower[s] = lower
        _summarise(
            y,
            a,
            b,
            s,
            flags,
            side,
            trend_direction,
            recent,
            precedence,
            improvement_sign[s],
            variation,
            concern_rule,
        )
        a = b
    return last_mean, last_lower, last_upper, variation, concern_rule


@numba.njit(cache=True, nogil=True)
def chart_latest(
    y,
    series,
    n_series,
    phase,
    link,
    centre,
    upper,
    lower,
    near_upper,
    near_lower,
    recent,
    improvement_sign,
    precedence,
    shift_length,
    trend_length,
    beyond_process,
):
    """The rules of a chart whose centre and limits are given per point (p, p′, u and u′ charts), reduced
    as in :func:`xmr_latest` to each series' variation code and the rule of its last recent concern.
    Points sorted by ``phase`` within ``series``; ``link`` as ``spc.rule_flags`` takes it."""
    n = len(y)
    flags = np.zeros(n, dtype=np.uint8)
    side = np.zeros(n, dtype=np.int8)
    trend_direction = np.zeros(n, dtype=np.int8)
    variation = np.full(n_series, -1, dtype=np.int8)
    concern_rule = np.zeros(n_series, dtype=np.int8)
    a = 0
    for b in range(1, n + 1):
        if b < n and phase[b] == phase[b - 1]:
            continue
        _rules(
            y,
            link,
            a,
            b,
            centre,
            upper,
            lower,
            near_upper,
            near_lower,
            shift_length,
            trend_length,
            beyond_process,
            flags,
            side,
            trend_direction,
        )
        s = series[a]
        _summarise(
            y,
            a,
            b,
            s,
            flags,
            side,
            trend_direction,
            recent,
            precedence,
            improvement_sign[s],
            variation,
            concern_rule,
        )
        a = b
    return variation, concern_rule
