"""``carelens funnel`` end to end: published SHMI bandings, A&E by month, and bad input (exit code 2)."""

from __future__ import annotations

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
