"""NHS England's A&E by provider workbooks (April 2016 - April 2019) as published: each reads under its
stated month, the reader agrees with the raw cells, the 36 months April 2016 - March 2019 reproduce the
packaged NHSRdatasets ``ae_attendances`` (made from the same publication) to the unit but for one revised
count, April 2019 equals the monthly CSV of that month, and a folder imports in month order, once."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import xlrd

from carelens.demo.store import DATA_DIR
from carelens.errors import InputError
from carelens.ingest.service import ingest
from carelens.ingest.sources import ae_monthly
from carelens.ingest.sources.ae_workbook import folder, metadata, read
from carelens.store import schema

WORKBOOKS = Path(__file__).parents[1] / "data" / "ae_workbooks"
FILES = sorted(WORKBOOKS.glob("*.xls"))
NHSR = DATA_DIR / "nhsrdatasets" / "ae_attendances.csv"
TIME_SERIES = Path(__file__).parents[1] / "data" / "ae_monthly" / "Monthly-AE-Time-Series-June-2025-1-1.xls"
APRIL_2019_CSV = (
    DATA_DIR / "ae_monthly" / "csv" / "2019-20" / "Monthly-AE-April-2019-revised-220720-ab123.csv"
)
KEY = ["period", "org_code", "type"]
TYPES = {"type1": "1", "type2": "2", "other": "other"}


def tidy(observations: pd.DataFrame) -> pd.DataFrame:
    """Observations as NHSRdatasets lays them out: period, org_code, type, attendances, breaches, admissions."""
    frame = observations.assign(
        measure=observations["indicator_id"].str.extract(r"^ae_(4hr_breach|admissions)_")[0],
        type=observations["indicator_id"].str.rsplit("_", n=1).str[1].map(TYPES),
    )
    breaches = frame[frame["measure"] == "4hr_breach"].rename(
        columns={"numerator": "breaches", "denominator": "attendances"}
    )
    admissions = frame[frame["measure"] == "admissions"].rename(columns={"numerator": "admissions"})
    joined = breaches[[*KEY, "attendances", "breaches"]].merge(
        admissions[[*KEY, "admissions", "denominator"]], on=KEY, validate="1:1"
    )
    assert (joined["denominator"] == joined["attendances"]).all()
    return joined.drop(columns="denominator").astype(
        {c: "int64" for c in ("attendances", "breaches", "admissions")}
    )


@pytest.fixture(scope="module")
def workbooks() -> pd.DataFrame:
    """Every workbook read, as a tidy table."""
    return tidy(pd.concat([read(f).observations for f in FILES], ignore_index=True))


def raw_cells(path: Path) -> pd.DataFrame:
    """The workbook's providers by type, read from the cells independently of the reader: at the fixed
    places the 37 workbooks use (header on row 16, England on 17, providers from 19), each block found as
    the three columns before its total, admissions by name, and rows with attendances kept."""
    sheet = xlrd.open_workbook(str(path)).sheet_by_index(0)
    header = sheet.row_values(15)
    assert (header[1], header[3], sheet.cell_value(16, 3)) == ("Code", "Name", "England")
    assert not any(sheet.row_values(17))
    first = {
        "attendances": header.index("Total attendances") - 3,
        "breaches": header.index("Total Attendances > 4 hours") - 3,
    }
    admitted = [header.index(f"Emergency Admissions via Type {t} A&E") for t in ("1", "2", "3 and 4")]
    month = dt.datetime.strptime(sheet.cell_value(5, 2), "%B %Y").date()
    rows = []
    for r in range(18, sheet.nrows):
        cells = sheet.row_values(r)
        if not cells[1]:
            continue
        for offset, kind in enumerate(TYPES.values()):
            values = {name: int(cells[at + offset]) for name, at in first.items()}
            if values["attendances"] > 0:
                rows.append({"period": month, "org_code": cells[1], "type": kind, **values})
                rows[-1]["admissions"] = int(cells[admitted[offset]])
    return pd.DataFrame(rows)


def test_every_workbook_is_read_under_the_month_it_states_not_its_name(tmp_path):
    files, skipped = folder(WORKBOOKS)
    assert len(files) == 37 and skipped == [(WORKBOOKS / "README.md", "not an Excel 97-2003 workbook (.xls)")]
    months = [read(f).observations["period"].iloc[0] for f in files]
    assert months == [dt.date(2016 + (3 + i) // 12, (3 + i) % 12 + 1, 1) for i in range(37)]  # Apr 2016 on
    misnamed = tmp_path / "19-jan.xls"
    shutil.copy(WORKBOOKS / "16-apr.xls", misnamed)
    assert set(read(misnamed).observations["period"]) == {dt.date(2016, 4, 1)}
    assert metadata(misnamed)["Period"] == "April 2016"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_the_reader_gives_what_the_cells_say(path):
    pd.testing.assert_frame_equal(
        tidy(read(path).observations).sort_values(KEY, ignore_index=True),
        raw_cells(path).sort_values(KEY, ignore_index=True),
    )


def test_april_2016_to_march_2019_reproduce_nhsrdatasets_but_one_revised_count(workbooks):
    """All 12,765 NHSRdatasets rows are found and 12,764 are identical (attendances, breaches, admissions);
    every workbook row with attendances is in NHSRdatasets (both leave out a type with none). The one
    difference is RAL (Royal Free London) type 1 in March 2019, which NHS England revised on 14 November
    2019: the workbook is that revision, NHSRdatasets the earlier figures."""
    nhsr = pd.read_csv(NHSR, dtype={"type": str})
    nhsr["period"] = [dt.date.fromisoformat(d) for d in nhsr["period"]]
    ours = workbooks[workbooks["period"] < dt.date(2019, 4, 1)]
    assert len(nhsr) == 12_765 and len(ours) == 12_765
    both = nhsr.merge(ours, on=KEY, how="outer", suffixes=("_nhsr", "_workbook"), indicator=True)
    assert (both["_merge"] == "both").all()
    counts = ["attendances", "breaches", "admissions"]
    differs = (
        both[[f"{c}_nhsr" for c in counts]].to_numpy() != both[[f"{c}_workbook" for c in counts]].to_numpy()
    )
    different = both[differs.any(axis=1)]
    assert len(both) - len(different) == 12_764
    [(period, code, kind)] = different[KEY].itertuples(index=False)
    assert (period, code, kind) == (dt.date(2019, 3, 1), "RAL", "1")
    row = different.iloc[0]
    assert (row["attendances_nhsr"], row["breaches_nhsr"]) == (21_438, 3_497)
    assert (row["attendances_workbook"], row["breaches_workbook"]) == (21_439, 3_388)
    assert row["admissions_nhsr"] == row["admissions_workbook"]
    march = metadata(WORKBOOKS / "19-mar.xls")
    assert (march["Period"], march["Published"], march["Revised"]) == (
        "March 2019",
        "11th April 2019",
        "14th November 2019",
    )


def test_april_2019_equals_the_monthly_csv_for_all_235_providers():
    """The workbook (revised 13 August 2020) and the CSV (revised 22 July 2020) agree on every provider's
    attendances and breaches, and admissions too, by department type."""
    workbook, published = read(WORKBOOKS / "19-apr.xls"), ae_monthly.read(APRIL_2019_CSV)
    assert metadata(WORKBOOKS / "19-apr.xls")["Revised"] == "13th August 2020"
    assert len(workbook.organisations) == 235
    assert sorted(workbook.organisations["code"]) == sorted(published.organisations["code"])
    pd.testing.assert_frame_equal(
        tidy(workbook.observations).sort_values(KEY, ignore_index=True),
        tidy(published.observations).sort_values(KEY, ignore_index=True),
    )


def test_a_breach_counted_for_a_type_with_no_attendances_is_not_stored_and_not_refused():
    """Rossendale Minor Injuries Unit (AC008), July and August 2017: the workbooks give type 1 no
    attendances, one attendance over 4 hours and minus one within 4 hours (a type 3 attendance counted
    under type 1). No type 1 observation is made, as in NHSRdatasets, so the file is read."""
    for name in ("17-jul.xls", "17-aug.xls"):
        sheet = xlrd.open_workbook(str(WORKBOOKS / name)).sheet_by_index(0)
        [cells] = [sheet.row_values(r) for r in range(sheet.nrows) if sheet.cell_value(r, 1) == "AC008"]
        assert (cells[4], cells[8], cells[12]) == (0, -1, 1)  # attendances, within, over 4 hours (type 1)
        observed = read(WORKBOOKS / name).observations
        assert set(observed.loc[observed["org_code"] == "AC008", "indicator_id"]) == {
            "ae_4hr_breach_other",
            "ae_admissions_other",
        }


def test_a_provider_changed_so_the_england_row_does_not_reconcile_is_refused_naming_the_cell(tmp_path):
    """xlwt writes the changed copy: the workbook's own cells, one attendance more for RF4 in April 2016."""
    xlwt = pytest.importorskip("xlwt")
    sheet = xlrd.open_workbook(str(WORKBOOKS / "16-apr.xls")).sheet_by_index(0)
    book = xlwt.Workbook()
    copy = book.add_sheet(sheet.name)
    for r in range(sheet.nrows):
        for c, value in enumerate(sheet.row_values(r)):
            copy.write(r, c, value + 1 if (r, c) == (18, 4) else value)
    book.save(tmp_path / "16-apr.xls")
    assert sheet.cell_value(18, 1) == "RF4"
    with pytest.raises(InputError) as raised:
        read(tmp_path / "16-apr.xls")
    [problem] = raised.value.problems
    assert (problem.row, problem.field) == (17, "E: Type 1 Departments - Major A&E")
    assert problem.reason == "the England row says 1,214,057 but the providers' rows sum to 1,214,058"


def test_ingest_a_folder_of_workbooks_loads_each_month_in_order_once(tmp_path):
    from typer.testing import CliRunner

    from carelens.cli import app

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for name in ("18-jan.xls", "17-dec.xls", "19-apr.xls"):
        shutil.copy(WORKBOOKS / name, downloads / name)
    shutil.copy(WORKBOOKS / "17-dec.xls", downloads / "december-again.xls")
    shutil.copy(DATA_DIR / "ae_monthly" / "csv" / "2025-26" / "2025-04.csv", downloads)
    shutil.copy(TIME_SERIES, downloads)  # a workbook, but NHS England's national series
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(app, ["ingest", "ae-workbook", str(downloads), "--db", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("loaded")] == [
        "17-dec.xls:",
        "18-jan.xls:",
        "19-apr.xls:",
    ]
    skipped = {line.split(":")[0].rsplit("/", 1)[-1]: line for line in lines if line.startswith("skipped")}
    assert set(skipped) == {"2025-04.csv", "december-again.xls", TIME_SERIES.name}
    assert "a second file for December 2017" in skipped["december-again.xls"]
    assert "not an A&E by provider workbook (no sheet named" in skipped[TIME_SERIES.name]
    assert "ae-workbook: 3 files loaded, 0 already imported, 3 skipped" in result.output
    again = CliRunner().invoke(app, ["ingest", "ae-workbook", str(downloads), "--db", url])
    assert again.exit_code == 0 and "0 files loaded, 3 already imported" in again.output


def test_the_36_months_import_all_or_nothing_and_match_the_reader(engine, workbooks):
    files, _ = folder(WORKBOOKS)
    results = ingest(engine, "ae-workbook", files[:-1], user="tester")
    assert [r.status for r in results] == ["loaded"] * 36
    obs = schema.observation
    with engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(obs)).scalar_one()
        imports = connection.execute(
            sa.select(sa.func.count()).select_from(schema.import_record)
        ).scalar_one()
    assert stored == 2 * 12_765 and imports == 36
    assert [r.status for r in ingest(engine, "ae-workbook", files[:3], user="tester")] == [
        "already imported"
    ] * 3
