"""Bad files are rejected whole with every problem listed; imports are idempotent, supersede with
history, and a crash or a killed process mid-load leaves the store exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from carelens.cli import app
from carelens.errors import InputError
from carelens.ingest.service import ingest
from carelens.store import repository, schema

DATA = Path(str(resources.files("carelens") / "data"))
AE = DATA / "nhsrdatasets" / "ae_attendances.csv"
SHMI_APRIL = DATA / "shmi" / "archive_raw" / "shmi-2012-april.csv"


def snapshot(engine: sa.Engine) -> dict[str, list]:
    """Every row of every table: two equal snapshots mean nothing changed."""
    with engine.connect() as connection:
        return {
            table.name: sorted(map(repr, connection.execute(sa.select(table))))
            for table in schema.metadata.sorted_tables
        }


def ae_lines(count: int) -> list[str]:
    return AE.read_text().splitlines()[: count + 1]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def seeded(engine, tmp_path):
    """A store holding the first 100 A&E rows, so 'unchanged' means more than 'still empty'."""
    ingest(engine, "ae", [write(tmp_path / "seed.csv", ae_lines(100))], user="tester")
    return engine


def rejected(engine, source, files) -> list:
    before = snapshot(engine)
    with pytest.raises(InputError) as caught:
        ingest(engine, source, files, user="tester")
    assert snapshot(engine) == before
    return caught.value.problems


def test_truncated_file_is_rejected(seeded, tmp_path):
    lines = ae_lines(300)
    lines[-1] = lines[-1][:12]  # the last line cut off mid-row
    problems = rejected(seeded, "ae", [write(tmp_path / "truncated.csv", lines)])
    assert len(problems) >= 1 and "truncated.csv" in problems[0].source


def test_wrong_header_is_rejected(seeded, tmp_path):
    lines = ae_lines(300)
    lines[0] = lines[0].replace("breaches", "breeches").replace("admissions", "admitted")
    problems = rejected(seeded, "ae", [write(tmp_path / "header.csv", lines)])
    assert sorted(p.field for p in problems) == ["admissions", "breaches"]


def test_every_bad_value_is_listed_with_its_row(seeded, tmp_path):
    lines = ae_lines(300)
    cells = lines[3].split(",")
    lines[3] = ",".join([*cells[:3], "many", *cells[4:]])  # data row 3: attendances not a number
    cells = lines[150].split(",")
    lines[150] = ",".join([*cells[:4], "-5", *cells[5:]])  # data row 150: negative breaches
    cells = lines[200].split(",")
    lines[200] = ",".join([cells[0], cells[1], "3", *cells[3:]])  # data row 200: unknown department type
    problems = rejected(seeded, "ae", [write(tmp_path / "values.csv", lines)])
    assert {(p.row, p.field) for p in problems} == {(3, "attendances"), (150, "breaches"), (200, "type")}


def test_duplicate_keys_are_rejected(seeded, tmp_path):
    lines = ae_lines(300)
    lines += [lines[10], lines[20]]
    problems = rejected(seeded, "ae", [write(tmp_path / "dupes.csv", lines)])
    assert [
        (p.row, "first seen on row 10" in p.reason or "first seen on row 20" in p.reason) for p in problems
    ] == [
        (301, True),
        (302, True),
    ]


def test_unknown_organisation_code_in_a_relationship_is_rejected(seeded, tmp_path):
    organisations = write(
        tmp_path / "orgs.csv",
        ["code,name,kind", "Q99,Test ICB,commissioner", "PL1,Test place,place"],
    )
    ingest(seeded, "organisations", [organisations], user="tester")
    links = write(
        tmp_path / "links.csv",
        [
            "kind,subject_code,object_code,valid_from",
            "contract,Q99,RF4,2024-04-01",
            "place_member,RF4,PLX,2024-04-01",
            "contract,ZZZ,RF4,2024-04-01",
            "place_member,PL1,RF4,2024-04-01",
        ],
    )
    problems = rejected(seeded, "relationships", [links])
    assert [(p.row, p.field) for p in problems] == [
        (2, "object_code"),
        (3, "subject_code"),
        (4, "object_code"),
    ]
    assert "unknown organisation code 'PLX'" in problems[0].reason
    assert problems[2].reason == "RF4 is a nhs_trust, which cannot be the object of a place_member link"


def test_one_bad_file_rejects_the_whole_command(seeded, tmp_path):
    good = write(tmp_path / "good.csv", ae_lines(300))
    bad_lines = ae_lines(300)
    cells = bad_lines[5].split(",")
    bad_lines[5] = ",".join([cells[0], "", *cells[2:]])  # data row 5: no organisation code
    bad = write(tmp_path / "bad.csv", bad_lines)
    problems = rejected(seeded, "ae", [good, bad])
    assert [(Path(p.source).name, p.row, p.field) for p in problems] == [("bad.csv", 5, "org_code")]


def test_reimporting_the_same_file_changes_nothing(engine):
    [first] = ingest(engine, "shmi", [SHMI_APRIL], user="tester")
    assert (first.status, first.inserted) == ("loaded", 147 + 147)  # organisations + observations
    before = snapshot(engine)
    [again] = ingest(engine, "shmi", [SHMI_APRIL], user="tester")
    assert (again.status, again.import_id, again.inserted) == ("already imported", first.import_id, 0)
    assert snapshot(engine) == before


def test_corrected_release_supersedes_and_keeps_history(engine, tmp_path):
    [first] = ingest(engine, "shmi", [SHMI_APRIL], user="tester")
    lines = SHMI_APRIL.read_text().splitlines()
    for number in (1, 2):  # correct the first two trusts' observed deaths and ratio
        cells = lines[number].split(",")
        cells[4] = str(int(cells[4]) + 10)
        cells[6] = "1.2345"
        lines[number] = ",".join(cells)
    corrected = write(tmp_path / "shmi-2012-april-corrected.csv", lines)
    [second] = ingest(engine, "shmi", [corrected], user="tester")
    assert (second.status, second.inserted, second.superseded, second.unchanged) == (
        "loaded",
        2,
        2,
        145 + 147,
    )
    table = schema.observation
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                table.c.org_code, table.c.numerator, table.c.value, table.c.import_id, table.c.superseded_by
            )
            .where(table.c.org_code == "5QT")
            .order_by(table.c.id)
        ).all()
        total = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        current = connection.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.superseded_by.is_(None))
        ).scalar()
    assert [tuple(r) for r in rows] == [
        ("5QT", 874.0, 1.1495, first.import_id, second.import_id),
        ("5QT", 884.0, 1.2345, second.import_id, None),
    ]
    assert (total, current) == (149, 147)


def test_crash_mid_load_leaves_the_store_unchanged(seeded, tmp_path, monkeypatch):
    real_insert = repository.insert_rows
    calls = []

    def crash_after_half(connection, table, frame):
        if table.name == "observation":
            real_insert(connection, table, frame.iloc[: len(frame) // 2])
            calls.append(len(frame) // 2)
            raise RuntimeError("simulated crash")
        return real_insert(connection, table, frame)

    monkeypatch.setattr(repository, "insert_rows", crash_after_half)
    before = snapshot(seeded)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(seeded, "ae", [AE], user="tester")
    assert calls == [(12765 * 2 - 200) // 2]  # half the new observations were written before the crash
    assert snapshot(seeded) == before


KILLED_IMPORT = """
import sys, time
from pathlib import Path
from carelens.ingest.service import ingest
from carelens.store import repository
from carelens.store.engine import create_engine

real_insert = repository.insert_rows

def insert_half_then_hang(connection, table, frame):
    if table.name != "observation":
        return real_insert(connection, table, frame)
    real_insert(connection, table, frame.iloc[: len(frame) // 2])
    Path(sys.argv[2]).write_text("half written")
    time.sleep(600)

repository.insert_rows = insert_half_then_hang
ingest(create_engine(sys.argv[1]), "ae", [sys.argv[3]], user="tester")
"""


def test_killed_import_leaves_the_store_unchanged(seeded, tmp_path):
    before = snapshot(seeded)
    marker = tmp_path / "half-written"
    url = seeded.url.render_as_string(hide_password=False)
    seeded.dispose()
    child = subprocess.Popen([sys.executable, "-c", KILLED_IMPORT, url, str(marker), str(AE)])
    try:
        while not marker.exists():
            assert child.poll() is None, "the import ended before it was killed"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    if seeded.dialect.name == "postgresql":  # the server notices the dropped connection and rolls back
        with seeded.connect() as connection:
            while (
                connection.execute(
                    sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
                ).scalar()
                > 1
            ):
                time.sleep(0.05)
    assert snapshot(seeded) == before


def test_cli_reports_bad_input_with_exit_2_and_says_when_nothing_changed(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    loaded = runner.invoke(app, ["ingest", "shmi", str(SHMI_APRIL), "--db", url])
    assert loaded.exit_code == 0, loaded.output
    assert "loaded shmi-2012-april.csv: 147 rows read, 294 written" in loaded.output
    again = runner.invoke(app, ["ingest", "shmi", str(SHMI_APRIL), "--db", url])
    assert again.exit_code == 0
    assert "no change: shmi-2012-april.csv was already imported (import #1" in again.output
    lines = SHMI_APRIL.read_text().splitlines()
    lines[4] = lines[4].replace(lines[4].split(",")[5], "lots")
    bad = runner.invoke(
        app, ["ingest", "shmi", str(write(tmp_path / "shmi-2012-july.csv", lines)), "--db", url]
    )
    assert bad.exit_code == 2
    assert "row 4" in bad.output and "EXPECTED" in bad.output
    unknown = runner.invoke(app, ["ingest", "nonsense", str(SHMI_APRIL), "--db", url])
    assert unknown.exit_code == 2
