"""A plain, per-series loop reference for XmR charts (docs/methods/spc.md, as NHSRplotthedots 0.2.2
behaves).

Written to be read next to the method text, not to be fast: it splits a series into phases, takes each
rule as NHSRplotthedots does (a sliding window that must lie wholly inside a phase and be made of
consecutive points), and uses none of the kernel's run-length tricks, so the two are independent.
Missing values follow the semantics documented in ``carelens.stats.spc``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from carelens.stats.funnel import funnel
from carelens.stats.groups import Groups

RULES = ("astronomical", "trend", "two_in_three", "shift")


def _mean(xs):
    return sum(xs) / len(xs) if xs else math.nan


def reference_series(
    y,
    phase_start=None,
    gap_before=None,
    *,
    fix_after=None,
    screen=True,
    screen_limit=3.267,
    constant=2.66,
    near_fraction=2 / 3,
    shift_length=7,
    trend_length=7,
    two_in_three_beyond_process=False,
    precedence=RULES,
    improvement="increase",
    target=None,
    min_points=12,
    missing="break",
):
    """XmR results for ONE series as a dict of per-point lists and per-series scalars."""
    n = len(y)
    y = [float(v) for v in y]
    phase_start = list(phase_start) if phase_start is not None else [False] * n
    gap_before = list(gap_before) if gap_before is not None else [False] * n
    observed = [not math.isnan(v) for v in y]

    phases = []
    for i in range(n):
        if i == 0 or phase_start[i]:
            phases.append([])
        phases[-1].append(i)

    out = {
        key: [math.nan] * n for key in ("mean", "upper", "lower", "near_upper", "near_lower", "moving_range")
    }
    for key in (*RULES, "short_phase"):
        out[key] = [False] * n
    out["phase"] = [0] * n
    out["direction"] = [0] * n
    out["rule"] = [""] * n
    phase_limits = []

    for phase_number, members in enumerate(phases):
        for i in members:
            out["phase"][i] = phase_number
        pts = [i for i in members if observed[i]] if missing == "skip" else members

        def linked(k, pts=pts):
            """Point pts[k] directly follows pts[k-1]."""
            if k == 0:
                return False
            if missing == "skip":
                return True
            return observed[pts[k]] and observed[pts[k - 1]] and not gap_before[pts[k]]

        observed_pts = [i for i in pts if observed[i]]
        base = observed_pts if fix_after is None else observed_pts[:fix_after]
        base_set = set(base)
        mean = _mean([y[i] for i in base])
        mrs = []
        for k in range(1, len(pts)):
            if linked(k):
                mr = abs(y[pts[k]] - y[pts[k - 1]])
                out["moving_range"][pts[k]] = mr
                if pts[k] in base_set and pts[k - 1] in base_set:
                    mrs.append(mr)
        amr = _mean(mrs)
        if screen:
            amr = _mean([m for m in mrs if m < screen_limit * amr])
        upper, lower = mean + constant * amr, mean - constant * amr
        near_upper = mean + near_fraction * constant * amr
        near_lower = mean - near_fraction * constant * amr
        phase_limits.append((upper, lower))
        for i in members:
            out["mean"][i], out["upper"][i], out["lower"][i] = mean, upper, lower
            out["near_upper"][i], out["near_lower"][i] = near_upper, near_lower
            out["short_phase"][i] = len(base) < min_points

        def side(i, mean=mean):
            if not observed[i] or math.isnan(mean) or y[i] == mean:
                return 0
            return 1 if y[i] > mean else -1

        def beyond_process(i, upper=upper, lower=lower):
            return observed[i] and (y[i] > upper or y[i] < lower)

        def counted(i, near_upper=near_upper, near_lower=near_lower):
            near = observed[i] and (y[i] > near_upper or y[i] < near_lower)
            return near and (two_in_three_beyond_process or not beyond_process(i))

        def consecutive(k0, k1, linked=linked):
            """pts[k0..k1] are consecutive, linked points."""
            return all(linked(k) for k in range(k0 + 1, k1 + 1))

        trend_dir = {}
        for k, i in enumerate(pts):
            out["astronomical"][i] = beyond_process(i)
            # shift: the window of shift_length points ending here, all on one side
            k0 = k - shift_length + 1
            if k0 >= 0 and consecutive(k0, k):
                sides = {side(pts[j]) for j in range(k0, k + 1)}
                if len(sides) == 1 and 0 not in sides:
                    for j in range(k0, k + 1):
                        out["shift"][pts[j]] = True
            # trend: the window of trend_length points ending here, strictly monotone
            k0 = k - trend_length + 1
            if k0 >= 0 and consecutive(k0, k):
                steps = [y[pts[j]] - y[pts[j - 1]] for j in range(k0 + 1, k + 1)]
                for sign in (1, -1):
                    if all(s * sign > 0 for s in steps):
                        for j in range(k0, k + 1):
                            out["trend"][pts[j]] = True
                            trend_dir[pts[j]] = sign  # a later window overrides: the right side wins
            # two-in-three: the window of 3 ending here, same side, >= 2 counted
            if k >= 2 and consecutive(k - 2, k):
                window = [pts[k - 2], pts[k - 1], i]
                sides = {side(j) for j in window}
                if len(sides) == 1 and 0 not in sides and sum(counted(j) for j in window) >= 2:
                    for j in window:
                        if counted(j):
                            out["two_in_three"][j] = True

        for i in members:
            for rule in precedence:
                if out[rule][i]:
                    out["rule"][i] = rule
                    out["direction"][i] = trend_dir[i] if rule == "trend" else side(i)
                    break

    sign = {"increase": 1, "decrease": -1, "neutral": 0}[improvement]
    types = []
    for i in range(n):
        d = out["direction"][i]
        if not observed[i]:
            types.append("missing")
        elif out["rule"][i] == "":
            types.append("common_cause")
        elif sign == 0:
            types.append("special_cause_neutral_high" if d > 0 else "special_cause_neutral_low")
        else:
            types.append("special_cause_improvement" if d * sign > 0 else "special_cause_concern")
    out["point_type"] = types

    last_observed = [i for i in range(n) if observed[i]]
    out["variation_icon"] = types[last_observed[-1]] if last_observed else ""
    upper, lower = phase_limits[-1] if phase_limits else (math.nan, math.nan)
    if target is None or math.isnan(target) or sign == 0 or math.isnan(upper) or math.isnan(lower):
        out["assurance_icon"] = ""
    elif target > upper:
        out["assurance_icon"] = "consistent_fail" if sign > 0 else "consistent_pass"
    elif target < lower:
        out["assurance_icon"] = "consistent_pass" if sign > 0 else "consistent_fail"
    else:
        out["assurance_icon"] = "inconsistent"
    out["n_points"] = n
    out["n_missing"] = n - sum(observed)
    out["n_phases"] = len(phases)
    out["short_series"] = any(out["short_phase"])
    return out


def reference_many(values, codes, phase_start=None, gap_before=None, **options):
    """Run :func:`reference_series` on each contiguous block of ``codes``; dict of series code -> result."""
    values = np.asarray(values, dtype=float)
    codes = np.asarray(codes)
    n = len(values)
    phase_start = np.zeros(n, bool) if phase_start is None else np.asarray(phase_start, bool)
    gap_before = np.zeros(n, bool) if gap_before is None else np.asarray(gap_before, bool)
    results = {}
    start = 0
    for i in range(1, n + 1):
        if i == n or codes[i] != codes[start]:
            results[int(codes[start])] = reference_series(
                values[start:i], phase_start[start:i], gap_before[start:i], **options
            )
            start = i
    return results


@pytest.fixture(scope="session")
def spc_reference():
    """The per-series loop reference: ``(single, many)``."""
    return reference_series, reference_many


@pytest.fixture(scope="session", autouse=True)
def _group_loops_compiled():
    """Compile the group loops (or load them from numba's cache) before the tests: the first call takes
    from a fraction of a second to several seconds, which no generated example should be timed with."""
    groups = Groups.from_codes(np.array([0, 0, 1, 1, 1]))
    o, d = np.array([1.0, 2.0, 0.0, 3.0, 1.0]), np.array([10.0, 12.0, 9.0, 20.0, 5.0])
    groups.quantiles(o / d, (0.1, 0.9))
    groups.rank(o / d)
    for kind, method in (("pr", "cqc"), ("rc", "cqc"), ("sr", "cqc"), ("sr", "shmi")):
        funnel(o, d, groups=groups, kind=kind, method=method)
