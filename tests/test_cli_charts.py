"""``carelens spc --chart`` (run, p, p′, u, u′, c, t, g; per-series targets and rebase points from columns),
end to end: the figures are the kernels' reference values (Montgomery's worked examples, qicharts2's
documented steps), and bad input exits 2 naming file, row and column."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from carelens.cli import app
from carelens.monitor.control_charts import chart_columns
from tests.stats.test_charts import (
    LANEY_COUNTS,
    LANEY_SIZES,
    MONTGOMERY_7_1,
    MONTGOMERY_7_3,
    MONTGOMERY_7_4,
    laney_by_hand,
)

WIDE = {"COLUMNS": "400"}  # keep Rich from wrapping messages, so they can be matched whole


def invoke(*args: str | Path):
    return CliRunner().invoke(app, list(map(str, args)), env=WIDE)


def months(n: int, start: str = "2020-01-01") -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, periods=n, freq="MS")]


def chart(tmp_path: Path, frame: pd.DataFrame, *options: str) -> tuple[pd.DataFrame, str]:
    """Write ``frame``, run ``carelens spc`` on it with ``options`` and return the table and the summary."""
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "chart.csv"
    result = invoke("spc", path, "--date", "month", "-o", out, *options)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    return table.assign(rule=table["rule"].astype(object).fillna("")), result.stderr  # no rule: an empty cell


# -- p, c and u charts: Montgomery's worked examples ----------------------------------------------------


def test_p_chart_reproduces_montgomery_example_7_1(tmp_path):
    frame = pd.DataFrame({"month": months(30), "defective": MONTGOMERY_7_1, "cans": 50})
    table, summary = chart(tmp_path, frame, "--value", "defective", "--denominator", "cans", "--chart", "p")
    assert list(table.columns) == ["month", "defective", "cans", *chart_columns("p")]
    np.testing.assert_allclose(table["proportion"], np.array(MONTGOMERY_7_1) / 50, rtol=1e-15)
    assert table["centre"].iloc[0] == pytest.approx(0.2313, abs=5e-5)
    assert table["upper"].iloc[0] == pytest.approx(0.4102, abs=5e-5)
    assert table["lower"].iloc[0] == pytest.approx(0.0524, abs=5e-5)
    assert (np.flatnonzero(table["rule"] == "astronomical") + 1).tolist() == [15, 23]
    assert "p chart" in summary and "astronomical 2" in summary and "runs signals" in summary


def test_c_and_u_charts_reproduce_montgomery_examples_7_3_and_7_4(tmp_path):
    frame = pd.DataFrame({"month": months(26), "faults": MONTGOMERY_7_3})
    c, _ = chart(tmp_path, frame, "--value", "faults", "--chart", "c")
    assert c["centre"].iloc[0] == pytest.approx(19.85, abs=5e-3)
    assert c["upper"].iloc[0] == pytest.approx(33.22, abs=0.01)  # the book rounds c̄ first
    assert c["lower"].iloc[0] == pytest.approx(6.48, abs=0.01)
    assert (np.flatnonzero(c["rule"] == "astronomical") + 1).tolist() == [6, 20]
    frame = pd.DataFrame({"month": months(20), "faults": MONTGOMERY_7_4, "computers": 5})
    u, _ = chart(tmp_path, frame, "--value", "faults", "--denominator", "computers", "--chart", "u")
    assert u["centre"].iloc[0] == pytest.approx(1.93, abs=5e-3)
    assert u["upper"].iloc[0] == pytest.approx(3.79, abs=5e-3)
    assert u["lower"].iloc[0] == pytest.approx(0.07, abs=5e-3)
    assert (u["rule"] == "").all()


@pytest.mark.parametrize("kind", ["pp", "up"])
def test_laney_charts_follow_qicharts2_steps(tmp_path, kind):
    centre, sigma_z, upper, lower = laney_by_hand(LANEY_COUNTS, LANEY_SIZES, kind)
    frame = pd.DataFrame({"month": months(14), "readmissions": LANEY_COUNTS, "discharges": LANEY_SIZES})
    options = ("--value", "readmissions", "--denominator", "discharges")
    table, summary = chart(tmp_path, frame, *options, "--chart", kind)
    assert table["centre"].iloc[0] == pytest.approx(centre, rel=1e-12)
    assert table["sigma_z"].iloc[0] == pytest.approx(sigma_z, rel=1e-12)
    np.testing.assert_allclose(table["upper"], upper, rtol=1e-12)
    np.testing.assert_allclose(table["lower"], lower, rtol=1e-12)
    assert (table["rule"] == "").all() and ("Laney" in summary)
    plain, _ = chart(tmp_path, frame, *options, "--chart", kind[0])
    assert (plain["rule"] == "astronomical").sum() > 0  # without Laney's σ_z most months are out
    assert "sigma_z" not in plain.columns


def test_t_and_g_charts_follow_qicharts2_steps(tmp_path):
    days = [12.0, 3.0, 25.0, 7.0, 41.0, 9.0, 2.0, 18.0, 30.0, 5.0, 14.0, 60.0, 8.0]
    yt = [d ** (1 / 3.6) for d in days]
    centre_t = sum(yt) / len(yt)
    mr = [abs(b - a) for a, b in itertools.pairwise(yt)]
    kept = [m for m in mr if m < 3.267 * (sum(mr) / len(mr))]
    sd = sum(kept) / len(kept) / 1.128
    t, _ = chart(
        tmp_path, pd.DataFrame({"month": months(13), "days": days}), "--value", "days", "--chart", "t"
    )
    assert t["centre"].iloc[0] == pytest.approx(centre_t**3.6, rel=1e-12)
    assert t["upper"].iloc[0] == pytest.approx((centre_t + 3 * sd) ** 3.6, rel=1e-12)
    gaps = [45.0, 120.0, 8.0, 230.0, 61.0, 17.0, 95.0, 150.0, 33.0, 72.0, 600.0]
    mean = sum(gaps) / len(gaps)
    g, summary = chart(
        tmp_path, pd.DataFrame({"month": months(11), "patients": gaps}), "--value", "patients", "--chart", "g"
    )
    assert g["centre"].iloc[0] == 72.0  # the median
    assert g["upper"].iloc[0] == pytest.approx(mean + 3 * math.sqrt(mean * (mean + 1)), rel=1e-12)
    assert g["point_type"].iloc[-1] == "special_cause_improvement"  # 600 patients without a death
    assert "improvement 1" in summary


def test_run_chart_with_the_anhoej_rules(tmp_path):
    # 18 points, median 9.5: a run of 9 (> round(log2 18) + 3 = 7) and 2 crossings (< 5)
    y = [1, 2, 3, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 5, 6, 7, 8, 9]
    table, summary = chart(
        tmp_path, pd.DataFrame({"month": months(18), "y": y}), "--value", "y", "--chart", "run"
    )
    assert list(table.columns) == ["month", "y", *chart_columns("run")]
    assert set(table["median"]) == {9.5}
    first = table.iloc[0]
    assert (first["useful"], first["longest_run"], first["longest_run_max"]) == (18, 9, 7)
    assert (first["crossings"], first["crossings_min"]) == (2, 5)
    assert table["runs_signal"].all()
    assert np.flatnonzero(table["rule"] == "long_run").tolist() == list(range(4, 13))
    assert "runs signals (Anhøj, last phase) │ 1" in summary and "assurance" not in summary


# -- per-series targets and rebase points from columns ---------------------------------------------------


def two_series() -> pd.DataFrame:
    a = pd.DataFrame({"unit": "A", "month": months(24), "y": [11.0, 9.0] * 12, "goal": 20.0})
    b = pd.DataFrame({"unit": "B", "month": months(24), "y": [11.0, 9.0] * 6 + [21.0, 19.0] * 6, "goal": 5.0})
    b.loc[3:, "goal"] = None  # a target given once is the series' target
    return pd.concat([b, a], ignore_index=True)


def test_target_column_sets_each_series_target(tmp_path):
    frame = two_series()
    table, summary = chart(tmp_path, frame, "--value", "y", "--facet", "unit", "--target-column", "goal")
    icons = table.groupby("unit")["assurance_icon"].first().to_dict()
    # A: limits 15.32 / 4.68 (the alternating baseline), target 20 above them → never reached;
    # B: target 5 below its lower limit → always passed
    assert icons == {"A": "consistent_fail", "B": "consistent_pass"}
    assert "consistent_fail 1, consistent_pass 1" in summary
    single, _ = chart(tmp_path, frame, "--value", "y", "--facet", "unit", "--target", "20")
    assert set(single["assurance_icon"]) == {"consistent_fail", "inconsistent"}


def test_rebase_column_starts_a_phase_in_its_own_series(tmp_path):
    frame = two_series().assign(new_phase=0)
    frame.loc[(frame["unit"] == "B") & (frame["month"] == "2021-01-01"), "new_phase"] = 1
    table, _ = chart(tmp_path, frame, "--value", "y", "--facet", "unit", "--rebase-column", "new_phase")
    a, b = table[table["unit"] == "A"], table[table["unit"] == "B"]
    assert set(a["phase"]) == {0} and b["phase"].tolist() == [0] * 12 + [1] * 12
    assert b["mean"].tolist() == [10.0] * 12 + [20.0] * 12
    assert (b["rule"] == "").all()  # the step up is a new phase, not a special cause
    # the same through a rebase date, which applies to every series
    dated, _ = chart(tmp_path, frame, "--value", "y", "--facet", "unit", "--rebase", "2021-01-01")
    assert set(dated.loc[dated["unit"] == "A", "phase"]) == {0, 1}
    # on a p chart too
    p = frame.assign(n=100, y=frame["y"].astype(int))
    pt, _ = chart(
        tmp_path,
        p,
        "--value",
        "y",
        "--denominator",
        "n",
        "--facet",
        "unit",
        "--chart",
        "p",
        "--rebase-column",
        "new_phase",
    )
    assert pt.loc[pt["unit"] == "B", "centre"].tolist() == [0.1] * 12 + [0.2] * 12


def test_explicit_xmr_is_the_default_chart(tmp_path):
    frame = two_series()
    default, summary = chart(tmp_path, frame, "--value", "y", "--facet", "unit")
    explicit, again = chart(tmp_path, frame, "--value", "y", "--facet", "unit", "--chart", "xmr")
    pd.testing.assert_frame_equal(default, explicit)
    assert "mean" in default.columns and "│ chart" not in summary and summary == again


SPC_BAD = {
    "count above denominator": (
        "month,y,n\n2020-01-01,3,10\n2020-02-01,12,10\n",
        ["--chart", "p", "--denominator", "n"],
        ["row 2", "column 'y'", "exceeds denominator"],
    ),
    "text in denominator": (
        "month,y,n\n2020-01-01,3,ten\n",
        ["--chart", "u", "--denominator", "n"],
        ["row 1", "column 'n'", "not a number: 'ten'"],
    ),
    "fractional count": (
        "month,y\n2020-01-01,3.5\n",
        ["--chart", "c"],
        ["row 1", "column 'y'", "not a whole number"],
    ),
    "zero time between events": (
        "month,y\n2020-01-01,3\n2020-02-01,0\n",
        ["--chart", "t"],
        ["row 2", "column 'y'", "greater than zero"],
    ),
    "p chart without denominator": ("month,y\n2020-01-01,3\n", ["--chart", "p"], ["needs a denominator"]),
    "c chart with denominator": (
        "month,y,n\n2020-01-01,3,10\n",
        ["--chart", "c", "--denominator", "n"],
        ["takes no denominator"],
    ),
    "two targets in a series": (
        "unit,month,y,goal\nA,2020-01-01,3,5\nA,2020-02-01,4,\nA,2020-03-01,4,6\n",
        ["--facet", "unit", "--target-column", "goal"],
        ["row 3", "column 'goal'", "target 6 differs from 5 on row 1"],
    ),
    "target and target column": (
        "month,y,goal\n2020-01-01,3,5\n",
        ["--target", "5", "--target-column", "goal"],
        ["not both"],
    ),
    "target on a run chart": ("month,y\n2020-01-01,3\n", ["--chart", "run", "--target", "5"], ["no target"]),
    "rebase flag not 0 or 1": (
        "month,y,new\n2020-01-01,3,0\n2020-02-01,4,2\n",
        ["--rebase-column", "new"],
        ["row 2", "column 'new'", "must be 0 or 1"],
    ),
    "missing target column": (
        "month,y\n2020-01-01,3\n",
        ["--target-column", "goal"],
        ["column 'goal'", "missing"],
    ),
}


@pytest.mark.parametrize("case", sorted(SPC_BAD))
def test_spc_bad_input_exits_2_naming_file_row_and_column(tmp_path, case):
    text, options, expected = SPC_BAD[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    out = tmp_path / "o.csv"
    result = invoke("spc", path, "--value", "y", "--date", "month", "-o", out, *options)
    assert result.exit_code == 2, result.output
    for part in expected:
        assert part in result.stderr
    if any(part.startswith("row") for part in expected):
        assert str(path) in result.stderr
    assert not out.exists()
