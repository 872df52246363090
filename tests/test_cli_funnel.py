"""``carelens funnel`` end to end: published SHMI bandings, A&E by month, and bad input (exit code 2)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from carelens.cli import app
from carelens.monitor.funnels import funnel_table

WIDE = {"COLUMNS": "400"}  # keep Rich from wrapping messages, so they can be matched whole
FOUR_DP = 1e-9

SHMI_RELEASES = (
    "shmi-2011-october.csv",
    "shmi-2012-january.csv",
    "shmi-2012-april.csv",
    "shmi-2012-july.csv",
    "shmi-2012-october.csv",
)


def invoke(*args: str | Path):
    return CliRunner().invoke(app, ["funnel", *map(str, args)], env=WIDE)


def assert_same_at_4dp(computed, published, what: str) -> None:
    diff = np.abs(np.round(np.asarray(computed, dtype=float), 4) - np.asarray(published, dtype=float))
    assert diff.max() < FOUR_DP, f"{what}: max abs diff {diff.max():.6f} at 4 dp"


def shmi_input(data_dir: Path, release: str, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """The release file itself, or a copy without footer rows (empty INDICATOR_CODE) if it has any."""
    path = data_dir / "shmi" / "archive_raw" / release
    published = pd.read_csv(path)
    footer = published["INDICATOR_CODE"].isna()
    if footer.any():
        published = published[~footer].reset_index(drop=True)
        path = tmp_path / release
        published.to_csv(path, index=False)
    return path, published


@pytest.mark.parametrize("release", SHMI_RELEASES)
def test_cli_reproduces_published_shmi_limits_and_banding(data_dir, tmp_path, release):
    path, published = shmi_input(data_dir, release, tmp_path)
    out = tmp_path / "od.csv"
    result = invoke(
        path,
        "--type",
        "sr",
        "--method",
        "shmi",
        "--numerator",
        "OBSERVED",
        "--denominator",
        "EXPECTED",
        "--unit",
        "PROVIDER",
        "--level",
        "95",
        "--polarity",
        "lower-is-better",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["unit"].tolist() == published["PROVIDER"].tolist()
    assert_same_at_4dp(table["lower_95"], published["OD_LL"], "OD_LL")
    assert_same_at_4dp(table["upper_95"], published["OD_UL"], "OD_UL")
    np.testing.assert_array_equal(table["band"], published["OD_BANDING"])
    higher = int((published["OD_BANDING"] == 1).sum())
    lower = int((published["OD_BANDING"] == 3).sum())
    assert f"{len(published)} units in 1 group(s)" in result.stderr
    assert f"{higher} higher, {lower} lower" in result.stderr

    out = tmp_path / "poisson.parquet"
    result = invoke(
        path,
        "--type",
        "sr",
        "--numerator",
        "OBSERVED",
        "--denominator",
        "EXPECTED",
        "--unit",
        "PROVIDER",
        "--level",
        "99.8",
        "--no-overdispersion",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert_same_at_4dp(table["lower_99_8"], published["PO_LL"], "PO_LL")
    assert_same_at_4dp(table["upper_99_8"], published["PO_UL"], "PO_UL")
    assert not table["od_adjusted"].any()


def test_cli_reproduces_consolidated_shmi_file_by_date(data_dir, tmp_path):
    path = data_dir / "shmi" / "shmi_trust_2011-2012_hscic.csv"
    published = pd.read_csv(path)
    out = tmp_path / "shmi.csv"
    result = invoke(
        path,
        "--type",
        "sr",
        "--method",
        "shmi",
        "--numerator",
        "OBSERVED",
        "--denominator",
        "EXPECTED",
        "--unit",
        "PROVIDER",
        "--by",
        "DATE",
        "--level",
        "95",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "726 units in 5 group(s)" in result.stderr
    table = pd.read_csv(out)
    assert table["unit"].tolist() == published["PROVIDER"].tolist()
    assert table["DATE"].astype(str).tolist() == published["DATE"].tolist()
    assert_same_at_4dp(table["lower_95"], published["OD_LL"], "OD_LL")
    assert_same_at_4dp(table["upper_95"], published["OD_UL"], "OD_UL")
    np.testing.assert_array_equal(table["band"], published["OD_BANDING"])
    assert table.groupby("DATE")["tau2"].nunique().eq(1).all()


def test_cli_ae_funnels_for_every_month_at_once_with_default_levels(data_dir, tmp_path):
    ae = pd.read_csv(data_dir / "nhsrdatasets" / "ae_attendances.csv", dtype={"type": str})
    type1 = ae[ae["type"] == "1"].reset_index(drop=True)
    path = tmp_path / "ae_type1.parquet"
    type1.to_parquet(path, index=False)
    out = tmp_path / "funnels.parquet"
    result = invoke(
        path,
        "--type",
        "pr",
        "--numerator",
        "breaches",
        "--denominator",
        "attendances",
        "--unit",
        "org_code",
        "--by",
        "period",
        "--polarity",
        "lower-is-better",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert f"{len(type1):,} units in 36 group(s)" in result.stderr
    table = pd.read_parquet(out)
    assert len(table) == len(type1) == 4932
    assert {"lower_95", "upper_95", "lower_99_8", "upper_99_8"} <= set(table.columns)
    month = table[table["period"].astype(str) == "2019-03-01"].reset_index(drop=True)
    assert len(month) == 134
    assert month["phi"].iloc[0] == pytest.approx(490.4323205713953, rel=1e-9)
    one_month = type1[type1["period"] == "2019-03-01"].reset_index(drop=True)
    alone = funnel_table(
        one_month,
        type="pr",
        numerator="breaches",
        denominator="attendances",
        unit="org_code",
        polarity="lower-is-better",
    )
    for column in ("value", "target", "z", "z_adjusted", "lower_95", "upper_95", "lower_99_8", "upper_99_8"):
        np.testing.assert_allclose(month[column], alone[column], rtol=1e-9, err_msg=column)
    assert month["assessment"].tolist() == alone["assessment"].tolist()


# -- bad input: exit code 2 and a message naming file, row and column ------------------------------------

GOOD = "org,period,breaches,attendances\nA,2019-01,5,100\nB,2019-01,7,90\nC,2019-01,9,120\nA,2019-02,4,80\n"


@pytest.mark.parametrize(
    ("content", "options", "row", "column", "reason"),
    [
        (GOOD, ["--numerator", "deaths"], None, "deaths", "required column is missing"),
        (GOOD.replace("B,2019-01,7,90", "B,2019-01,seven,90"), [], 2, "breaches", "not a number: 'seven'"),
        (GOOD.replace("C,2019-01,9,120", "C,2019-01,-9,120"), [], 3, "breaches", "negative count: -9"),
        (GOOD.replace("B,2019-01,7,90", "B,2019-01,95,90"), [], 2, "breaches", "exceeds denominator"),
        (GOOD.replace("C,2019-01,9,120", "C,2019-01,0,0"), [], 3, "attendances", "must be greater than zero"),
        (GOOD.replace("C,2019-01", "A,2019-01"), ["--by", "period"], 3, "org", "duplicate key org=A"),
        (GOOD, [], 4, "org", "duplicate key org=A"),  # without --by, A appears twice in one funnel
    ],
)
def test_cli_bad_input_exits_2_naming_file_row_and_column(tmp_path, content, options, row, column, reason):
    path = tmp_path / "ae.csv"
    path.write_text(content)
    out = tmp_path / "out.csv"
    args = ["--type", "pr", "--numerator", "breaches", "--denominator", "attendances", "--unit", "org"]
    for i in range(0, len(options), 2):  # an option given in the case replaces the default one
        if options[i] in args:
            args[args.index(options[i]) + 1] = options[i + 1]
        else:
            args += options[i : i + 2]
    result = invoke(path, *args, "-o", out)
    assert result.exit_code == 2, result.output
    where = f"{path}, row {row}, column {column!r}" if row else f"{path}, column {column!r}"
    assert where in result.stderr
    assert reason in result.stderr
    assert not out.exists()


def test_cli_sr_expected_may_be_fractional_but_observed_must_be_whole(tmp_path):
    path = tmp_path / "sr.csv"
    path.write_text("trust,deaths,expected\nX,10,9.25\nY,12.5,11.75\nZ,8,8.5\n")
    result = invoke(
        path,
        "--type",
        "sr",
        "--numerator",
        "deaths",
        "--denominator",
        "expected",
        "--unit",
        "trust",
        "-o",
        tmp_path / "o.csv",
    )
    assert result.exit_code == 2
    assert f"{path}, row 2, column 'deaths': count is not a whole number: 12.5" in result.stderr
    assert "Bad input: 1 problem(s)" in result.stderr  # a fractional expected count is fine


def test_cli_rejects_unknown_output_type(tmp_path):
    path = tmp_path / "ae.csv"
    path.write_text(GOOD)
    result = invoke(
        path,
        "--type",
        "pr",
        "--numerator",
        "breaches",
        "--denominator",
        "attendances",
        "--unit",
        "org",
        "--by",
        "period",
        "-o",
        tmp_path / "out.xlsx",
    )
    assert result.exit_code == 2
    assert "output must be a .csv or .parquet file" in result.stderr


# -- options: Wilson limits, rounded expected counts, when to adjust, record-level input -----------------


def run_funnel(path: Path, out: Path, *options: str | Path):
    result = invoke(path, "--unit", "unit", "--numerator", "o", "--denominator", "n", *options, "-o", out)
    assert result.exit_code == 0, result.output
    return pd.read_csv(out), result.stderr


def test_cli_wilson_limits_reproduce_phe_indicator_methods(tmp_path):
    # PHEindicatormethods' published funnel (see tests/stats/test_funnel.py) at its baseline 80.642448%:
    # the units of those sizes plus one large unit that makes ΣO/Σn exactly that baseline.
    from tests.stats.test_funnel import PHE_FUNNEL

    sizes = np.array([row[0] for row in PHE_FUNNEL])
    counts = np.floor(sizes * 0.8).astype(int)
    total_n, total_o = 100_000_000, 80_642_448
    frame = pd.DataFrame(
        {
            "unit": [f"u{n}" for n in sizes] + ["rest"],
            "o": [*counts, total_o - counts.sum()],
            "n": [*sizes, total_n - sizes.sum()],
        }
    )
    path = tmp_path / "prop.csv"
    frame.to_csv(path, index=False)
    table, summary = run_funnel(path, tmp_path / "w.csv", "--type", "pr", "--limits", "wilson")
    assert table["target"].iloc[0] == pytest.approx(0.80642448, rel=1e-15)
    for column, name in ((1, "lower_95"), (2, "upper_95"), (3, "lower_99_8"), (4, "upper_99_8")):
        published = [row[column] for row in PHE_FUNNEL]
        np.testing.assert_allclose(100 * table[name].iloc[:-1], published, rtol=0, atol=1e-6, err_msg=name)
    assert set(table["od_note"]) == {"Wilson score limits (Fingertips): no overdispersion adjustment"}
    assert "1 group(s) with unadjusted limits" in summary
    arcsine, _ = run_funnel(path, tmp_path / "a.csv", "--type", "pr", "--no-overdispersion")
    assert abs(arcsine["lower_95"].iloc[1] - table["lower_95"].iloc[1]) > 0.05  # n = 3: they differ


def test_cli_round_expected_rounds_for_z_and_limits_not_for_the_value(tmp_path):
    # tests/stats/test_funnel.py: E = 35.555 rounds to 35.56 for z; the value stays 40/35.555
    path = tmp_path / "sr.csv"
    e = [4.126, 35.555, 20.004, 6.995, 80.123, 30.0049]
    pd.DataFrame({"unit": list("ABCDEF"), "o": [3, 40, 18, 7, 90, 33], "n": e}).to_csv(path, index=False)
    rounded, _ = run_funnel(path, tmp_path / "r.csv", "--type", "sr", "--round-expected")
    plain, _ = run_funnel(path, tmp_path / "p.csv", "--type", "sr")
    assert rounded["value"].iloc[1] == 40 / 35.555 == plain["value"].iloc[1]
    assert rounded["z"].iloc[1] == pytest.approx(math.sqrt(35.56) * math.log(40 / 35.56), rel=1e-12)
    assert plain["z"].iloc[1] == pytest.approx(math.sqrt(35.555) * math.log(40 / 35.555), rel=1e-12)
    path.write_text("unit,o,n\nA,3,4.1\nB,0,0.004\n")
    result = invoke(
        path,
        "--type",
        "sr",
        "--unit",
        "unit",
        "--numerator",
        "o",
        "--denominator",
        "n",
        "--round-expected",
        "-o",
        tmp_path / "x.csv",
    )
    assert result.exit_code == 2
    assert f"{path}, row 2, column 'n': 0.004 rounds to 0 at 2 decimals" in result.stderr


def test_cli_adjust_when_phi_above_one(tmp_path):
    # as tests/stats/test_funnel.py, with whole counts: CQC method, trim 0, E = 100, z = 2(√O − 10);
    # φ = mean z² = 0.8513 lies between (m − 1)/m = 0.8 and 1; τ² = (5φ − 4)/(2000 − 400) with w = 4E
    o = np.array([110, 90, 110, 90, 105])
    phi = np.mean((2 * (np.sqrt(o) - 10)) ** 2)
    path = tmp_path / "border.csv"
    pd.DataFrame({"unit": list("ABCDE"), "o": o, "n": 100.0}).to_csv(path, index=False)
    options = ("--type", "sr", "--method", "cqc", "--trim", "0", "--level", "95")
    default, _ = run_funnel(path, tmp_path / "d.csv", *options)
    reference, _ = run_funnel(path, tmp_path / "r.csv", *options, "--adjust-when", "phi-above-one")
    unadjusted, _ = run_funnel(path, tmp_path / "u.csv", *options, "--no-overdispersion")
    assert 0.8 < phi < 1
    assert default["phi"].iloc[0] == pytest.approx(phi, rel=1e-12)
    assert default["tau2"].iloc[0] == pytest.approx((5 * phi - 4) / 1600, rel=1e-9)
    assert default["od_adjusted"].all() and not reference["od_adjusted"].any()
    assert set(reference["od_note"]) == {"no overdispersion (phi <= 1): unadjusted limits"}
    np.testing.assert_array_equal(reference["upper_95"], unadjusted["upper_95"])
    # adjusted: (1 + z·√(1/(4E) + τ²))²; unadjusted: exact Poisson limits
    tau2 = (5 * phi - 4) / 1600
    np.testing.assert_allclose(default["upper_95"], (1 + 1.959964 * np.sqrt(1 / 400 + tau2)) ** 2, rtol=1e-6)


def test_cli_aggregate_sums_records_per_unit_and_group(tmp_path):
    # record-level rows: one per patient (o = 1 died) or per month; summed per unit and --by group
    path = tmp_path / "records.csv"
    path.write_text(
        "unit,year,o,n\nA,2019,1,1\nA,2019,0,1\nB,2019,2,5\nA,2019,1,1\nA,2020,0,3\nB,2019,0,0\nC,2019,4,9\n"
    )
    table, summary = run_funnel(path, tmp_path / "agg.csv", "--type", "pr", "--by", "year", "--aggregate")
    assert table[["unit", "year", "numerator", "denominator"]].values.tolist() == [
        ["A", 2019, 2, 3],
        ["B", 2019, 2, 5],
        ["A", 2020, 0, 3],
        ["C", 2019, 4, 9],
    ]
    assert table.loc[table["year"] == 2019, "target"].tolist() == [8 / 17] * 3
    assert "4 units (from 7 records) in 2 group(s)" in summary
    totals = pd.DataFrame(
        {"unit": ["A", "B", "A", "C"], "year": [2019, 2019, 2020, 2019], "o": [2, 2, 0, 4], "n": [3, 5, 3, 9]}
    )
    pre = tmp_path / "totals.csv"
    totals.to_csv(pre, index=False)
    summed, _ = run_funnel(pre, tmp_path / "pre.csv", "--type", "pr", "--by", "year")
    pd.testing.assert_frame_equal(table, summed)
    # without --aggregate the repeated unit is refused, as before
    result = invoke(
        path,
        "--type",
        "pr",
        "--unit",
        "unit",
        "--numerator",
        "o",
        "--denominator",
        "n",
        "--by",
        "year",
        "-o",
        tmp_path / "x.csv",
    )
    assert result.exit_code == 2 and "duplicate key unit=A" in result.stderr


def test_cli_aggregate_on_ae_months_equals_the_yearly_totals(data_dir, tmp_path):
    frame = pd.read_csv(data_dir / "nhsrdatasets" / "ae_attendances.csv", dtype={"type": "string"})
    frame = frame[frame["type"] == "1"].assign(year=lambda f: f["period"].str[:4])
    path = tmp_path / "ae_months.csv"
    frame.rename(columns={"org_code": "unit", "breaches": "o", "attendances": "n"}).to_csv(path, index=False)
    table, _ = run_funnel(path, tmp_path / "ae.csv", "--type", "pr", "--by", "year", "--aggregate")
    totals = frame.groupby(["org_code", "year"], sort=False)[["breaches", "attendances"]].sum().reset_index()
    expected = funnel_table(
        totals, type="pr", numerator="breaches", denominator="attendances", unit="org_code", by=["year"]
    )
    assert len(table) == len(expected) == len(totals)
    np.testing.assert_array_equal(table["numerator"], expected["numerator"])
    np.testing.assert_allclose(table["z_adjusted"], expected["z_adjusted"], rtol=1e-12)
    np.testing.assert_allclose(table["upper_99_8"], expected["upper_99_8"], rtol=1e-12)
    assert table["flag"].tolist() == expected["flag"].tolist()


@pytest.mark.parametrize(
    ("content", "options", "expected"),
    [
        (
            "unit,o,n\nA,1,1\nA,0,0\nB,0,0\nB,0,0\n",
            ["--type", "pr", "--aggregate"],
            "row 3, column 'n': total denominator of unit=B over its 2 record(s) is 0",
        ),
        (
            "unit,o,n\nA,1,1\nA,2,1\n",
            ["--type", "pr", "--aggregate"],
            "row 2, column 'o': numerator 2 exceeds denominator 'n' = 1",
        ),
        (
            "unit,o,n\nA,1,1\nA,0,-1\n",
            ["--type", "rc", "--aggregate"],
            "row 2, column 'n': must be at least 0, got -1",
        ),
        (
            "unit,o,n\nA,1,4\nB,2,3\n",
            ["--type", "sr", "--limits", "wilson"],
            "--limits: Wilson limits are for proportions",
        ),
    ],
)
def test_cli_option_bad_input_exits_2(tmp_path, content, options, expected):
    path = tmp_path / "in.csv"
    path.write_text(content)
    out = tmp_path / "o.csv"
    result = invoke(path, "--unit", "unit", "--numerator", "o", "--denominator", "n", *options, "-o", out)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    if "row" in expected:
        assert f"{path}, row" in result.stderr
    assert not out.exists()
