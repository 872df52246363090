"""NHS England's referral to treatment full CSV extract as published: the packaged April 2026 file gives
England's published waiting-list figures, each provider's total is the sum of its treatment functions, the
command line imports it once (audited), and hand-written files pin blank-versus-zero and every check."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from carelens.cli import app
from carelens.errors import InputError
from carelens.ingest.sources.rtt import BANDS, COLUMNS, indicator_id, month_of, read
from carelens.packaged import DATA_DIR
from carelens.store import schema
from carelens.store.engine import create_engine

PACKAGED = DATA_DIR / "rtt" / "20260430-RTT-April-2026-full-extract.csv.zip"
MEMBER = "20260430-RTT-April-2026-full-extract.csv"


@pytest.fixture(scope="module")
def april():
    return read(PACKAGED)


def _by(observations: pd.DataFrame, indicator: str) -> pd.DataFrame:
    return observations[observations["indicator_id"] == indicator].set_index("org_code")


def test_england_reproduces_nhs_englands_published_waiting_list(april):
    """Published for April 2026: 7,123,980 incomplete pathways, 64.9% within 18 weeks (to 0.1 percentage
    point: the count computed is 4,623,405, 64.899%), 100,665 waiting over 52 weeks."""
    within = _by(april.observations, "rtt_within_18_weeks")
    over = _by(april.observations, "rtt_over_52_weeks")
    assert within["denominator"].sum() == over["denominator"].sum() == 7_123_980
    assert within["numerator"].sum() == 4_623_405
    assert abs(100 * within["numerator"].sum() / within["denominator"].sum() - 64.9) < 0.05
    assert over["numerator"].sum() == 100_665
    assert april.rows == 180_781 and len(within) == 528
    assert set(april.observations["period"]) == {dt.date(2026, 4, 1)}


def test_each_providers_total_is_its_raw_c_999_rows_and_the_sum_of_its_treatment_functions(april):
    """The raw cells are summed here with the csv module, independently of the reader."""
    raw: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    with zipfile.ZipFile(PACKAGED) as archive, archive.open(MEMBER) as handle:
        rows = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
        for row in rows:
            if row["RTT Part Type"] == "Part_2" and row["Treatment Function Code"] == "C_999":
                sums = raw[row["Provider Org Code"]]
                sums[0] += float(row["Total All"])
                sums[1] += sum(float(row[b] or 0) for b in BANDS[:18])
                sums[2] += sum(float(row[b] or 0) for b in BANDS[52:])
    within = _by(april.observations, "rtt_within_18_weeks")
    over = _by(april.observations, "rtt_over_52_weeks")
    assert set(within.index) == set(raw)
    for code, (waiting, short, long) in raw.items():
        assert (within.at[code, "denominator"], within.at[code, "numerator"]) == (waiting, short), code
        assert over.at[code, "numerator"] == long, code
    functions = april.observations[april.observations["indicator_id"].str.contains(r"_(?:c_\d+|x\d+)$")]
    assert functions["indicator_id"].str.extract(r"_(c_\d+|x\d+)$")[0].nunique() == 23
    for measure in ("rtt_within_18_weeks", "rtt_over_52_weeks"):
        parts = functions[functions["indicator_id"].str.startswith(measure + "_")]
        summed = parts.groupby("org_code")[["numerator", "denominator"]].sum()
        total = _by(april.observations, measure)[["numerator", "denominator"]]
        pd.testing.assert_frame_equal(summed.sort_index(), total.sort_index(), check_names=False)


def test_kinds_come_from_ods_and_unlisted_codes_are_independent_organisations_or_their_sites(april):
    kinds = april.organisations.set_index("code")["kind"]
    assert kinds["RRK"] == "nhs_trust" and kinds["TAD"] == "nhs_trust"  # TAD: an ODS care trust
    assert kinds["NV1"] == "independent_provider"  # InHealth: three characters, not an ODS trust
    assert kinds["NT313"] == "location" and kinds["H3W7Q"] == "location"  # Spire / ACES sites
    assert len(kinds) == 529 and kinds.value_counts().to_dict() == {
        "location": 337,
        "nhs_trust": 148,
        "independent_provider": 44,
    }


def test_cli_import_is_idempotent_audited_and_keeps_treatment_functions_queryable(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = CliRunner().invoke(app, ["ingest", "rtt", str(PACKAGED), "--db", url])
    assert first.exit_code == 0, first.output
    assert "180,781 rows read" in first.output
    again = CliRunner().invoke(app, ["ingest", "rtt", str(PACKAGED), "--db", url])
    assert again.exit_code == 0 and "already imported" in again.output
    engine = create_engine(url)
    obs = schema.observation
    with engine.connect() as c:
        imports = c.execute(sa.select(schema.import_record.c.id, schema.import_record.c.source)).all()
        audited = c.execute(
            sa.select(schema.audit_event.c.action).where(schema.audit_event.c.import_id == imports[0].id)
        ).all()
        stored = c.execute(sa.select(sa.func.count()).select_from(obs)).scalar_one()
        orthopaedics = c.execute(
            sa.select(obs.c.numerator, obs.c.denominator).where(
                obs.c.indicator_id == "rtt_within_18_weeks_c_110", obs.c.org_code == "RRK"
            )
        ).one()
    engine.dispose()
    assert [r.source for r in imports] == ["rtt"]
    assert audited and all(a.action.startswith("import") for a in audited)
    assert stored == 8_244
    assert tuple(orthopaedics) == (2_702, 3_647)  # University Hospitals Birmingham, trauma and orthopaedics


# --- hand-written files ---------------------------------------------------------------------------------


def row(part="Part_2", function="C_999", provider="RXX", commissioner="07L", bands=None, **cells) -> dict:
    """One data row: ``bands`` maps band number (0 = up to 1 week) to its cell; ``Total All`` defaults to the
    bands' sum on waiting-list rows; blank cells everywhere else."""
    out = dict.fromkeys(COLUMNS, "")
    out.update(
        {
            "Period": "RTT-April-2026",
            "Provider Parent Org Code": "QXX",
            "Provider Parent Name": "AN ICB",
            "Provider Org Code": provider,
            "Provider Org Name": f"PROVIDER {provider}",
            "Commissioner Parent Org Code": "QXX",
            "Commissioner Parent Name": "AN ICB",
            "Commissioner Org Code": commissioner,
            "Commissioner Org Name": f"COMMISSIONER {commissioner}",
            "RTT Part Type": part,
            "RTT Part Description": part,
            "Treatment Function Code": function,
            "Treatment Function Name": function,
        }
    )
    for band, value in (bands or {}).items():
        out[BANDS[band]] = value
    if part == "Part_2":
        out["Total All"] = str(sum(int(v) for v in (bands or {}).values() if v != ""))
    out.update({k.replace("_", " "): v for k, v in cells.items()})
    return out


def write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def small(function_bands: dict | None = None) -> list[dict]:
    """A provider waiting list: orthopaedics and dermatology under one commissioner, and their total."""
    ortho = {0: "10", 17: "5", 18: "4", 52: "2", 104: "1"}
    derm = {3: "7", 60: "3"} if function_bands is None else function_bands
    total = defaultdict(int)
    for bands in (ortho, derm):
        for band, value in bands.items():
            total[band] += int(value or 0)
    return [
        row(function="C_110", bands=ortho),
        row(function="C_330", bands=derm),
        row(function="C_999", bands={b: str(v) for b, v in total.items()}),
    ]


def test_a_small_file_gives_both_indicators_for_the_total_and_each_treatment_function(tmp_path):
    batch = read(write(tmp_path / "rtt.csv", [*small(), row(part="Part_1A", bands={0: "3"}, Total="3")]))
    values = batch.observations.set_index("indicator_id")[["numerator", "denominator"]]
    assert values.loc["rtt_within_18_weeks"].tolist() == [22, 32]  # 10 + 5 + 7 up to 18 weeks
    assert values.loc["rtt_over_52_weeks"].tolist() == [6, 32]  # Gt 52 To 53, Gt 104, Gt 60 To 61
    assert values.loc["rtt_within_18_weeks_c_110"].tolist() == [15, 22]
    assert values.loc["rtt_over_52_weeks_c_330"].tolist() == [3, 10]
    assert indicator_id("rtt_over_52_weeks", "X02") == "rtt_over_52_weeks_x02"
    assert month_of("RTT-April-2026") == dt.date(2026, 4, 1) and month_of("April 2026") is None


def test_blank_bands_add_nothing_and_read_as_zeros_do(tmp_path):
    """A blank band is "none reported", not a number: the same figures as a file with zeros there."""
    blank = read(write(tmp_path / "blank.csv", small({3: "7", 20: "", 60: "3"}))).observations
    zeros = read(write(tmp_path / "zeros.csv", small({3: "7", 20: "0", 60: "3"}))).observations
    pd.testing.assert_frame_equal(blank, zeros)


def test_new_periods_with_blank_bands_are_read_but_not_stored_and_an_empty_list_stores_nothing(tmp_path):
    rows = [*small(), row(part="Part_3", **{"Total_All": "40"})]
    rows += [row(function=f, provider="RYY", bands={0: "0"}) for f in ("C_110", "C_999")]
    batch = read(write(tmp_path / "rtt.csv", rows))
    assert set(batch.observations["org_code"]) == {"RXX"}  # RYY waits for no one: no proportion
    assert set(batch.organisations["code"]) == {"RXX", "RYY"}


def test_a_zip_is_read_as_its_one_csv_ignoring_macos_entries(tmp_path):
    plain = write(tmp_path / "rtt.csv", small())
    packed = tmp_path / "rtt.csv.zip"
    with zipfile.ZipFile(packed, "w") as archive:
        archive.write(plain, "rtt.csv")
        archive.writestr("__MACOSX/._rtt.csv", b"\x00\x05\x16\x07")
    pd.testing.assert_frame_equal(read(packed).observations, read(plain).observations)
    for name, members in (("none.zip", ["notes.txt"]), ("two.zip", ["a.csv", "b.csv"])):
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            for member in members:
                archive.write(plain, member)
        with pytest.raises(InputError) as raised:
            read(tmp_path / name)
        [problem] = raised.value.problems
        assert problem.source == str(tmp_path / name) and "CSV file" in problem.reason
    (tmp_path / "broken.zip").write_bytes(packed.read_bytes()[:100])
    with pytest.raises(InputError, match="not a whole zip file"):
        read(tmp_path / "broken.zip")


def test_a_problem_inside_a_zip_names_the_zip_and_its_member(tmp_path):
    rows = small()
    rows[1]["Period"] = "RTT-May-2026"
    packed = tmp_path / "rtt.zip"
    with zipfile.ZipFile(packed, "w") as archive:
        archive.write(write(tmp_path / "x.csv", rows), "inside.csv")
    with pytest.raises(InputError) as raised:
        read(packed)
    [problem] = raised.value.problems
    assert (problem.source, problem.row, problem.field) == (f"{packed} (inside.csv)", 2, "Period")


def _refused(tmp_path: Path, rows: list[dict]) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(InputError) as raised:
        read(write(tmp_path / "rtt.csv", rows))
    return [(p.row, p.field, p.reason) for p in raised.value.problems]


def test_bands_that_do_not_sum_to_total_all_are_refused_naming_row_and_field(tmp_path):
    rows = small()
    rows[0]["Total All"] = "23"
    assert _refused(tmp_path, rows)[0][:2] == (1, "Total All")
    rows = small()
    rows[2]["Patients with unknown clock start date"] = "4"
    rows[2]["Total All"] = "36"
    ((number, field, reason), *_) = _refused(tmp_path, rows)
    assert (number, field) == (3, "Total All") and "unknown clock start 4" in reason
    rows = small()
    rows[0]["Total All"] = ""
    assert (1, "Total All", "missing on an incomplete-pathway row") in _refused(tmp_path, rows)
    rows = small()
    rows[0]["Total"] = "21"  # blank as published; where given, it too is the bands' sum
    assert _refused(tmp_path, rows) == [(1, "Total", "says 21 but the week bands sum to 22")]


def test_a_repeated_row_is_refused_on_its_own_not_as_unbalanced_totals(tmp_path):
    rows = small()
    assert _refused(tmp_path, [*rows, rows[0]]) == [
        (4, "Treatment Function Code", "RXX × 07L × Part_2 × C_110 is also on row 1")
    ]


def test_a_total_row_that_is_not_its_treatment_functions_sum_is_refused(tmp_path):
    rows = small()
    rows[1] = row(function="C_330", bands={3: "6", 60: "3"})
    refused = _refused(tmp_path, rows)
    assert [(r, f) for r, f, _ in refused] == [(3, "Total All"), (3, "Gt 17 To 18 Weeks SUM 1")]
    assert "its treatment functions sum to 31" in refused[0][2]


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ({"Gt 05 To 06 Weeks SUM 1": "-1"}, "Gt 05 To 06 Weeks SUM 1"),
        ({"RTT Part Type": "Part_4"}, "RTT Part Type"),
        ({"Period": "RTT-May-2026"}, "Period"),
        ({"Period": "April 2026"}, "Period"),
        ({"Treatment Function Code": "C_110"}, "Treatment Function Code"),  # the first row again
    ],
)
def test_bad_cells_are_refused_naming_row_and_field(tmp_path, edit, named):
    rows = small()
    rows[1].update(edit)
    assert (2, named) in [(r, f) for r, f, _ in _refused(tmp_path, rows)]


def test_a_treatment_function_without_declared_indicators_is_refused_on_its_first_row(tmp_path):
    rows = small()
    rows[1]["Treatment Function Code"] = "C_200"
    assert _refused(tmp_path, rows) == [
        (
            2,
            "Treatment Function Code",
            "no indicators are declared for treatment function C_200 "
            "(rtt_within_18_weeks_c_200, rtt_over_52_weeks_c_200)",
        )
    ]


def test_a_missing_or_unknown_column_is_refused_by_name(tmp_path):
    path = write(tmp_path / "rtt.csv", small())
    text = path.read_text(encoding="utf-8").replace("Gt 104 Weeks SUM 1", "Gt 104 Plus Weeks")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read(path)
    assert sorted((p.field, p.reason) for p in raised.value.problems) == [
        ("Gt 104 Plus Weeks", "not a column of the RTT full extract"),
        ("Gt 104 Weeks SUM 1", "required column is missing"),
    ]
