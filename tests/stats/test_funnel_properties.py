"""Property tests of the funnel kernel, and agreement with a plain per-group reference implementation."""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from carelens.stats.funnel import funnel

REL = 1e-9
"""Relative tolerance between the kernel and the reference (different summation order only)."""


# -- reference: docs/methods/funnel-plots.md and shmi.md literally, one group at a time, plain Python --


def _quantile_type7(values: list[float], q: float) -> float:
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    below = math.floor(h)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (h - below) * (ordered[above] - ordered[below])


def _average_rank(values: list[float], i: int) -> Fraction:
    smaller = sum(1 for v in values if v < values[i])
    equal = sum(1 for v in values if v == values[i])
    return Fraction(2 * smaller + equal + 1, 2)


def _exp(x: float) -> float:
    """``e**x``, infinite beyond the largest float (as NumPy gives it) instead of raising."""
    return math.exp(x) if x < 709.78 else math.inf


def reference_group(
    o, d, kind, method, levels, trim, overdispersion, adjust_when="tau2_positive", round_expected=False
):
    """Everything the kernel reports, for one funnel; returns per-unit rows and per-group estimates.

    ``round_expected``: the model (z, φ, τ², limits) uses the denominators rounded to 2 dp, the reported
    value O/d the denominators as given."""
    raw_d = list(d)
    if round_expected:
        d = [float(np.round(x, 2)) for x in d]
    m_units = len(o)
    shmi = kind == "sr" and method == "shmi"
    if kind == "sr":
        target = 1.0
        if shmi:
            centre = 0.0
            y = [math.log(oi / di) if oi > 0 else -math.inf for oi, di in zip(o, d, strict=True)]
            s = [1 / math.sqrt(di) for di in d]
            back = _exp
        else:
            centre = 1.0
            y = [math.sqrt(oi / di) for oi, di in zip(o, d, strict=True)]
            s = [1 / (2 * math.sqrt(di)) for di in d]

            def back(x):
                return max(x, 0.0) ** 2

        s_limits = s
    elif kind == "pr":
        target = sum(o) / sum(d)
        centre = math.asin(math.sqrt(target))
        y = [math.asin(math.sqrt(oi / di)) for oi, di in zip(o, d, strict=True)]
        s = s_limits = [1 / (2 * math.sqrt(di)) for di in d]

        def back(x):
            return math.sin(min(max(x, 0.0), math.pi / 2)) ** 2

    else:  # rc
        target = sum(o) / sum(d)
        centre = math.log(target)
        y = [math.log((oi + 0.5) / (di + 0.5)) for oi, di in zip(o, d, strict=True)]
        s = [math.sqrt(oi / (oi + 0.5) ** 2 + di / (di + 0.5) ** 2) for oi, di in zip(o, d, strict=True)]
        s_limits = [1 / (2 * math.sqrt(di)) for di in d]
        back = _exp
    z = [(yi - centre) / si if math.isfinite(yi) else -math.inf for yi, si in zip(y, s, strict=True)]

    if shmi:
        if trim == 0:
            kept = [i for i in range(m_units) if math.isfinite(z[i])]
        else:
            k = Fraction(1) / Fraction(trim).limit_denominator(1000)
            kept = [
                i
                for i in range(m_units)
                if math.isfinite(z[i]) and 1 <= math.floor(_average_rank(z, i) * k / (m_units + 1)) <= k - 2
            ]
        robust = {i: z[i] for i in kept}
    else:
        low, high = _quantile_type7(z, trim), _quantile_type7(z, 1 - trim)
        robust = {i: min(max(z[i], low), high) for i in range(m_units)}
    m = len(robust)
    phi = sum(v * v for v in robust.values()) / m if m else math.nan
    w = [1 / s[i] ** 2 for i in robust]
    tau2 = 0.0
    if m >= 2:
        tau2 = max(0.0, (m * phi - (m - 1)) / (sum(w) - sum(wi * wi for wi in w) / sum(w)))
    if overdispersion == "additive":
        adjusted = m >= 2 and tau2 > 0
        borderline = m >= 2 and abs(m * phi - (m - 1)) < 1e-9 * max(1.0, m * phi)
        if adjust_when == "phi_above_one":  # FunnelPlotR: adjust only when φ > 1
            adjusted = adjusted and phi > 1
            borderline = borderline or (m >= 2 and abs(phi - 1) < 1e-9)
    elif overdispersion == "multiplicative":
        adjusted = m >= 2 and phi > 1
        borderline = m >= 2 and abs(phi - 1) < 1e-9
    else:
        adjusted = borderline = False

    rows = []
    for i in range(m_units):
        if not adjusted:
            z_adj = z[i]
        elif overdispersion == "additive":
            z_adj = (y[i] - centre) / math.sqrt(s[i] ** 2 + tau2) if math.isfinite(y[i]) else -math.inf
        else:
            z_adj = z[i] / math.sqrt(phi)
        limits = []
        for level in levels:
            zq = NormalDist().inv_cdf(0.5 + level / 200)
            if not adjusted and kind == "sr":
                alpha = 1 - level / 100
                lower = stats.chi2.ppf(alpha / 2, 2 * d[i]) / (2 * d[i])
                upper = stats.chi2.ppf(1 - alpha / 2, 2 * d[i] + 2) / (2 * d[i])
            else:
                if not adjusted:
                    sigma = s_limits[i]
                elif overdispersion == "additive":
                    sigma = math.sqrt(s_limits[i] ** 2 + tau2)
                else:
                    sigma = s_limits[i] * math.sqrt(phi)
                lower, upper = back(centre - zq * sigma), back(centre + zq * sigma)
            limits.append((lower, upper))
        rows.append({"value": o[i] / raw_d[i], "z": z[i], "z_adjusted": z_adj, "limits": limits})
    estimates = {"target": target, "phi": phi, "tau2": tau2, "units_used": m, "od_adjusted": adjusted}
    return rows, estimates, borderline


# -- generated funnels -------------------------------------------------------------------------------


@st.composite
def unit_rows(draw, kind: str, size: int):
    """Numerators and denominators of ``size`` units of one data type."""
    if kind == "pr":
        d = draw(st.lists(st.integers(1, 2000), min_size=size, max_size=size))
        o = [draw(st.integers(0, n)) for n in d]
    else:
        d = draw(st.lists(st.floats(0.5, 2000, allow_nan=False), min_size=size, max_size=size))
        o = [draw(st.integers(0, int(3 * e) + 5)) for e in d]
        if kind == "rc" and sum(o) == 0:
            o[0] = 1  # a ratio of counts needs a positive total to have a target
    return o, d


@st.composite
def funnels(draw):
    """Several funnels of one data type at once, rows of all groups interleaved."""
    kind = draw(st.sampled_from(["sr", "pr", "rc"]))
    method = draw(st.sampled_from(["shmi", "cqc"])) if kind == "sr" else "shmi"
    sizes = draw(st.lists(st.integers(1, 25), min_size=1, max_size=6))
    o, d, keys = [], [], []
    for g, size in enumerate(sizes):
        go, gd = draw(unit_rows(kind, size))
        o += go
        d += gd
        keys += [f"g{g}"] * size
    order = draw(st.permutations(range(len(o))))
    return {
        "o": np.array([o[i] for i in order], dtype=float),
        "d": np.array([d[i] for i in order], dtype=float),
        "keys": np.array([keys[i] for i in order]),
        "kind": kind,
        "method": method,
    }


OPTIONS = st.fixed_dictionaries(
    {
        "levels": st.sampled_from([(95.0, 99.8), (80.0,), (90.0, 99.0, 99.9)]),
        "trim": st.sampled_from([0.1, 0.05, 0.2, 0.25, 0.0]),
        "overdispersion": st.sampled_from(["additive", "multiplicative", None]),
        "adjust_when": st.sampled_from(["tau2_positive", "phi_above_one"]),
        "round_expected": st.booleans(),
    }
)


def run(case, **options):
    return funnel(
        case["o"], case["d"], groups=case["keys"], kind=case["kind"], method=case["method"], **options
    )


# -- properties ------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(case=funnels(), options=OPTIONS)
def test_vectorised_kernel_agrees_with_per_group_reference(case, options):
    result = run(case, **options)
    for key in np.unique(case["keys"]):
        rows_of_group = np.flatnonzero(case["keys"] == key)
        rows, estimates, borderline = reference_group(
            case["o"][rows_of_group].tolist(),
            case["d"][rows_of_group].tolist(),
            case["kind"],
            case["method"],
            options["levels"],
            options["trim"],
            options["overdispersion"],
            options["adjust_when"],
            options["round_expected"],
        )
        code = result.group_codes[rows_of_group[0]]
        assert result.units_used[code] == estimates["units_used"]
        np.testing.assert_allclose(result.group_target[code], estimates["target"], rtol=REL)
        np.testing.assert_allclose(result.phi[code], estimates["phi"], rtol=REL, atol=1e-12)
        if borderline:
            continue  # n·φ ≈ n−1 (or φ ≈ 1): whether to adjust is decided by rounding noise
        np.testing.assert_allclose(result.tau2[code], estimates["tau2"], rtol=1e-7, atol=1e-12)
        assert result.od_adjusted[code] == estimates["od_adjusted"]
        for j, row in zip(rows_of_group, rows, strict=True):
            np.testing.assert_allclose(result.value[j], row["value"], rtol=REL)
            np.testing.assert_allclose(result.z[j], row["z"], rtol=REL, atol=1e-9)
            np.testing.assert_allclose(result.z_adjusted[j], row["z_adjusted"], rtol=1e-7, atol=1e-9)
            for i, (lower, upper) in enumerate(row["limits"]):
                np.testing.assert_allclose(result.lower[i, j], lower, rtol=1e-7, atol=1e-12)
                np.testing.assert_allclose(result.upper[i, j], upper, rtol=1e-7, atol=1e-12)
            lower, upper = row["limits"][int(np.argmax(options["levels"]))]
            value = row["value"]
            if abs(value - upper) > 1e-9 * max(1, upper) and abs(value - lower) > 1e-9 * max(1, lower):
                expected = "higher" if value > upper else "lower" if value < lower else "within"
                assert result.flag[j] == expected


def _never_falls(a: np.ndarray, axis: int) -> bool:
    """Each entry along ``axis`` at least its predecessor, allowing rounding; two infinite limits in a row
    (a back-transformed limit beyond the largest float) count as equal, where ``np.diff`` would give NaN."""
    before = np.moveaxis(a, axis, 0)[:-1]
    after = np.moveaxis(a, axis, 0)[1:]
    return bool(np.all((after >= before) | np.isclose(after, before, rtol=1e-12, atol=1e-12)))


@settings(max_examples=100, deadline=None)
@given(case=funnels(), options=OPTIONS)
@example(  # found in CI: a tiny SHMI funnel whose widest upper limits overflow to infinity
    case={
        "o": np.array([1.0, 1.0]),
        "d": np.array([1.0, 1861.0]),
        "keys": np.array(["g0", "g0"]),
        "kind": "sr",
        "method": "shmi",
    },
    options={
        "levels": (95.0, 99.8),
        "trim": 0.1,
        "overdispersion": "additive",
        "adjust_when": "tau2_positive",
        "round_expected": False,
    },
)
def test_limits_widen_as_the_level_rises(case, options):
    result = run(
        case,
        levels=(80, 90, 95, 99, 99.8, 99.99),
        trim=options["trim"],
        overdispersion=options["overdispersion"],
        adjust_when=options["adjust_when"],
    )
    assert _never_falls(-result.lower, axis=0)
    assert _never_falls(result.upper, axis=0)
    assert np.all(result.lower <= result.upper)


@settings(max_examples=100, deadline=None)
@given(case=funnels(), options=OPTIONS)
def test_limits_narrow_as_the_denominator_grows(case, options):
    result = run(case, **(options | {"round_expected": False}))
    for code in np.unique(result.group_codes):
        rows = np.flatnonzero(result.group_codes == code)
        rows = rows[np.argsort(case["d"][rows], kind="stable")]
        assert _never_falls(result.lower[:, rows], axis=1)
        assert _never_falls(-result.upper[:, rows], axis=1)


@settings(max_examples=100, deadline=None)
@given(case=funnels(), options=OPTIONS, data=st.data())
def test_results_do_not_depend_on_row_order(case, options, data):
    result = run(case, **options)
    order = np.array(data.draw(st.permutations(range(len(case["o"])))))
    shuffled = run(
        {**case, "o": case["o"][order], "d": case["d"][order], "keys": case["keys"][order]}, **options
    )
    np.testing.assert_array_equal(shuffled.flag, result.flag[order])
    np.testing.assert_array_equal(shuffled.band, result.band[order])
    np.testing.assert_allclose(shuffled.upper, result.upper[:, order], rtol=1e-9)
    np.testing.assert_allclose(shuffled.z_adjusted, result.z_adjusted[order], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        shuffled.tau2[shuffled.group_codes], result.tau2[result.group_codes][order], rtol=1e-9, atol=1e-15
    )


# -- Wilson score funnel for proportions (Fingertips) -------------------------------------------------


def reference_wilson_bound(p: float, n: float, z: float, upper: bool) -> float:
    """The Wilson score interval's upper (or lower) bound for an observed proportion p of n."""
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + half if upper else centre - half) / (1 + z * z / n)


def reference_wilson_funnel(target: float, n: float, level: float) -> tuple[float, float]:
    """By bisection, the proportions whose Wilson interval just reaches ``target``: the lower funnel limit
    is the p whose upper bound equals the target, the upper limit the p whose lower bound equals it (0 or
    1 when no proportion in [0, 1] reaches it). Independent of the kernel's closed form."""
    z = NormalDist().inv_cdf(0.5 + level / 200)

    def solve(bound_is_upper: bool) -> float:
        if bound_is_upper and target >= 1:
            # Only p = 1 has an upper bound of 1, and the bound is flat there: bisection on rounded values
            # would stop about 2e-8 short (found in CI with one unit of 1/1).
            return 1.0
        f = lambda p: reference_wilson_bound(p, n, z, bound_is_upper) - target  # noqa: E731
        lo, hi = 0.0, 1.0
        if f(lo) > 0:
            return 0.0
        if f(hi) < 0:
            return 1.0
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    return solve(True), solve(False)


@settings(max_examples=80, deadline=None)
@given(
    d=st.lists(st.integers(1, 5000), min_size=1, max_size=15),
    share=st.floats(0.0, 1.0),
    data=st.data(),
    levels=st.sampled_from([(95.0, 99.8), (90.0,)]),
)
@example(d=[1], share=1.0, data=None, levels=(95.0, 99.8))  # found in CI: every unit at 100%
def test_wilson_funnel_agrees_with_bisection_reference(d, share, data, levels):
    o = [round(share * d[0]), *(data.draw(st.integers(0, n)) for n in d[1:])]
    result = funnel(o, d, kind="pr", levels=levels, limits="wilson")
    target = sum(o) / sum(d)
    assert result.od_adjusted.tolist() == [False]
    np.testing.assert_array_equal(result.z_adjusted, result.z)
    for j, n in enumerate(d):
        for i, level in enumerate(levels):
            lower, upper = reference_wilson_funnel(target, n, level)
            np.testing.assert_allclose(result.lower[i, j], lower, rtol=0, atol=1e-8)
            np.testing.assert_allclose(result.upper[i, j], upper, rtol=0, atol=1e-8)
