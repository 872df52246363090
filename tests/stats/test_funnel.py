"""Funnel kernel and table service against published SHMI bandings, real A&E data and hand calculations."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from carelens.errors import InputError
from carelens.monitor.funnels import funnel_columns, funnel_table
from carelens.stats.funnel import OD_NOTES, funnel, funnel_fit
from carelens.stats.groups import Groups
from carelens.stats.intervals import wilson_funnel_limits

FOUR_DP = 1e-9
"""After rounding to 4 dp, published and computed values must be the same number (float noise only)."""

SHMI_RELEASES = (
    "shmi-2011-october.csv",
    "shmi-2012-january.csv",
    "shmi-2012-april.csv",
    "shmi-2012-july.csv",
    "shmi-2012-october.csv",
)


def read_shmi_release(path: Path) -> pd.DataFrame:
    """A raw HSCIC release without its footer rows (rows whose INDICATOR_CODE is empty)."""
    frame = pd.read_csv(path)
    return frame[frame["INDICATOR_CODE"].notna()].reset_index(drop=True)


def assert_same_at_4dp(computed, published, what: str) -> None:
    diff = np.abs(np.round(np.asarray(computed, dtype=float), 4) - np.asarray(published, dtype=float))
    assert diff.max() < FOUR_DP, f"{what}: max abs diff {diff.max():.6f} at 4 dp"


# -- SHMI: published NHS Digital / HSCIC bandings ------------------------------------------------


@pytest.mark.parametrize("release", SHMI_RELEASES)
def test_kernel_reproduces_published_shmi_banding(data_dir, release):
    shmi = read_shmi_release(data_dir / "shmi" / "archive_raw" / release)
    result = funnel(shmi["OBSERVED"], shmi["EXPECTED"], kind="sr", method="shmi", levels=(95,))
    lower, upper = result.limits(95)
    assert_same_at_4dp(lower, shmi["OD_LL"], "OD_LL")
    assert_same_at_4dp(upper, shmi["OD_UL"], "OD_UL")
    np.testing.assert_array_equal(result.band, shmi["OD_BANDING"].to_numpy())
    assert result.od_adjusted.tolist() == [True]
    # docs/methods/shmi.md: φ ≈ 6.6–8.0 and τ² ≈ 0.0030–0.0038 on these releases; trimming keeps
    # floor(10r/(N+1)) in 1..8.
    n = len(shmi)
    ranks_kept = [r for r in range(1, n + 1) if 1 <= (10 * r) // (n + 1) <= 8]
    assert result.units_used.tolist() == [len(ranks_kept)]
    assert 6 < result.phi[0] < 8.1
    assert 0.0027 < result.tau2[0] < 0.0039


@pytest.mark.parametrize("release", SHMI_RELEASES)
def test_unadjusted_998_limits_are_the_published_exact_poisson_limits(data_dir, release):
    shmi = read_shmi_release(data_dir / "shmi" / "archive_raw" / release)
    result = funnel(shmi["OBSERVED"], shmi["EXPECTED"], kind="sr", levels=(99.8,), overdispersion=None)
    lower, upper = result.limits(99.8)
    assert_same_at_4dp(lower, shmi["PO_LL"], "PO_LL")
    assert_same_at_4dp(upper, shmi["PO_UL"], "PO_UL")
    assert result.od_note.tolist() == ["overdispersion adjustment not requested: unadjusted limits"]
    if "PO_BANDING" in shmi:  # only the October 2011 release publishes the Poisson banding
        np.testing.assert_array_equal(result.band, shmi["PO_BANDING"].to_numpy())


def test_many_releases_at_once_match_the_published_file_grouped_by_date(data_dir):
    shmi = pd.read_csv(data_dir / "shmi" / "shmi_trust_2011-2012_hscic.csv")
    assert shmi["DATE"].nunique() == 5
    result = funnel(shmi["OBSERVED"], shmi["EXPECTED"], groups=shmi["DATE"], kind="sr", levels=(95, 99.8))
    lower, upper = result.limits(95)
    assert_same_at_4dp(lower, shmi["OD_LL"], "OD_LL")
    assert_same_at_4dp(upper, shmi["OD_UL"], "OD_UL")
    # the flag and band follow the widest level (99.8%); at 95% they are SHMI's banding
    at_95 = result.flag_at(95)
    np.testing.assert_array_equal(
        np.select([at_95 == "higher", at_95 == "lower"], [1, 3], 2), shmi["OD_BANDING"]
    )
    # per-group estimates equal a separate run on each release
    for code, date in enumerate(pd.unique(shmi["DATE"])):
        one = shmi[shmi["DATE"] == date]
        alone = funnel(one["OBSERVED"], one["EXPECTED"], kind="sr", levels=(95,))
        assert result.phi[code] == pytest.approx(alone.phi[0], rel=1e-12)
        assert result.tau2[code] == pytest.approx(alone.tau2[0], rel=1e-12)


def test_table_service_reproduces_shmi_by_date(data_dir):
    shmi = pd.read_csv(data_dir / "shmi" / "shmi_trust_2011-2012_hscic.csv")
    table = funnel_table(
        shmi,
        type="sr",
        numerator="OBSERVED",
        denominator="EXPECTED",
        unit="PROVIDER",
        by=["DATE"],
        method="shmi",
        levels=(95,),
        polarity="lower-is-better",
        source="shmi.csv",
    )
    assert list(table.columns) == funnel_columns((95,), ["DATE"])
    assert table["unit"].tolist() == shmi["PROVIDER"].tolist()
    assert_same_at_4dp(table["lower_95"], shmi["OD_LL"], "OD_LL")
    assert_same_at_4dp(table["upper_95"], shmi["OD_UL"], "OD_UL")
    np.testing.assert_array_equal(table["band"], shmi["OD_BANDING"])
    assert_same_at_4dp(table["value"], shmi["VALUE"], "VALUE")
    expected_assessment = shmi["OD_BANDING"].map({1: "worse", 2: "within", 3: "better"})
    assert table["assessment"].tolist() == expected_assessment.tolist()
    assert table["od_adjusted"].all()


# -- A&E type 1, March 2019: four-hour breaches as a proportion (PR) ---------------------------------

AE_MONTH = "2019-03-01"
AE_TARGET = 281_666 / 1_373_060  # Σ breaches / Σ attendances over the 134 type 1 departments
AE_PHI = 490.4323205713953
AE_TAU2 = 0.012051134465671043
AE_HIGHER_95 = ["RAS", "RHU", "RXN"]
AE_LOWER_95 = sorted(
    ["RA4", "RBS", "RC9", "RCD", "RCU", "RDD", "RDZ", "RFF", "RJC", "RQM", "RQX", "RTR", "RWF", "RWY", "RYR"]
)
AE_HIGHER_998: list[str] = []
AE_LOWER_998: list[str] = []


@pytest.fixture(scope="module")
def ae_month(data_dir) -> pd.DataFrame:
    ae = pd.read_csv(data_dir / "nhsrdatasets" / "ae_attendances.csv", dtype={"type": str})
    month = ae[(ae["type"] == "1") & (ae["period"] == AE_MONTH)].reset_index(drop=True)
    assert len(month) == 134
    return month


def reference_pr_funnel(numerator, denominator, levels, trim=0.1):
    """docs/methods/funnel-plots.md for proportions, literally, for one funnel: plain Python over the
    units."""
    units = len(numerator)
    target = sum(numerator) / sum(denominator)
    centre = math.asin(math.sqrt(target))
    s = [1 / (2 * math.sqrt(n)) for n in denominator]
    z = [
        (math.asin(math.sqrt(o / n)) - centre) / si
        for o, n, si in zip(numerator, denominator, s, strict=True)
    ]

    def quantile_type7(values, q):
        ordered = sorted(values)
        h = (len(ordered) - 1) * q
        below = math.floor(h)
        above = min(below + 1, len(ordered) - 1)
        return ordered[below] + (h - below) * (ordered[above] - ordered[below])

    low, high = quantile_type7(z, trim), quantile_type7(z, 1 - trim)
    winsorised = [min(max(zi, low), high) for zi in z]
    phi = sum(zi * zi for zi in winsorised) / units
    w = [1 / si**2 for si in s]
    tau2 = max(0.0, (units * phi - (units - 1)) / (sum(w) - sum(wi * wi for wi in w) / sum(w)))
    limits = {}
    for level in levels:
        zq = NormalDist().inv_cdf(0.5 + level / 200)
        lower, upper = [], []
        for si in s:
            half = zq * math.sqrt(si * si + tau2)
            lower.append(math.sin(min(max(centre - half, 0.0), math.pi / 2)) ** 2)
            upper.append(math.sin(min(max(centre + half, 0.0), math.pi / 2)) ** 2)
        limits[level] = (lower, upper)
    return target, phi, tau2, limits


def outliers(units, values, lower, upper):
    higher = sorted(u for u, v, hi in zip(units, values, upper, strict=True) if v > hi)
    below = sorted(u for u, v, lo in zip(units, values, lower, strict=True) if v < lo)
    return higher, below


def test_ae_breach_funnel_matches_stated_figures_and_reference(ae_month):
    table = funnel_table(
        ae_month,
        type="pr",
        numerator="breaches",
        denominator="attendances",
        unit="org_code",
        levels=(95, 99.8),
        trim=0.1,
        polarity="lower-is-better",
    )
    assert table["target"].iloc[0] == pytest.approx(AE_TARGET, rel=1e-12)
    assert table["phi"].iloc[0] == pytest.approx(AE_PHI, rel=1e-9)
    assert table["tau2"].iloc[0] == pytest.approx(AE_TAU2, rel=1e-9)
    assert table["units_used"].iloc[0] == 134
    for level, higher, lower in ((95, AE_HIGHER_95, AE_LOWER_95), ("99_8", AE_HIGHER_998, AE_LOWER_998)):
        found = outliers(table["unit"], table["value"], table[f"lower_{level}"], table[f"upper_{level}"])
        assert found == (higher, lower), level
    # flag, band and assessment are at the widest level (99.8%): nobody is outside it this month
    assert set(table["flag"]) == {"within"}
    assert set(table["band"]) == {2}

    target, phi, tau2, limits = reference_pr_funnel(
        ae_month["breaches"].tolist(), ae_month["attendances"].tolist(), levels=(95, 99.8)
    )
    assert target == pytest.approx(AE_TARGET, rel=1e-12)
    assert phi == pytest.approx(AE_PHI, rel=1e-9)
    assert tau2 == pytest.approx(AE_TAU2, rel=1e-9)
    for level, label in ((95, "95"), (99.8, "99_8")):
        np.testing.assert_allclose(table[f"lower_{label}"], limits[level][0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(table[f"upper_{label}"], limits[level][1], rtol=1e-9, atol=1e-12)
    values = (ae_month["breaches"] / ae_month["attendances"]).tolist()
    assert outliers(ae_month["org_code"], values, *limits[95]) == (AE_HIGHER_95, AE_LOWER_95)
    assert outliers(ae_month["org_code"], values, *limits[99.8]) == (AE_HIGHER_998, AE_LOWER_998)


def test_ae_polarity_turns_flags_into_assessments(ae_month):
    kwargs = dict(type="pr", numerator="breaches", denominator="attendances", unit="org_code", levels=(95,))
    lower_better = funnel_table(ae_month, polarity="lower-is-better", **kwargs).set_index("unit")
    higher_better = funnel_table(ae_month, polarity="higher-is-better", **kwargs).set_index("unit")
    neutral = funnel_table(ae_month, polarity="neutral", **kwargs).set_index("unit")
    assert sorted(lower_better.index[lower_better["assessment"] == "worse"]) == AE_HIGHER_95
    assert sorted(lower_better.index[lower_better["assessment"] == "better"]) == AE_LOWER_95
    assert sorted(higher_better.index[higher_better["assessment"] == "better"]) == AE_HIGHER_95
    assert sorted(neutral.index[neutral["assessment"] == "lower"]) == AE_LOWER_95
    assert (lower_better.loc[AE_HIGHER_95, "band"] == 1).all()
    assert (lower_better.loc[AE_LOWER_95, "band"] == 3).all()


# -- SR, CQC method: a small example computed by hand -------------------------------------------------

# E and O chosen so that √O and √E are whole: z = (√(O/E) − 1)/(1/(2√E)) = 2(√O − √E) = [2, −2, 0, 4, −2].
CQC_E = np.array([25.0, 100.0, 16.0, 64.0, 36.0])
CQC_O = np.array([36.0, 81.0, 16.0, 100.0, 25.0])
# Type 7 percentiles of sorted z [−2, −2, 0, 2, 4]: 10th = −2, 90th = 2 + 0.6·(4 − 2) = 3.2, so the
# Winsorised z are [2, −2, 0, 3.2, −2] and φ = (4 + 4 + 0 + 10.24 + 4)/5 = 4.448.
CQC_PHI = 4.448
# w = 4E = [100, 400, 64, 256, 144]: Σw = 964, Σw² = 260368; τ² = (5·4.448 − 4)/(964 − 260368/964).
CQC_TAU2 = 18.24 / (964 - 260368 / 964)


def test_cqc_method_on_a_hand_computed_example():
    result = funnel(CQC_O, CQC_E, kind="sr", method="cqc", levels=(95, 99.8))
    np.testing.assert_allclose(result.z, [2, -2, 0, 4, -2], rtol=0, atol=1e-12)
    assert result.phi[0] == pytest.approx(CQC_PHI, rel=1e-12)
    assert result.tau2[0] == pytest.approx(CQC_TAU2, rel=1e-12)
    assert CQC_TAU2 == pytest.approx(0.0262859, abs=1e-7)
    # unit 2 (E = 100): σ = √(1/400 + τ²) = 0.169664; 95% limits (1 ∓ 1.959964σ)² = 0.445509 and 1.775650
    lower, upper = result.limits(95)
    sigma = math.sqrt(1 / 400 + CQC_TAU2)
    assert lower[1] == pytest.approx((1 - 1.959964 * sigma) ** 2, rel=1e-6)
    assert upper[1] == pytest.approx((1 + 1.959964 * sigma) ** 2, rel=1e-6)
    assert (lower[1], upper[1]) == pytest.approx((0.445509, 1.775650), abs=1e-6)
    # z_adjusted for unit 4 (O = 100, E = 64): (√(100/64) − 1)/√(1/256 + τ²) = 0.25/0.173759 = 1.438776
    assert result.z_adjusted[3] == pytest.approx(0.25 / math.sqrt(1 / 256 + CQC_TAU2), rel=1e-12)
    assert result.z_adjusted[3] == pytest.approx(1.438776, abs=1e-6)
    # O/E = 1.5625 for unit 4 is inside its correctly squared 99.8% limits (upper 2.362231)...
    assert result.upper[1][3] == pytest.approx((1 + 3.090232 * math.sqrt(1 / 256 + CQC_TAU2)) ** 2, rel=1e-6)
    assert result.flag.tolist() == ["within"] * 5


def test_cqc_reference_limits_reproduce_funnelplotr_unsquared_limits():
    result = funnel(CQC_O, CQC_E, kind="sr", method="cqc", levels=(95, 99.8), cqc_reference_limits=True)
    sigma = np.sqrt(1 / (4 * CQC_E) + CQC_TAU2)
    np.testing.assert_allclose(result.limits(95)[0], 1 - 1.959964 * sigma, rtol=1e-6)
    np.testing.assert_allclose(result.limits(99.8)[1], 1 + 3.090232 * sigma, rtol=1e-6)
    # ...but outside FunnelPlotR's unsquared upper limit 1 + 3.090232·0.173759 = 1.536955 (its issue #33)
    assert result.limits(99.8)[1][3] == pytest.approx(1.536955, abs=1e-6)
    assert result.flag.tolist() == ["within", "within", "within", "higher", "within"]


# -- explicit overdispersion decisions, edge cases ---------------------------------------------------


def test_no_overdispersion_is_reported_and_falls_back_to_exact_poisson():
    # O = E exactly gives z = 0 for everyone: φ = 0, τ² = 0.
    expected = np.array([10.0, 20.0, 40.0, 80.0, 160.0])
    result = funnel(expected, expected, kind="sr", levels=(95,))
    assert result.phi.tolist() == [0.0]
    assert result.tau2.tolist() == [0.0]
    assert result.od_adjusted.tolist() == [False]
    assert result.od_note.tolist() == ["no overdispersion (n*phi <= n-1, tau2 = 0): unadjusted limits"]
    # exact Poisson: χ²_{0.025}(2E)/(2E) for E = 10 is 0.4795389 (R: qchisq(0.025, 20)/20)
    assert result.limits(95)[0][0] == pytest.approx(9.590777 / 20, abs=1e-6)
    np.testing.assert_array_equal(result.z_adjusted, result.z)

    multiplicative = funnel(expected, expected, kind="sr", levels=(95,), overdispersion="multiplicative")
    assert multiplicative.od_note.tolist() == ["no overdispersion (phi <= 1): unadjusted limits"]


def test_multiplicative_overdispersion_scales_z_and_widens_limits_by_root_phi():
    rng = np.random.default_rng(7)
    n = rng.integers(200, 5000, 60)
    o = rng.binomial(n, np.clip(rng.normal(0.3, 0.05, 60), 0.01, 0.99))
    result = funnel(o, n, kind="pr", levels=(99.8,), overdispersion="multiplicative")
    phi = result.phi[0]
    assert phi > 1 and result.od_note.tolist() == ["multiplicative (phi)"]
    np.testing.assert_allclose(result.z_adjusted, result.z / math.sqrt(phi), rtol=1e-12)
    centre = math.asin(math.sqrt(o.sum() / n.sum()))
    half = 3.090232 * np.sqrt(phi) / (2 * np.sqrt(n))
    np.testing.assert_allclose(result.limits(99.8)[1], np.sin(centre + half) ** 2, rtol=1e-6)


def test_too_few_units_are_not_adjusted_and_say_why():
    result = funnel([5, 50, 7], [10.0, 40.0, 6.0], groups=["a", "b", "b"], kind="sr", levels=(95,))
    assert result.units_used.tolist() == [1, 2]
    assert result.od_adjusted.tolist() == [False, True]
    assert result.od_note[0] == "fewer than 2 units with a finite z left after trimming: unadjusted limits"
    assert set(result.od_note) <= set(OD_NOTES)


def test_zero_deaths_on_the_log_scale_is_minus_infinity_flagged_low_and_left_out_of_phi():
    rng = np.random.default_rng(3)
    expected = rng.uniform(20, 400, 40)
    observed = rng.poisson(expected).astype(float)
    observed[0] = 0.0
    expected[0] = 30.0
    result = funnel(observed, expected, kind="sr", levels=(95,), trim=0.0)
    assert result.z[0] == -np.inf
    assert result.flag[0] == "lower"
    assert np.isfinite(result.phi[0])
    assert result.units_used[0] == 39  # every unit but the one with z = −∞


def test_round_expected_equals_rounding_first():
    o = np.array([3, 40, 18, 7, 90, 33])
    e = np.array([4.126, 35.555, 20.004, 6.995, 80.123, 30.0049])
    rounded = funnel(o, e, kind="sr", round_expected=True)
    by_hand = funnel(o, np.round(e, 2), kind="sr")
    np.testing.assert_array_equal(rounded.upper, by_hand.upper)
    np.testing.assert_array_equal(rounded.z, by_hand.z)
    np.testing.assert_array_equal(rounded.phi, by_hand.phi)
    np.testing.assert_array_equal(rounded.tau2, by_hand.tau2)


def test_round_expected_reports_the_ratio_with_unrounded_expected():
    # The published SHMI is O/E with E as modelled; FunnelPlotR rounds E only for z, φ, τ² and the limits.
    # Before the fix the reported ratio was O/round(E): 40/35.56 instead of 40/35.555 (1.4e-4 relative).
    o = np.array([3, 40, 18, 7, 90, 33])
    e = np.array([4.126, 35.555, 20.004, 6.995, 80.123, 30.0049])
    rounded = funnel(o, e, kind="sr", round_expected=True)
    np.testing.assert_array_equal(rounded.value, o / e)
    assert rounded.z[1] == pytest.approx(math.sqrt(35.56) * math.log(40 / 35.56), rel=1e-12)
    fit = funnel_fit(o, e, kind="sr", round_expected=True)
    np.testing.assert_array_equal(fit.value, o / e)
    np.testing.assert_array_equal(fit.z_adjusted, rounded.z_adjusted)


def test_round_expected_on_the_published_shmi_release_keeps_value_and_bands(data_dir):
    shmi = read_shmi_release(data_dir / "shmi" / "archive_raw" / "shmi-2012-october.csv")
    result = funnel(shmi["OBSERVED"], shmi["EXPECTED"], kind="sr", levels=(95,), round_expected=True)
    assert_same_at_4dp(result.value, shmi["VALUE"], "VALUE")
    np.testing.assert_array_equal(result.band, shmi["OD_BANDING"].to_numpy())


# -- when the additive adjustment applies (adjust_when) ----------------------------------------------

# CQC method, trim 0, E = 100 for five units: z = 2(√O − 10), so O = (10 + z/2)² gives z = [1, −1, 1, −1,
# 0.5] exactly: φ = 4.25/5 = 0.85, between (m − 1)/m = 0.8 and 1. w = 4E = 400: τ² = (5·0.85 − 4) /
# (2000 − 400) = 1.5625e-4.
BORDER_Z = np.array([1.0, -1.0, 1.0, -1.0, 0.5])
BORDER_E = np.full(5, 100.0)
BORDER_O = (10 + BORDER_Z / 2) ** 2


def test_adjust_when_phi_between_m_minus_1_over_m_and_1():
    default = funnel(BORDER_O, BORDER_E, kind="sr", method="cqc", trim=0.0, levels=(95,))
    np.testing.assert_allclose(default.z, BORDER_Z, rtol=0, atol=1e-12)
    assert default.phi[0] == pytest.approx(0.85, rel=1e-12)
    assert default.tau2[0] == pytest.approx(1.5625e-4, rel=1e-9)
    assert default.od_adjusted.tolist() == [True]  # carelens's default: τ² > 0 is applied
    assert default.od_note.tolist() == ["additive random effects (tau2)"]
    reference = funnel(
        BORDER_O, BORDER_E, kind="sr", method="cqc", trim=0.0, levels=(95,), adjust_when="phi_above_one"
    )
    assert reference.od_adjusted.tolist() == [False]  # FunnelPlotR: φ ≤ 1, no adjustment
    assert reference.od_note.tolist() == ["no overdispersion (phi <= 1): unadjusted limits"]
    assert reference.tau2[0] == pytest.approx(1.5625e-4, rel=1e-9)  # still reported
    np.testing.assert_array_equal(reference.z_adjusted, reference.z)
    unadjusted = funnel(BORDER_O, BORDER_E, kind="sr", method="cqc", levels=(95,), overdispersion=None)
    np.testing.assert_array_equal(reference.upper, unadjusted.upper)
    # above φ = 1 both rules adjust alike
    wide_o = (10 + 2 * BORDER_Z / 2) ** 2  # z doubled: φ = 3.4
    a = funnel(wide_o, BORDER_E, kind="sr", method="cqc", trim=0.0, levels=(95,))
    b = funnel(wide_o, BORDER_E, kind="sr", method="cqc", trim=0.0, levels=(95,), adjust_when="phi_above_one")
    np.testing.assert_array_equal(a.upper, b.upper)
    assert a.od_adjusted.tolist() == b.od_adjusted.tolist() == [True]


# -- Wilson score funnel for proportions (Fingertips, PHEindicatormethods) ---------------------------

# PHEindicatormethods' test data for phe_funnels (testdata_funnel_prop_outputs.csv): the baseline
# (average proportion) 80.642448% and, by population, the 95% (0.025) and 99.8% (0.001) limits in %,
# given there to 6 decimals.
PHE_BASELINE = 0.80642448
PHE_FUNNEL = [
    # population, lower 95, upper 95, lower 99.8, upper 99.8
    (1, 3.204264, 100.0, 0.0, 100.0),
    (3, 35.933491, 100.0, 10.150815, 100.0),
    (18, 62.390093, 98.894803, 51.864359, 100.0),
    (41, 68.548635, 92.73626, 61.574398, 99.710497),
    (102, 72.974925, 88.309971, 68.553233, 92.731663),
    (1008, 78.203374, 83.081521, 76.796814, 84.488082),
    (9998, 79.867989, 81.416907, 79.421375, 81.863521),
    (110000, 80.408963, 80.875933, 80.274317, 81.010578),
]
# Areas of the same test data (testdata_funnel_prop_inputs.csv) with the significance it documents.
PHE_AREAS = [
    ("New Forest PCT", 35078.488, 41980, "High (0.001)"),
    ("Norwich PCT", 24803.6256, 31824, "Low (0.001)"),
    ("South Gloucestershire PCT", 50050.7443, 61921, "Not significant"),
    ("West Norfolk PCT", 26789.238, 33012, "High (0.025)"),
    ("Mid-Hampshire PCT", 34502.0685, 42485, "High (0.025)"),
    ("North Devon PCT", 30277.5312, 37828, "Low (0.025)"),
    ("Exeter PCT", 24866.916, 30929, "Not significant"),
    ("Heywood and Middleton PCT", 14493.3552, 17964, "Not significant"),
]


def test_wilson_funnel_limits_reproduce_phe_indicator_methods():
    n = np.array([row[0] for row in PHE_FUNNEL], dtype=float)
    lo95, hi95 = wilson_funnel_limits(PHE_BASELINE, n, 95)
    lo998, hi998 = wilson_funnel_limits(PHE_BASELINE, n, 99.8)
    for got, column in ((lo95, 1), (hi95, 2), (lo998, 3), (hi998, 4)):
        published = np.array([row[column] for row in PHE_FUNNEL])
        np.testing.assert_allclose(100 * got, published, rtol=0, atol=1e-6)  # 6 dp in %


def test_wilson_funnel_significance_matches_phe_indicator_methods():
    o = np.array([a[1] for a in PHE_AREAS])
    n = np.array([a[2] for a in PHE_AREAS], dtype=float)
    value = o / n
    lo95, hi95 = wilson_funnel_limits(PHE_BASELINE, n, 95)
    lo998, hi998 = wilson_funnel_limits(PHE_BASELINE, n, 99.8)
    got = np.select(
        [value < lo998, value < lo95, value > hi998, value > hi95],
        ["Low (0.001)", "Low (0.025)", "High (0.001)", "High (0.025)"],
        "Not significant",
    )
    assert got.tolist() == [a[3] for a in PHE_AREAS]


def test_funnel_with_wilson_limits_uses_the_group_target_and_no_overdispersion():
    rng = np.random.default_rng(11)
    n = rng.integers(5, 3000, 80)
    o = rng.binomial(n, np.clip(rng.normal(0.3, 0.08, 80), 0.01, 0.99))
    groups = np.repeat(["a", "b"], 40)
    result = funnel(o, n, groups=groups, kind="pr", levels=(95, 99.8), limits="wilson")
    for rows in (slice(0, 40), slice(40, 80)):
        target = o[rows].sum() / n[rows].sum()
        lo, hi = wilson_funnel_limits(target, n[rows], 99.8)
        np.testing.assert_allclose(result.limits(99.8)[0][rows], lo, rtol=1e-15)
        np.testing.assert_allclose(result.limits(99.8)[1][rows], hi, rtol=1e-15)
    assert result.od_adjusted.tolist() == [False, False]
    assert set(result.od_note) == {"Wilson score limits (Fingertips): no overdispersion adjustment"}
    assert np.all(result.phi > 1)  # still estimated and reported
    np.testing.assert_array_equal(result.z_adjusted, result.z)
    value = o / n
    lower, upper = result.limits(99.8)
    np.testing.assert_array_equal(result.flag_code, (value > upper).astype(int) - (value < lower))
    # at n ≤ 30 the Wilson limits differ from the arcsine normal approximation (the 52%)
    arcsine = funnel(o, n, groups=groups, kind="pr", levels=(95, 99.8), overdispersion=None)
    small = n <= 30
    if small.any():
        assert np.max(np.abs(arcsine.lower[0][small] - result.lower[0][small])) > 0.01


def test_wilson_limits_are_for_proportions_only():
    with pytest.raises(ValueError, match="proportions"):
        funnel([3, 4], [10.0, 12.0], kind="sr", limits="wilson")
    with pytest.raises(ValueError, match="limits must be one of"):
        funnel([3, 4], [10, 12], kind="pr", limits="exact")
    with pytest.raises(ValueError, match="adjust_when must be one of"):
        funnel([3, 4], [10, 12], kind="pr", adjust_when="always")


def test_any_level_and_its_column_names():
    frame = pd.DataFrame({"org": list("abcdef"), "o": [3, 4, 8, 2, 10, 6], "n": [30, 25, 40, 20, 50, 35]})
    table = funnel_table(frame, type="pr", numerator="o", denominator="n", unit="org", levels=(90, 99))
    assert [c for c in table.columns if c.startswith(("lower", "upper"))] == [
        "lower_90",
        "upper_90",
        "lower_99",
        "upper_99",
    ]
    assert (table["lower_99"] <= table["lower_90"]).all()
    assert (table["upper_99"] >= table["upper_90"]).all()


def test_ratio_of_counts_follows_the_funnel_method():
    o = np.array([12.0, 30.0, 5.0, 60.0, 22.0])
    e = np.array([10.0, 35.0, 9.0, 50.0, 20.0])
    result = funnel(o, e, kind="rc", levels=(95,), overdispersion=None)
    target = o.sum() / e.sum()
    assert result.target[0] == pytest.approx(target)
    s = np.sqrt(o / (o + 0.5) ** 2 + e / (e + 0.5) ** 2)
    np.testing.assert_allclose(result.z, (np.log((o + 0.5) / (e + 0.5)) - math.log(target)) / s, rtol=1e-12)
    np.testing.assert_allclose(
        result.limits(95)[1], np.exp(math.log(target) + 1.959964 / (2 * np.sqrt(e))), rtol=1e-6
    )


def test_groups_object_and_key_array_give_the_same_result():
    o = np.array([5, 8, 12, 3, 9, 14, 20, 4])
    n = np.array([50, 60, 70, 40, 55, 80, 90, 30])
    keys = np.array(["x", "y", "x", "y", "x", "y", "x", "y"])
    by_keys = funnel(o, n, kind="pr", groups=keys)
    by_groups = funnel(o, n, kind="pr", groups=Groups.from_keys(keys))
    np.testing.assert_array_equal(by_keys.upper, by_groups.upper)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(numerator=[1, -1], denominator=[2, 2]), "numerator .* at index 1"),
        (dict(numerator=[1, 1], denominator=[2, 0]), "denominator .* at index 1"),
        (dict(numerator=[3, 1], denominator=[2, 2], kind="pr"), "exceed .* at index 0"),
        (dict(numerator=[1, np.nan], denominator=[2, 2]), "numerator must not be missing"),
        (dict(numerator=[1, 1], denominator=[2, 2], kind="xx"), "kind"),
        (dict(numerator=[1, 1], denominator=[2, 2], trim=0.5), "trim"),
        (dict(numerator=[1, 1], denominator=[2, 2], levels=(100,)), "between"),
    ],
)
def test_kernel_rejects_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        funnel(**kwargs)


def test_table_service_collects_every_problem():
    frame = pd.DataFrame({"org": ["a", "b", "a", "c"], "o": [3, 9, 0, -1], "n": [10, 5, 0, 8]}, dtype=object)
    with pytest.raises(InputError) as caught:
        funnel_table(frame, type="pr", numerator="o", denominator="n", unit="org", source="t.csv")
    found = {(p.row, p.field) for p in caught.value.problems}
    # row 2 numerator 9 > denominator 5, row 3 zero denominator, row 3 duplicate unit 'a', row 4 negative count
    assert found == {(2, "o"), (3, "n"), (3, "org"), (4, "o")}
    assert all(p.source == "t.csv" for p in caught.value.problems)


def test_table_service_passes_the_rounding_overdispersion_and_limit_options(ae_month):
    kwargs = dict(type="pr", numerator="breaches", denominator="attendances", unit="org_code", levels=(95,))
    wilson_table = funnel_table(ae_month, limits="wilson", **kwargs)
    direct = funnel(ae_month["breaches"], ae_month["attendances"], kind="pr", levels=(95,), limits="wilson")
    np.testing.assert_array_equal(wilson_table["upper_95"], direct.upper[0])
    assert set(wilson_table["od_note"]) == {"Wilson score limits (Fingertips): no overdispersion adjustment"}
    shmi_table = funnel_table(
        pd.DataFrame({"trust": ["a", "b", "c"], "o": [3, 40, 18], "e": [4.126, 35.555, 20.004]}),
        type="sr",
        numerator="o",
        denominator="e",
        unit="trust",
        round_expected=True,
        adjust_when="phi_above_one",
    )
    np.testing.assert_array_equal(
        shmi_table["value"], np.array([3, 40, 18]) / np.array([4.126, 35.555, 20.004])
    )
