"""NHS England's monthly A&E CSV as published: every packaged month reads, its providers sum to its TOTAL
row, the national type 1 figures equal NHS England's national time series, and a revised month supersedes
the first publication, naming the organisations it changed."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.demo.store import DATA_DIR
from carelens.errors import InputError
from carelens.ingest.service import ingest
from carelens.ingest.sources.ae_monthly import COUNTS, is_total, month_of, read
from carelens.store import schema

CSV_DIR = DATA_DIR / "ae_monthly" / "csv"
FILES = sorted(CSV_DIR.glob("*/*.csv"))
FIRST_VINTAGES = sorted((CSV_DIR / "vintages_first_publication").glob("*.csv"))
TIME_SERIES = Path(__file__).parents[1] / "data" / "ae_monthly" / "Monthly-AE-Time-Series-June-2025-1-1.xls"
HEADERS = {h.casefold(): c for c, spellings in COUNTS.items() for h in spellings}


def test_the_packaged_files_are_87_months_and_vintages():
    assert len(FILES) == 87 and len(FIRST_VINTAGES) == 3
    months = {read(f).observations["period"].iloc[0] for f in FILES}
    assert len(months) == 84
    assert min(months) == dt.date(2019, 4, 1) and max(months) == dt.date(2026, 3, 1)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_providers_sum_to_the_total_row_and_the_total_row_is_not_imported(path):
    """Checked on the raw cells here, independently of the reader; then the reader keeps every provider."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header, *rows = [r for r in csv.reader(handle) if any(r)]
    totals = [r for r in rows if is_total(r)]
    providers = [r for r in rows if not is_total(r)]
    assert len(totals) == 1
    columns = [i for i, h in enumerate(header) if h.strip().casefold() in HEADERS]
    assert len(columns) in (12, 18)
    for i in columns:
        assert sum(int(r[i]) for r in providers) == int(totals[0][i]), header[i]
    batch = read(path)
    assert batch.rows == len(rows)
    assert sorted(batch.organisations["code"]) == sorted(r[1].strip() for r in providers)
    assert "TOTAL" not in {c.upper() for c in batch.observations["org_code"]}


def _national_type1() -> dict[dt.date, float]:
    xlrd = pytest.importorskip("xlrd")
    sheet = xlrd.open_workbook(TIME_SERIES).sheet_by_name("Activity")
    assert sheet.cell_value(13, 2) == "Type 1 Departments - Major A&E"
    series = {}
    for r in range(14, sheet.nrows):
        serial, value = sheet.cell_value(r, 1), sheet.cell_value(r, 2)
        if isinstance(serial, float):
            series[(dt.date(1899, 12, 30) + dt.timedelta(days=serial)).replace(day=1)] = value
    return series


def test_national_type1_with_booked_equals_the_national_time_series_april_2019_to_june_2025():
    """The series was published in July 2025, before April - June 2025 were revised: their first vintages."""
    series = _national_type1()
    first = {read(f).observations["period"].iloc[0]: f for f in FIRST_VINTAGES}
    by_month = {}
    for path in FILES:
        batch = read(path)
        month = batch.observations["period"].iloc[0]
        if month <= dt.date(2025, 6, 1) and "vintages" not in path.parent.name and month not in first:
            by_month[month] = batch
    by_month.update({m: read(f) for m, f in first.items()})
    assert len(by_month) == 75
    for month, batch in sorted(by_month.items()):
        breaches = batch.observations[batch.observations["indicator_id"] == "ae_4hr_breach_type1"]
        assert breaches["denominator"].sum() == series[month], month
    april = by_month[dt.date(2025, 4, 1)].observations
    booked = april.loc[april["indicator_id"] == "ae_booked_type1", "numerator"].sum()
    assert (booked, series[dt.date(2025, 4, 1)]) == (33_654, 1_388_299)


def test_headline_4_hour_performance_counts_booked_appointments():
    batch = read(CSV_DIR / "2025-26" / "2026-02.csv")
    rows = batch.observations.set_index(["indicator_id", "org_code"])
    # RJ6 type 1: 12,080 attendances, 0 booked; 4,902 over 4 hours
    assert rows.loc[("ae_4hr_breach_type1", "RJ6"), "numerator"] == 4902
    assert rows.loc[("ae_4hr_breach_type1", "RJ6"), "denominator"] == 12080
    breach = batch.observations[batch.observations["indicator_id"].str.startswith("ae_4hr_breach")]
    attended = breach["denominator"].sum()
    assert attended == 1271830 + 47756 + 723986 + 26175 + 477 + 47226  # the TOTAL row, booked included
    assert breach["numerator"].sum() == 519984 + 1914 + 19737 + 7252 + 35 + 444


def test_quirks_bom_junk_columns_and_total_spellings_are_read():
    september = read(CSV_DIR / "2024-25" / "Monthly-AE-September-2024.csv")  # 6 junk columns
    assert september.observations["period"].iloc[0] == dt.date(2024, 9, 1)
    july = read(CSV_DIR / "2019-20" / "Monthly-AE-July-2019-revised-210720-cd305.csv")  # BOM, era A
    assert set(july.observations["indicator_id"].str.rsplit("_", n=1).str[0]) == {
        "ae_4hr_breach",
        "ae_admissions",
    }
    assert month_of("MSitAE-FEBRUARY-2026") == dt.date(2026, 2, 1) and month_of("February 2026") is None
    assert all(is_total(r) for r in (["", "", "", "TOTAL"], ["x", "TOTAl"], ["Total ", ""]))


def test_kinds_come_from_ods_not_from_the_shape_of_a_code():
    orgs = read(CSV_DIR / "2022-23" / "April-2022-revised-130624-F4scP.csv").organisations.set_index("code")
    assert orgs.loc["RJ6", "kind"] == "nhs_trust"
    assert orgs.loc["NLX", "kind"] == "independent_provider"
    every = _every_organisation()
    assert every.loc["Y02615", "kind"] == "location"  # South Birmingham GP walk-in centre: setting 1
    assert every.loc["C82009", "kind"] == "gp_practice"  # a practice running a minor injury unit
    assert every.loc["NLO01", "kind"] == "location"  # an independent provider's urgent care site


def _every_organisation():
    return pd.concat([read(f).organisations for f in FILES]).drop_duplicates("code").set_index("code")


def test_a_revised_month_supersedes_the_first_keeping_history_and_names_what_changed(engine):
    first = CSV_DIR / "vintages_first_publication" / "Monthly-AE-April-2025.csv"
    revised = CSV_DIR / "2025-26" / "2025-04.csv"
    [loaded] = ingest(engine, "ae-monthly", [first], user="tester")
    assert loaded.status == "loaded" and loaded.revised == ()
    [again] = ingest(engine, "ae-monthly", [first], user="tester")
    assert again.status == "already imported"
    [later] = ingest(engine, "ae-monthly", [revised], user="tester")
    assert later.status == "loaded"
    assert later.revised == ("RBT", "RFS", "RTD")  # as the publisher revised them
    obs = schema.observation
    with engine.connect() as c:
        history = c.execute(
            sa.select(obs.c.org_code, obs.c.superseded_by).where(obs.c.superseded_by.is_not(None))
        ).all()
        detail = c.execute(
            sa.select(schema.audit_event.c.detail).where(schema.audit_event.c.import_id == later.import_id)
        ).scalar_one()
    assert {r.org_code for r in history} == set(later.revised)
    assert {r.superseded_by for r in history} == {later.import_id}
    assert detail["revised"] == list(later.revised) and later.superseded == len(history)


def test_a_file_whose_providers_do_not_sum_to_its_total_is_refused_naming_the_cell(tmp_path):
    source = (CSV_DIR / "2025-26" / "2026-02.csv").read_text(encoding="utf-8")
    broken = tmp_path / "2026-02.csv"
    broken.write_text(
        source.replace(
            "MSitAE-FEBRUARY-2026,RJ6,NHS ENGLAND LONDON,CROYDON HEALTH SERVICES NHS TRUST,12080",
            "MSitAE-FEBRUARY-2026,RJ6,NHS ENGLAND LONDON,CROYDON HEALTH SERVICES NHS TRUST,12081",
        )
    )
    with pytest.raises(InputError) as raised:
        read(broken)
    [problem] = raised.value.problems
    rows = source.count("\n") - 1
    assert (problem.row, problem.field) == (rows, "A&E attendances Type 1")
    assert "sum to 1,271,831" in problem.reason


def test_ingest_a_folder_loads_each_month_in_order_and_says_what_it_skipped(tmp_path):
    import shutil

    from typer.testing import CliRunner

    from carelens.cli import app

    folder = tmp_path / "downloads"
    (folder / "first").mkdir(parents=True)
    shutil.copy(CSV_DIR / "2025-26" / "2025-05.csv", folder / "2025-05.csv")
    shutil.copy(CSV_DIR / "2025-26" / "2025-04.csv", folder / "2025-04.csv")
    shutil.copy(CSV_DIR / "vintages_first_publication" / "Monthly-AE-April-2025.csv", folder / "first")
    (folder / "notes.txt").write_text("downloaded in July\n")
    (folder / "other.csv").write_text("code,name\nRXX,A trust\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(app, ["ingest", "ae-monthly", str(folder), "--db", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    loaded = [line.split()[1] for line in lines if line.startswith("loaded")]
    assert loaded == ["2025-04.csv:", "2025-05.csv:"]
    skipped = {line.split(":")[0].rsplit("/", 1)[-1]: line for line in lines if line.startswith("skipped")}
    assert set(skipped) == {"Monthly-AE-April-2025.csv", "notes.txt", "other.csv"}
    assert "a second file for April 2025" in skipped["Monthly-AE-April-2025.csv"]
    assert "ae-monthly: 2 files loaded, 0 already imported, 3 skipped" in result.output
    refused = CliRunner().invoke(app, ["ingest", "ae", str(folder), "--db", url])
    assert refused.exit_code == 2 and "ae imports files one by one" in refused.output
