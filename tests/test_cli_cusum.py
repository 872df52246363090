"""``carelens cusum`` end to end: the hand-worked chart and Steiner et al.'s published scores through the
command line, thresholds from a false-alarm rate equal to the kernel's, and bad input (exit code 2)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carelens.monitor.cusum import RECORD_COLUMNS
from carelens.stats.cusum import cusum_threshold
from tests.stats.test_cusum import parsonnet_risk
from tests.test_cli_charts import invoke, months

# -- cusum ------------------------------------------------------------------------------------------------


def cusum_records(tmp_path: Path) -> Path:
    """Two series of dated records in shuffled order: A the hand-worked chart of tests/stats/test_cusum.py
    (risk 0.1, deaths 1 1 0 1 1 0 0 1), B four survivors."""
    a = pd.DataFrame({"unit": "A", "day": months(8), "died": [1, 1, 0, 1, 1, 0, 0, 1], "risk": 0.1})
    b = pd.DataFrame({"unit": "B", "day": months(4), "died": 0, "risk": 0.3})
    frame = pd.concat([a, b], ignore_index=True).sample(frac=1, random_state=5)
    path = tmp_path / "records.csv"
    frame.to_csv(path, index=False)
    return path


def run_cusum(path: Path, out: Path, *options: str):
    return invoke(
        "cusum", path, "--series", "unit", "--outcome", "died", "--risk", "risk", "-o", out, *options
    )


def test_cusum_hand_worked_chart_with_reset(tmp_path):
    out = tmp_path / "cusum.csv"
    result = run_cusum(cusum_records(tmp_path), out, "--date", "day", "--threshold", "1.7")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["unit", "day", "died", "risk", *RECORD_COLUMNS]
    a = table[table["unit"] == "A"]
    assert a["day"].tolist() == months(8)  # sorted by date within the series
    up, down = math.log(2) - math.log(1.1), -math.log(1.1)
    s4 = 3 * up + down
    np.testing.assert_allclose(a["statistic"], [up, 2 * up, 2 * up + down, s4, s4 + up, 0, 0, up], atol=1e-12)
    assert np.flatnonzero(a["signal"]).tolist() == [4]
    assert a["restart"].tolist() == [True, False, False, False, False, True, False, False]
    assert a["observed"].tolist() == [1, 2, 2, 3, 4, 0, 0, 1]
    np.testing.assert_allclose(a["expected"], [0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.2, 0.3], rtol=1e-12)
    b = table[table["unit"] == "B"]
    assert (b["statistic"] == 0).all() and not b["signal"].any()
    # the input row of each record: A's fifth record (the signal) is where the shuffled file put it
    source = pd.read_csv(cusum_records(tmp_path))
    assert source.iloc[a["row"].iloc[4] - 1].tolist() == ["A", "2020-05-01", 1, 0.1]
    assert "1 in 1 series" in result.stderr and "1.7 (given)" in result.stderr
    assert "2020-05-01" in result.stderr  # the first signal's date
    no_reset = tmp_path / "no_reset.csv"
    assert (
        run_cusum(
            cusum_records(tmp_path), no_reset, "--date", "day", "--threshold", "1.7", "--no-reset"
        ).exit_code
        == 0
    )
    a = pd.read_csv(no_reset).query("unit == 'A'")
    assert np.flatnonzero(a["signal"]).tolist() == [4, 5, 6, 7]


def test_cusum_scores_reproduce_steiner(tmp_path):
    # Steiner (2014) p. 234: Parsonnet 0 survives/dies, 50 survives/dies, R_A = 2 and ½
    risks = [parsonnet_risk(0), parsonnet_risk(0), parsonnet_risk(50), parsonnet_risk(50)]
    path = tmp_path / "parsonnet.csv"
    pd.DataFrame({"surgeon": "S", "died": [0, 1, 0, 1], "risk": risks}).to_csv(path, index=False)
    for odds_ratio, published in (
        ("2", [-0.024, 0.669, -0.433, 0.260]),
        ("0.5", [0.012, -0.681, 0.316, -0.377]),
    ):
        out = tmp_path / f"w{odds_ratio}.csv"
        args = (
            "--series",
            "surgeon",
            "--outcome",
            "died",
            "--risk",
            "risk",
            "--threshold",
            "9",
            "--odds-ratio",
        )
        result = invoke("cusum", path, *args, odds_ratio, "-o", out)
        assert result.exit_code == 0, result.output
        assert np.round(pd.read_csv(out)["weight"], 3).tolist() == published


def test_cusum_thresholds_from_a_false_alarm_rate(tmp_path):
    path = cusum_records(tmp_path)
    out = tmp_path / "far.csv"
    result = run_cusum(path, out, "--date", "day", "--false-alarm-rate", "0.1", "--seed", "7")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    sorted_records = table[["unit", "risk"]]
    codes = pd.factorize(sorted_records["unit"], sort=True)[0]
    expected = cusum_threshold(sorted_records["risk"], codes, false_alarm_rate=0.1, seed=7)
    assert table.groupby("unit")["threshold"].first().tolist() == pytest.approx(expected.tolist(), rel=1e-15)
    assert "false-alarm rate 0.1" in result.stderr
    # the default: 5% over each series' records, reproducible
    again = tmp_path / "default.csv"
    assert run_cusum(path, again, "--date", "day").exit_code == 0
    h = pd.read_csv(again).groupby("unit")["threshold"].first()
    assert h.tolist() == pytest.approx(
        cusum_threshold(sorted_records["risk"], codes, false_alarm_rate=0.05).tolist()
    )
    assert (h.to_numpy() > expected).all()  # a lower false-alarm rate needs a higher threshold


CUSUM_BAD = {
    "outcome not 0 or 1": (
        "unit,died,risk\nA,0,0.1\nA,2,0.1\n",
        [],
        ["row 2", "column 'died'", "0 or 1, got 2"],
    ),
    "risk above 1": (
        "unit,died,risk\nA,0,1.5\n",
        [],
        ["row 1", "column 'risk'", "probability <= 1, got 1.5"],
    ),
    "negative risk": ("unit,died,risk\nA,0,-0.1\n", [], ["row 1", "column 'risk'", "at least 0"]),
    "missing risk": ("unit,died,risk\nA,0,0.1\nA,1,\n", [], ["row 2", "column 'risk'", "missing"]),
    "missing series": ("unit,died,risk\n,0,0.1\n", [], ["row 1", "column 'unit'", "missing"]),
    "missing outcome column": (
        "unit,dead,risk\nA,0,0.1\n",
        [],
        ["column 'died'", "required column is missing"],
    ),
    "odds ratio of one": ("unit,died,risk\nA,0,0.1\n", ["--odds-ratio", "1"], ["odds_ratio", "not 1"]),
    "threshold and rate": (
        "unit,died,risk\nA,0,0.1\n",
        ["--threshold", "4", "--false-alarm-rate", "0.1"],
        ["not both"],
    ),
    "too few simulations": (
        "unit,died,risk\nA,0,0.1\n",
        ["--false-alarm-rate", "0.001"],
        ["at least 5,000 are needed"],
    ),
}


@pytest.mark.parametrize("case", sorted(CUSUM_BAD))
def test_cusum_bad_input_exits_2_naming_file_row_and_column(tmp_path, case):
    text, options, expected = CUSUM_BAD[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    out = tmp_path / "o.csv"
    result = run_cusum(path, out, *options)
    assert result.exit_code == 2, result.output
    for part in expected:
        assert part in result.stderr
    if any(part.startswith("column") for part in expected):
        assert str(path) in result.stderr
    assert not out.exists()
