"""``carelens spc`` and the table service behind it: validation, sorting, rebase dates, gaps, output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import carelens
from carelens import cli
from carelens.errors import InputError
from carelens.monitor.control_charts import POINT_COLUMNS, gaps_before, spc_summary, spc_table

runner = CliRunner()
AE_FILE = Path(carelens.__file__).resolve().parent / "data" / "nhsrdatasets" / "ae_attendances.csv"
TOL = 1e-12


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def months(start: str, n: int) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, periods=n, freq="MS")]


@pytest.fixture(scope="module")
def ae_type1(tmp_path_factory) -> Path:
    """Type 1 A&E four-hour performance per trust and month, as a CSV file."""
    frame = pd.read_csv(AE_FILE, dtype={"type": "string"})
    frame = frame[frame["type"] == "1"]
    frame = frame.assign(performance=1 - frame["breaches"] / frame["attendances"])
    path = tmp_path_factory.mktemp("ae") / "ae_type1.csv"
    frame[["org_code", "period", "performance"]].to_csv(path, index=False)
    return path


# -- the table service ----------------------------------------------------------------------------


def small_frame() -> pd.DataFrame:
    # two facets, given out of order; B has 12 stable months then a high one
    a = pd.DataFrame({"unit": "A", "month": months("2020-01-01", 13), "y": [11.0, 9.0] * 6 + [10.0]})
    b = pd.DataFrame({"unit": "B", "month": months("2020-01-01", 13), "y": [11.0, 9.0] * 6 + [20.0]})
    return pd.concat([b, a]).sample(frac=1, random_state=3).reset_index(drop=True)


def test_table_is_sorted_by_facet_then_date_with_limits_and_icons():
    table = spc_table(small_frame(), value="y", date="month", facet="unit", target=12.0)
    assert table["unit"].tolist() == ["A"] * 13 + ["B"] * 13
    assert (table.groupby("unit")["month"].diff().dropna() > pd.Timedelta(0)).all()
    b = table[table["unit"] == "B"]
    # B: mean (120 + 20)/13; moving ranges eleven 2s and 11 (9 → 20), which screening drops
    y = b["y"].to_numpy()
    mr = np.abs(np.diff(y))
    mr = mr[mr < 3.267 * mr.mean()]
    assert b["mean"].iloc[0] == pytest.approx(140 / 13, rel=TOL)
    assert b["upper"].iloc[0] == pytest.approx(140 / 13 + 2.66 * mr.mean(), rel=TOL)
    assert b["rule"].iloc[-1] == "astronomical"
    assert set(b["variation_icon"]) == {"special_cause_improvement"}
    assert set(table.loc[table["unit"] == "A", "variation_icon"]) == {"common_cause"}
    assert set(b["assurance_icon"]) == {"inconsistent"}
    assert list(table.columns) == ["unit", "month", "y", *POINT_COLUMNS]
    assert not table["short_series"].any() and (table["gap_before"] == 0).all()


def test_rebase_dates_apply_to_every_facet():
    frame = small_frame()
    table = spc_table(frame, value="y", date="month", facet="unit", rebase=["2020-07-01"])
    for _, part in table.groupby("unit"):
        assert part["phase"].tolist() == [0] * 6 + [1] * 7
        assert part["short_series"].all()  # 6 and 7 points per phase: trial limits
    # a rebase date that falls in a gap starts the phase at the next point
    gappy = frame[frame["month"] != "2020-07-01"]
    table = spc_table(gappy, value="y", date="month", facet="unit", rebase=["2020-07-01"])
    assert table.loc[table["month"] == "2020-08-01", "phase"].tolist() == [1, 1]
    with pytest.raises(InputError, match="rebase"):
        spc_table(frame, value="y", date="month", facet="unit", rebase=["not-a-date"])


def test_gaps_are_reported_and_break_runs():
    dates = months("2020-01-01", 20)
    y = [11.0, 9.0] * 6 + [10.5] * 8
    frame = pd.DataFrame({"month": dates, "y": y}).drop(index=15)  # 2021-04 missing
    table = spc_table(frame, value="y", date="month")
    assert table["gap_before"].tolist() == [0] * 15 + [1] + [0] * 3
    assert np.isnan(table["moving_range"].iloc[15])
    assert table["rule"].iloc[12:].tolist() == [""] * 7  # 3 + 4 points: no shift of 7 either side of the gap
    summary = spc_summary(table)
    assert summary["gaps"] == 1 and summary["missing_periods"] == 1 and summary["series"] == 1
    # without gap detection the 7 points after the baseline make a shift
    assert (spc_table(frame, value="y", date="month", detect_gaps=False)["rule"].iloc[12:] == "shift").all()


def test_empty_table():
    empty = pd.DataFrame({"unit": [], "month": [], "y": []}, dtype=object)
    table = spc_table(empty, value="y", date="month", facet="unit")
    assert len(table) == 0 and spc_summary(table)["series"] == 0


def test_missing_values_are_allowed_and_counted():
    frame = pd.DataFrame({"month": months("2020-01-01", 5), "y": [1.0, None, 3.0, 2.0, 1.0]})
    table = spc_table(frame, value="y", date="month")
    assert table["point_type"].tolist()[1] == "missing"
    assert spc_summary(table)["missing_values"] == 1


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["2020-01-01", "2020-02-01", "2020-04-01", "2020-05-01"], [0, 0, 1, 0]),  # monthly
        (["2020-01-31", "2020-02-29", "2020-03-31", "2020-06-30"], [0, 0, 0, 2]),  # month ends
        (["2020-01-01", "2020-04-01", "2020-07-01", "2021-01-01"], [0, 0, 0, 1]),  # quarterly
        (["2020-01-06", "2020-01-13", "2020-01-20", "2020-02-10"], [0, 0, 0, 2]),  # weekly
        (["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-05"], [0, 0, 0, 1]),  # daily
    ],
)
def test_gap_detection(dates, expected):
    d = pd.to_datetime(pd.Series(dates)).to_numpy()
    first = np.array([True, False, False, False])
    assert gaps_before(d, first).tolist() == expected


def test_ae_trusts_with_a_missing_month(ae_type1):
    frame = pd.read_csv(ae_type1)
    table = spc_table(frame, value="performance", date="period", facet="org_code", target=0.95)
    gaps = table[table["gap_before"] > 0]
    assert list(zip(gaps["org_code"], gaps["period"].dt.strftime("%Y-%m"), strict=True)) == [
        ("RFR", "2016-12"),  # November 2016 is missing
        ("RWH", "2017-10"),  # September 2017 is missing
    ]
    assert len(table) == 4932 and table["org_code"].nunique() == 140
    rf4 = table[table["org_code"] == "RF4"]  # complete series: same as tests/stats/test_spc.py
    assert rf4["mean"].iloc[0] == pytest.approx(0.780124, abs=5e-7)
    assert rf4["upper"].iloc[0] == pytest.approx(0.871991, abs=5e-7)
    assert set(rf4["variation_icon"]) == {"special_cause_concern"}
    assert set(rf4["assurance_icon"]) == {"consistent_fail"}
    # short series: RQQ has 12 months (not short); R0A, RM2, RW3 have 18; none below 12
    assert not table["short_series"].any()


# -- the command line -----------------------------------------------------------------------------


def test_cli_writes_csv_and_parquet_with_summary(ae_type1, tmp_path):
    out = tmp_path / "spc.csv"
    args = ["spc", str(ae_type1), "--value", "performance", "--date", "period", "--facet", "org_code"]
    result = runner.invoke(cli.app, [*args, "--target", "0.95", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 4932
    assert table["period"].iloc[0] == "2017-10-01"  # R0A's first month, written without a time of day
    assert "140" in result.stderr and "4,932" in result.stderr and "special-cause" in result.stderr
    assert "consistent_fail" in result.stderr

    pq = tmp_path / "spc.parquet"
    result = runner.invoke(cli.app, [*args, "--rebase", "2018-04-01", "--no-screen", "-o", str(pq)])
    assert result.exit_code == 0, result.output
    rebased = pd.read_parquet(pq)
    assert set(rebased["phase"]) == {0, 1}
    assert "short series" in result.stderr and "warning" in result.stderr  # R0A etc: 6-point phases
    assert rebased["short_series"].any()


def test_cli_fix_after_and_improvement(tmp_path):
    path = tmp_path / "series.csv"
    frame = pd.DataFrame({"m": months("2020-01-01", 15), "v": [11.0, 9.0] * 6 + [20.0, 20.0, 20.0]})
    frame.to_csv(path, index=False)
    out = tmp_path / "out.csv"
    args = ["spc", str(path), "--value", "v", "--date", "m", "-o", str(out)]
    result = runner.invoke(cli.app, [*args, "--fix-after", "12", "--improvement", "decrease"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["mean"].iloc[0] == pytest.approx(10.0, rel=TOL)
    assert table["point_type"].iloc[-3:].tolist() == ["special_cause_concern"] * 3


BAD_INPUTS = {
    "missing column": (
        "unit,month,y\nA,2020-01-01,1\n",
        ["--value", "value"],
        ["column 'value'", "required column is missing"],
    ),
    "text in value": (
        "unit,month,value\nA,2020-01-01,1\nA,2020-02-01,2\nA,2020-03-01,three\n",
        [],
        ["row 3", "column 'value'", "not a number: 'three'"],
    ),
    "bad date": (
        "unit,month,value\nA,2020-01-01,1\nA,2020-13-01,2\n",
        [],
        ["row 2", "column 'month'", "not a date"],
    ),
    "duplicate date in a facet": (
        "unit,month,value\nA,2020-01-01,1\nB,2020-01-01,2\nA,2020-02-01,3\nA,2020-01-01,4\n",
        [],
        ["row 4", "column 'month'", "duplicate", "first seen on row 1"],
    ),
    "missing facet": (
        "unit,month,value\nA,2020-01-01,1\n,2020-02-01,2\n",
        [],
        ["row 2", "column 'unit'", "missing"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_cli_bad_input_exit_2_names_file_row_and_column(case, tmp_path):
    text, extra, expected = BAD_INPUTS[case]
    path = write_csv(tmp_path / "bad input.csv", text)
    args = [
        "spc",
        str(path),
        "--value",
        "value",
        "--date",
        "month",
        "--facet",
        "unit",
        "-o",
        str(tmp_path / "o.csv"),
    ]
    result = runner.invoke(cli.app, [*args, *extra])
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())  # Rich may wrap long lines
    assert str(path) in message
    for part in expected:
        assert part in message
    assert not (tmp_path / "o.csv").exists()  # nothing half-written


def test_cli_every_problem_is_reported(tmp_path):
    path = write_csv(tmp_path / "bad.csv", "month,value\n2020-01-01,x\n2020-02-30,2\n2020-03-01,y\n")
    result = runner.invoke(
        cli.app, ["spc", str(path), "--value", "value", "--date", "month", "-o", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "3 problem(s)" in message
    assert "row 1" in message and "row 2" in message and "row 3" in message


def test_cli_rejects_unknown_output_type_and_bad_rebase(tmp_path):
    path = write_csv(tmp_path / "ok.csv", "month,value\n2020-01-01,1\n2020-02-01,2\n")
    base = ["spc", str(path), "--value", "value", "--date", "month"]
    result = runner.invoke(cli.app, [*base, "-o", str(tmp_path / "out.xlsx")])
    assert result.exit_code == 2 and "csv or .parquet" in result.stderr
    result = runner.invoke(cli.app, [*base, "--rebase", "soon", "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 2 and "rebase" in result.stderr
