"""XmR charts (docs/methods/spc.md): hand-worked series for each rule and option, and the real A&E data.

Numbers in the A&E tests were produced by the per-series loop reference in ``conftest.py`` (which
follows docs/methods/spc.md and NHSRplotthedots 0.2.2 window by window); the tests check both the
kernel and the reference against them, and check the limits once more with plain NumPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import carelens
from carelens.stats.spc import RULES, xmr

TOL = 1e-12  # relative tolerance where kernel and a calculation do the same arithmetic
AE_FILE = Path(carelens.__file__).resolve().parent / "data" / "nhsrdatasets" / "ae_attendances.csv"

# A stable baseline: 12 points alternating around 10 → mean 10, every moving range 2, M̄R 2, no screening.
# upper 15.32, lower 4.68, near limits 10 ± (2/3)·2.66·2 = 13.5467 / 6.4533.
BASE = [11.0, 9.0] * 6
MEAN, MR = 10.0, 2.0
UPPER, LOWER = MEAN + 2.66 * MR, MEAN - 2.66 * MR
NEAR_UPPER, NEAR_LOWER = MEAN + (2 / 3) * 2.66 * MR, MEAN - (2 / 3) * 2.66 * MR


def one(values, **options):
    """Run the kernel on a single series."""
    values = np.asarray(values, dtype=float)
    return xmr(values, np.zeros(len(values), dtype=np.int64), **options)


def flagged(result, rule):
    return np.flatnonzero(getattr(result, rule)).tolist()


# -- limits ------------------------------------------------------------------------------------------


def test_limits_by_hand():
    r = one(BASE)
    assert r.mean[0] == pytest.approx(10.0, rel=TOL)
    assert r.upper[0] == pytest.approx(15.32, rel=TOL)
    assert r.lower[0] == pytest.approx(4.68, rel=TOL)
    assert r.near_upper[0] == pytest.approx(13.546666666666667, rel=TOL)
    assert r.near_lower[0] == pytest.approx(6.453333333333333, rel=TOL)
    assert np.isnan(r.moving_range[0]) and np.all(r.moving_range[1:] == 2.0)
    assert r.rule.tolist() == [""] * 12
    assert r.point_type.tolist() == ["common_cause"] * 12
    assert not r.short_series[0]


def test_screening_drops_large_moving_ranges_once():
    # 10, 11 × 6 then 30: moving ranges eleven 1s and one 19; M̄R = 30/12 = 2.5; 19 ≥ 3.267·2.5 = 8.17
    # is screened out, leaving M̄R = 1. Mean = 156/13 = 12.
    y = [10.0, 11.0] * 6 + [30.0]
    screened = one(y)
    assert screened.mean[0] == pytest.approx(12.0, rel=TOL)
    assert screened.upper[0] == pytest.approx(12 + 2.66 * 1.0, rel=TOL)
    assert screened.lower[0] == pytest.approx(12 - 2.66 * 1.0, rel=TOL)
    assert not screened.moving_range_used[-1] and screened.moving_range_used[1:-1].all()
    raw = one(y, screen=False)  # the Excel tool
    assert raw.upper[0] == pytest.approx(12 + 2.66 * 2.5, rel=TOL)
    assert raw.moving_range_used[1:].all()
    # a different screening limit keeps the large range: 19 < 10 · 2.5
    assert one(y, screen_limit=10.0).upper[0] == pytest.approx(raw.upper[0], rel=TOL)


def test_constant_three_over_d2():
    r = one(BASE, constant=3 / 1.128)
    assert r.upper[0] == pytest.approx(10 + 3 / 1.128 * 2, rel=TOL)
    assert r.near_upper[0] == pytest.approx(10 + (2 / 3) * (3 / 1.128) * 2, rel=TOL)
    assert one(BASE, near_fraction=0.5).near_lower[0] == pytest.approx(10 - 0.5 * 2.66 * 2, rel=TOL)


def test_fix_after_uses_first_n_observed_points():
    y = [*BASE, 20.0, 20.0, 20.0]
    fixed = one(y, fix_after=12)
    assert fixed.mean[-1] == pytest.approx(MEAN, rel=TOL) and fixed.upper[-1] == pytest.approx(UPPER, rel=TOL)
    assert fixed.astronomical[12:].all()
    free = one(y)
    assert free.mean[0] == pytest.approx((120 + 60) / 15, rel=TOL)
    # a missing value does not take a place in the baseline: the 13th point now joins it
    # a missing value does not take a place in the baseline (counting rows would give 111/11 = 10.09)
    with_gap = one([np.nan, *BASE, 20.0], fix_after=12)
    assert with_gap.mean[0] == pytest.approx(MEAN, rel=TOL)
    with pytest.raises(ValueError, match="fix_after"):
        one(y, fix_after=1)


def test_rebase_starts_a_new_phase_with_its_own_limits():
    y = [*BASE, *[v + 10 for v in BASE]]
    start = np.zeros(24, dtype=bool)
    start[12] = True
    r = one(y, phase_start=start)
    assert r.mean[:12] == pytest.approx([10.0] * 12, rel=TOL)
    assert r.mean[12:] == pytest.approx([20.0] * 12, rel=TOL)
    assert r.upper[12] == pytest.approx(20 + 2.66 * 2, rel=TOL)
    assert r.phase.tolist() == [0] * 12 + [1] * 12
    assert r.n_phases[0] == 2
    assert r.rule.tolist() == [""] * 24
    # the moving range across the rebase is not part of either phase
    assert np.isnan(r.moving_range[12])
    # without the rebase, the level change shows as two shifts of 12 points
    assert one(y).shift.all()


def test_runs_do_not_cross_a_rebase():
    # 4 points above the mean end phase 0 and 3 start phase 1: 7 in a row, but never 7 in one phase.
    first = [9.0, 11.0] * 4 + [11.0] * 3
    y = first + [11.0] * 3 + [9.0, 11.0] * 4
    start = np.zeros(len(y), dtype=bool)
    start[11] = True
    assert flagged(one(y), "shift") == list(range(7, 14))  # one phase: the run of 7 counts
    assert one(y, phase_start=start).shift.sum() == 0
    assert flagged(one(y, phase_start=start, shift_length=4), "shift") == [7, 8, 9, 10]


# -- the four rules ------------------------------------------------------------------------------------


def test_astronomical_is_strict():
    y = [*BASE, 20.0, 4.0, UPPER]
    r = one(y, fix_after=12)
    assert flagged(r, "astronomical") == [12, 13]  # exactly on the upper limit is not beyond it
    assert r.point_type[12] == "special_cause_improvement"
    assert r.point_type[13] == "special_cause_concern"
    assert r.point_type[14] == "common_cause"
    assert one(y, fix_after=12, improvement="decrease").point_type[12] == "special_cause_concern"


def test_shift_of_seven_points_all_marked():
    r = one([*BASE, *[10.5] * 7], fix_after=12)
    assert flagged(r, "shift") == list(range(12, 19))
    assert set(r.point_type[12:]) == {"special_cause_improvement"}
    below = one([*BASE, *[9.5] * 7], fix_after=12)  # the baseline's last point (9) joins the run below
    assert flagged(below, "shift") == list(range(11, 19))
    assert set(below.point_type[11:]) == {"special_cause_concern"}
    assert one([*BASE, *[10.5] * 6], fix_after=12).shift.sum() == 0  # 6 points are not enough
    assert one([*BASE, *[10.5] * 7], fix_after=12, shift_length=8).shift.sum() == 0
    assert flagged(one([*BASE, *[10.5] * 6], fix_after=12, shift_length=6), "shift") == list(range(12, 18))
    # a point exactly on the mean breaks the run
    assert one([*BASE, 10.5, 10.5, 10.5, 10.0, 10.5, 10.5, 10.5], fix_after=12).shift.sum() == 0


def test_trend_of_seven_points_even_across_the_mean():
    rising = [8.5, 9.0, 9.5, 10.5, 11.0, 11.5, 12.0]
    r = one([*BASE, *rising], fix_after=12)
    assert flagged(r, "trend") == list(range(12, 19))
    assert r.shift.sum() == 0
    # the trend's direction decides, even for points below the mean (NHSRplotthedots issue #171)
    assert set(r.point_type[12:]) == {"special_cause_improvement"}
    assert set(r.direction[12:]) == {1}
    falling = one([*BASE, *rising[::-1]], fix_after=12)
    assert flagged(falling, "trend") == list(range(12, 19))
    assert set(falling.point_type[12:]) == {"special_cause_concern"}
    # a tie breaks it; six points are not enough; the rule length is a parameter
    tied = [8.5, 9.0, 9.5, 9.5, 10.5, 11.0, 11.5]
    assert one([*BASE, *tied], fix_after=12).trend.sum() == 0
    assert one([*BASE, *rising[1:]], fix_after=12).trend.sum() == 0
    assert flagged(one([*BASE, *rising[1:]], fix_after=12, trend_length=6), "trend") == list(range(12, 18))


def test_trend_point_shared_by_two_trends_takes_the_later_direction():
    up = [8.0, 8.5, 9.0, 9.5, 10.5, 11.0, 11.5]
    down = [11.0, 10.5, 9.5, 9.0, 8.5, 8.0]  # with the peak 11.5: a falling trend of 7
    r = one([*BASE, *up, *down], fix_after=12)
    assert r.trend[12:].all()
    assert r.direction[12:18].tolist() == [1] * 6
    assert r.direction[18] == -1  # the peak starts the falling trend (right side wins)
    assert r.direction[19:].tolist() == [-1] * 6


def test_two_in_three_marks_only_the_points_beyond_the_near_limit():
    r = one([*BASE, 14.0, 10.5, 14.0], fix_after=12)
    assert flagged(r, "two_in_three") == [12, 14]
    assert r.rule[12:].tolist() == ["two_in_three", "", "two_in_three"]
    # points on opposite sides of the mean do not make two-in-three (NHSRplotthedots issue #143)
    assert one([*BASE, 14.0, 6.0, 14.0], fix_after=12).two_in_three.sum() == 0
    # ... nor do two points in four
    assert one([*BASE, 14.0, 10.5, 10.5, 14.0], fix_after=12).two_in_three.sum() == 0


def test_two_in_three_and_points_beyond_the_process_limit():
    y = [*BASE, 14.0, 16.0, 10.5]
    default = one(y, fix_after=12)
    assert default.two_in_three.sum() == 0  # NHSRplotthedots: 16 is beyond 3 sigma and does not count
    assert default.rule[12:].tolist() == ["", "astronomical", ""]
    counted = one(y, fix_after=12, two_in_three_beyond_process=True)
    assert flagged(counted, "two_in_three") == [12, 13]
    assert counted.rule[12:].tolist() == ["two_in_three", "astronomical", ""]


def test_precedence_decides_the_rule_and_its_direction():
    # falling above the mean: a downward trend (concern) and a shift above the mean (improvement)
    falling = [13.2, 13.0, 12.5, 12.0, 11.5, 11.0, 10.5]
    r = one([*BASE, *falling], fix_after=12)
    assert r.trend[12:].all() and r.shift[12:].all()
    assert set(r.rule[12:]) == {"trend"}
    assert set(r.point_type[12:]) == {"special_cause_concern"}
    shift_first = one(
        [*BASE, *falling], fix_after=12, precedence=("shift", "trend", "astronomical", "two_in_three")
    )
    assert set(shift_first.rule[12:]) == {"shift"}
    assert set(shift_first.point_type[12:]) == {"special_cause_improvement"}
    # astronomical beats shift; two-in-three beats shift
    r = one([*BASE, 10.5, 10.5, 16.0, 10.5, 14.0, 14.0, 10.5], fix_after=12)
    assert r.rule[12:].tolist() == [
        "shift",
        "shift",
        "astronomical",
        "shift",
        "two_in_three",
        "two_in_three",
        "shift",
    ]
    # a rule left out of the precedence never fires as the point's rule (its own flags remain)
    no_shift = one([*BASE, *[10.5] * 7], fix_after=12, precedence=("astronomical", "trend", "two_in_three"))
    assert no_shift.shift[12:].all() and set(no_shift.rule[12:]) == {""}
    with pytest.raises(ValueError, match="precedence"):
        one(BASE, precedence=("astronomical", "bogus"))


def test_neutral_improvement():
    r = one([*BASE, 20.0, 4.0], fix_after=12, improvement="neutral")
    assert r.point_type[12:].tolist() == ["special_cause_neutral_high", "special_cause_neutral_low"]
    assert r.assurance_icon[0] == ""
    with pytest.raises(ValueError, match="improvement"):
        one(BASE, improvement="up")


# -- missing values and gaps ----------------------------------------------------------------------------


def test_missing_value_breaks_runs_and_moving_ranges():
    y = [*BASE, 10.5, 10.5, 10.5, np.nan, 10.5, 10.5, 10.5, 10.5]
    r = one(y, fix_after=12)
    assert r.shift.sum() == 0
    assert np.isnan(r.moving_range[15]) and np.isnan(r.moving_range[16])
    assert r.point_type[15] == "missing" and r.rule[15] == ""
    assert r.missing.tolist() == [i == 15 for i in range(20)]
    assert r.n_missing[0] == 1 and r.n_points[0] == 20
    assert r.mean[15] == pytest.approx(MEAN, rel=TOL)  # a missing point still shows its phase's limits
    skipped = one(y, fix_after=12, missing="skip")
    assert flagged(skipped, "shift") == [12, 13, 14, 16, 17, 18, 19]
    assert skipped.moving_range[16] == 0.0 and np.isnan(skipped.moving_range[15])
    assert skipped.point_type[15] == "missing"


def test_missing_value_is_left_out_of_mean_and_moving_ranges():
    y = [11.0, 9.0, np.nan, 11.0, 9.0, 11.0]
    r = one(y)
    assert r.mean[0] == pytest.approx(51 / 5, rel=TOL)
    # moving ranges 2, (none), (none), 2, 2 → M̄R 2
    assert r.upper[0] == pytest.approx(51 / 5 + 2.66 * 2, rel=TOL)
    assert r.moving_range_used.tolist() == [False, True, False, False, True, True]
    skipped = one(y, missing="skip")  # moving ranges 2, 0 (9 → 11 across the gap is 2), 2, 2
    assert skipped.moving_range[3] == 2.0 and skipped.moving_range_used[3]


def test_gap_before_breaks_like_a_missing_value():
    y = [*BASE, *[10.5] * 7]
    gap = np.zeros(len(y), dtype=bool)
    gap[15] = True
    r = one(y, fix_after=12, gap_before=gap)
    assert r.shift.sum() == 0
    assert np.isnan(r.moving_range[15])
    assert one(y, fix_after=12, gap_before=gap, missing="skip").shift.sum() == 7


def test_all_missing_series():
    r = one([np.nan, np.nan])
    assert np.isnan(r.mean).all() and r.point_type.tolist() == ["missing", "missing"]
    assert r.variation_icon[0] == "" and r.short_series[0]


# -- icons and warnings -------------------------------------------------------------------------------


def test_variation_icon_is_the_last_observed_points_type():
    assert one([*BASE, 20.0], fix_after=12).variation_icon[0] == "special_cause_improvement"
    assert one([*BASE, 20.0, 10.0], fix_after=12).variation_icon[0] == "common_cause"
    assert one([*BASE, 20.0, np.nan], fix_after=12).variation_icon[0] == "special_cause_improvement"


@pytest.mark.parametrize(
    ("target", "improvement", "icon"),
    [
        (16.0, "increase", "consistent_fail"),  # target above the upper limit: it will not be reached
        (16.0, "decrease", "consistent_pass"),
        (4.0, "increase", "consistent_pass"),  # target below the lower limit: always exceeded
        (4.0, "decrease", "consistent_fail"),
        (12.0, "increase", "inconsistent"),  # between the limits: hit and miss
        (UPPER, "increase", "inconsistent"),
        (12.0, "neutral", ""),
        (None, "increase", ""),
    ],
)
def test_assurance_icon(target, improvement, icon):
    assert one(BASE, target=target, improvement=improvement).assurance_icon[0] == icon


def test_assurance_uses_the_last_phase_and_per_series_targets():
    y = [*BASE, *[v + 10 for v in BASE]]  # phase 1 limits 14.68 .. 25.32
    start = np.zeros(24, dtype=bool)
    start[12] = True
    assert one(y, phase_start=start, target=13.0).assurance_icon[0] == "consistent_pass"
    codes = np.repeat([0, 1], 12)
    r = xmr(np.array(BASE * 2), codes, target=[16.0, np.nan])
    assert r.assurance_icon.tolist() == ["consistent_fail", ""]
    r = xmr(np.array(BASE * 2), codes, improvement=["increase", "decrease"], target=16.0)
    assert r.assurance_icon.tolist() == ["consistent_fail", "consistent_pass"]


def test_short_series_warning():
    assert one(BASE[:11]).short_series[0]
    assert not one(BASE).short_series[0]
    assert one(BASE, min_points=13).short_series[0]
    assert one(BASE, fix_after=10).short_series[0]
    assert one([*BASE[:11], np.nan]).short_series[0]  # 11 observed values
    start = np.zeros(24, dtype=bool)
    start[18] = True
    r = one(BASE * 2, phase_start=start)
    assert r.short_series[0] and r.short_phase.tolist() == [False] * 18 + [True] * 6


# -- many series at once -------------------------------------------------------------------------------


def test_many_series_match_each_series_alone():
    series = [[*BASE, 20.0], [*BASE, *[10.5] * 7], [3.0, 1.0, 4.0, 1.0, 5.0], [np.nan, 2.0, 2.0]]
    codes = np.concatenate([np.full(len(s), i) for i, s in enumerate(series)])
    together = xmr(np.concatenate(series), codes, fix_after=12, target=12.0)
    start = 0
    for i, s in enumerate(series):
        alone = one(s, fix_after=12, target=12.0)
        part = slice(start, start + len(s))
        start += len(s)
        np.testing.assert_array_equal(together.mean[part], alone.mean)
        np.testing.assert_array_equal(together.upper[part], alone.upper)
        assert together.rule[part].tolist() == alone.rule.tolist()
        assert together.point_type[part].tolist() == alone.point_type.tolist()
        assert together.variation_icon[i] == alone.variation_icon[0]
        assert together.assurance_icon[i] == alone.assurance_icon[0]
        assert together.n_points[i] == len(s)


def test_series_must_be_contiguous():
    with pytest.raises(ValueError, match="contiguous"):
        xmr(np.ones(3), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="integers"):
        xmr(np.ones(3), np.array([0.0, 0.0, 1.0]))


def test_empty_input():
    r = xmr(np.array([]), np.array([], dtype=np.int64))
    assert len(r.mean) == 0 and len(r.variation_icon) == 0


# -- real data: NHS England A&E four-hour performance, type 1 departments, Apr 2016 – Mar 2019 ---------

RULE_LETTER = {"": ".", "astronomical": "A", "trend": "T", "two_in_three": "2", "shift": "S"}
TYPE_LETTER = {"common_cause": ".", "special_cause_improvement": "+", "special_cause_concern": "-"}

# Per trust (36 months each): mean, upper, lower, near upper (to 6 decimals), the rule that fires per
# month (A astronomical, T trend, 2 two-in-three, S shift), the point types (+ improvement, − concern),
# and the icons against the 95% standard with improvement = increase.
AE_EXPECTED = {
    "RF4": (
        (0.780124, 0.871991, 0.688258, 0.841369),
        "SSSSAA22S.22SS22STTTTTTT...SSSSSAAAS",
        "+++++++++.+++++++-------...---------",
        ("special_cause_concern", "consistent_fail"),
    ),
    "R1H": (
        (0.798203, 0.853247, 0.743159, 0.834899),
        "SSSSAASS.A....A22...........TTTTTAAA",
        "++++++++.-....+++...........--------",
        ("special_cause_concern", "consistent_fail"),
    ),
    "RC9": (
        (0.977766, 0.987122, 0.968410, 0.984003),
        "SSSAAA22SS.SS2A2SSSS..AA....A..A..AA",
        "++++++++++.+++++++++..--....-..-..--",
        ("special_cause_concern", "consistent_pass"),
    ),
    "RLT": (
        (0.865775, 0.960760, 0.770790, 0.929098),
        "..2.2......S222STTTTTTTA.TTTTTTTTTSS",
        "..+.+......+++++--------.-----------",
        ("special_cause_concern", "inconsistent"),
    ),
}


@pytest.fixture(scope="module")
def ae():
    """Type 1 A&E rows with four-hour performance, sorted by trust then month."""
    frame = pd.read_csv(AE_FILE, dtype={"type": "string", "org_code": "string"}, parse_dates=["period"])
    frame = frame[frame["type"] == "1"].copy()
    frame["performance"] = 1 - frame["breaches"] / frame["attendances"]
    frame = frame.sort_values(["org_code", "period"]).reset_index(drop=True)
    frame["code"] = pd.factorize(frame["org_code"])[0]
    return frame


def test_ae_data_is_the_expected_extract(ae):
    assert len(ae) == 4932
    assert ae["org_code"].nunique() == 140
    assert ae["attendances"].sum() == 46_315_223 and ae["breaches"].sum() == 8_096_641


@pytest.mark.parametrize("org", sorted(AE_EXPECTED))
def test_ae_named_trusts(ae, org, spc_reference):
    reference_series, _ = spc_reference
    limits, rules, types, icons = AE_EXPECTED[org]
    r = xmr(ae["performance"].to_numpy(), ae["code"].to_numpy(), target=0.95)
    rows = np.flatnonzero(ae["org_code"].to_numpy() == org)
    code = int(ae["code"].iloc[rows[0]])
    assert len(rows) == 36
    got = (r.mean[rows[0]], r.upper[rows[0]], r.lower[rows[0]], r.near_upper[rows[0]])
    assert got == pytest.approx(limits, abs=5e-7)
    assert "".join(RULE_LETTER[x] for x in r.rule[rows]) == rules
    assert "".join(TYPE_LETTER[x] for x in r.point_type[rows]) == types
    assert (r.variation_icon[code], r.assurance_icon[code]) == icons

    # the loop reference agrees
    ref = reference_series(ae["performance"].to_numpy()[rows], target=0.95)
    assert (ref["mean"][0], ref["upper"][0], ref["lower"][0], ref["near_upper"][0]) == pytest.approx(
        limits, abs=5e-7
    )
    assert "".join(RULE_LETTER[x] for x in ref["rule"]) == rules
    assert "".join(TYPE_LETTER[x] for x in ref["point_type"]) == types
    assert (ref["variation_icon"], ref["assurance_icon"]) == icons

    # and plain NumPy gives the same limits
    y = ae["performance"].to_numpy()[rows]
    mr = np.abs(np.diff(y))
    mr = mr[mr < 3.267 * mr.mean()]
    assert r.upper[rows[0]] == pytest.approx(y.mean() + 2.66 * mr.mean(), rel=TOL)


def test_ae_rf4_months(ae):
    """RF4 (Barking, Havering and Redbridge): the falling trend and the astronomical months, by date."""
    rf4 = ae[ae["org_code"] == "RF4"]
    r = xmr(rf4["performance"].to_numpy(), np.zeros(len(rf4), dtype=np.int64))
    months = rf4["period"].dt.strftime("%Y-%m").to_numpy()
    assert months[r.trend].tolist() == [f"2017-{m:02d}" for m in range(9, 13)] + [
        "2018-01",
        "2018-02",
        "2018-03",
    ]
    assert set(r.direction[r.trend]) == {-1}
    assert months[r.astronomical].tolist() == ["2016-08", "2016-09", "2018-12", "2019-01", "2019-02"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"target": 0.95, "improvement": "decrease"},
        {"fix_after": 12, "screen": False},
        {"shift_length": 6, "trend_length": 6, "two_in_three_beyond_process": True},
        {"improvement": "neutral", "constant": 3 / 1.128},
    ],
)
def test_ae_all_trusts_match_the_loop_reference(ae, options, spc_reference):
    _, reference_many = spc_reference
    y, codes = ae["performance"].to_numpy(), ae["code"].to_numpy()
    r = xmr(y, codes, **options)
    ref = reference_many(y, codes, **options)
    assert len(ref) == 140
    start = 0
    for code, expected in ref.items():
        part = slice(start, start + len(expected["mean"]))
        start = part.stop
        for key in ("mean", "upper", "lower", "near_upper", "near_lower", "moving_range"):
            np.testing.assert_allclose(getattr(r, key)[part], expected[key], rtol=TOL, equal_nan=True)
        for key in (*RULES, "rule", "point_type", "direction"):
            assert getattr(r, key)[part].tolist() == list(expected[key]), (code, key)
        for key in ("variation_icon", "assurance_icon", "short_series", "n_points"):
            assert getattr(r, key)[code] == expected[key], (code, key)
