"""Regressions of issue 16's importer findings, on SQLite and PostgreSQL: corrected population files,
name corrections, the same file imported twice at once, files read in batches, and the bulk COPY path's
reference checks. (Bad files of every kind are the corpus in ``bad_inputs/``, run by test_bad_inputs.)"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from carelens import tables
from carelens.errors import InputError
from carelens.ingest.service import ingest
from carelens.services.identity import create_with_store
from carelens.store import repository, schema

DATA = Path(str(resources.files("carelens") / "data"))
ONS = DATA / "nhsrdatasets" / "ons_uk_population_2023.csv"
GP = DATA / "allocations" / "gp_practice_weighted_population_2024_25.csv.gz"
AE = DATA / "nhsrdatasets" / "ae_attendances.csv"


def _counts(result) -> tuple:
    return (result.status, result.inserted, result.superseded, result.unchanged)


def test_numpy_numbers_bind_as_numbers(engine):
    """A NumPy year bound as a parameter finds the stored INTEGER (SQLite bound it as a BLOB)."""
    with engine.begin() as connection:
        connection.execute(
            schema.import_record.insert().values(
                id=1,
                source="t",
                file_name="t",
                sha256="t",
                rows=0,
                inserted=0,
                superseded=0,
                unchanged=0,
                user_name="t",
                imported_at=dt.datetime.now(dt.UTC),
                status="loaded",
            )
        )
        connection.execute(schema.organisation.insert().values(code="E1", kind="region", import_id=1))
        connection.execute(
            schema.population.insert().values(
                org_code="E1",
                year=np.int64(2023),
                measure="resident",
                age_band="0",
                sex="male",
                count=np.float32(5),
                import_id=np.int64(1),
            )
        )
        table = schema.population
        found = connection.execute(
            sa.select(table.c.year, table.c.count).where(table.c.year.in_([np.int64(2023)]))
        ).all()
    assert [tuple(r) for r in found] == [(2023, 5.0)]


@pytest.mark.parametrize("source, path", [("ons-population", ONS), ("gp-weighted-population", GP)])
def test_corrected_population_file_supersedes_only_what_changed(engine, tmp_path, source, path):
    [first] = ingest(engine, source, [path], user="tester")
    text = (tables._open_bytes(path).read()).decode()
    lines = text.splitlines()
    name = path.name.removesuffix(".gz")
    crlf = tmp_path / "crlf" / name
    crlf.parent.mkdir()
    crlf.write_bytes("\r\n".join(lines).encode() + b"\r\n")  # the same values, other line endings
    [again] = ingest(engine, source, [crlf], user="tester")
    assert _counts(again) == ("loaded", 0, 0, first.inserted)
    cells = lines[1].split(",")
    cells[-1] = str(float(cells[-1]) + 1)  # one value corrected (the last column is a count)
    lines[1] = ",".join(cells)
    fixed = tmp_path / "fixed" / name
    fixed.parent.mkdir()
    fixed.write_text("\n".join(lines) + "\n")
    [corrected] = ingest(engine, source, [fixed], user="tester")
    assert _counts(corrected) == ("loaded", 1, 1, first.inserted - 1)


def test_name_correction_is_applied_counted_and_audited(engine, tmp_path):
    listing = tmp_path / "orgs.csv"
    listing.write_text("code,name,kind\nPL1,Plaice,place\nPL2,Second place,place\n")
    ingest(engine, "organisations", [listing], user="first")
    corrected = tmp_path / "orgs-corrected.csv"
    corrected.write_text("code,name,kind\nPL1,Place one,place\nPL2,Second place,place\n")
    [result] = ingest(engine, "organisations", [corrected], user="corrector")
    assert _counts(result) == ("loaded", 0, 1, 1)
    event = schema.audit_event
    with engine.connect() as connection:
        name = connection.execute(
            sa.select(schema.organisation.c.name).where(schema.organisation.c.code == "PL1")
        ).scalar_one()
        audited = connection.execute(
            sa.select(event.c.user_name, event.c.entity_key, event.c.detail).where(
                event.c.action == "organisation.renamed"
            )
        ).all()
    assert name == "Place one"
    assert [tuple(a) for a in audited] == [("corrector", "PL1", {"from": "Plaice", "to": "Place one"})]


def snapshot(engine: sa.Engine) -> dict[str, list]:
    with engine.connect() as connection:
        return {
            table.name: sorted(map(repr, connection.execute(sa.select(table))))
            for table in schema.metadata.sorted_tables
        }


def test_a_file_read_in_batches_loads_as_a_whole_and_names_a_key_repeated_across_batches(
    engine, tmp_path, monkeypatch
):
    monkeypatch.setattr(tables, "BATCH_BYTES", 16_384)  # about 500 rows a batch
    lines = AE.read_text().splitlines()[:3001]
    batches = list(tables.iter_text_table(_write(tmp_path / "ae.csv", lines)))
    assert len(batches) > 4 and [b.attrs["first_row"] for b in batches][:2] == [1, len(batches[0]) + 1]
    [loaded] = ingest(engine, "ae", [tmp_path / "ae.csv"], user="tester")
    assert (loaded.rows, loaded.inserted) == (3000, 6000 + len({line.split(",")[1] for line in lines[1:]}))
    before = snapshot(engine)
    repeated = _write(
        tmp_path / "repeated.csv", [*lines, lines[5].replace("2017-03-01", "2016-01-01"), lines[5]]
    )
    with pytest.raises(InputError) as caught:
        ingest(engine, "ae", [repeated], user="tester")
    assert [(p.row, p.field) for p in caught.value.problems] == [(3002, "org_code")]
    assert "(first seen on row 5)" in caught.value.problems[0].reason
    assert snapshot(engine) == before


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


HELD_IMPORT = """
import sys, time
from pathlib import Path
from carelens.ingest.service import ingest
from carelens.store import repository
from carelens.store.engine import create_engine

real_finish = repository.finish_import

def finish_when_released(*args, **kwargs):
    Path(sys.argv[2]).write_text("written, not committed")
    while not Path(sys.argv[3]).exists():
        time.sleep(0.05)
    return real_finish(*args, **kwargs)

repository.finish_import = finish_when_released
ingest(create_engine(sys.argv[1]), "shmi", [sys.argv[4]], user="first")
"""


def test_the_same_file_imported_twice_at_once_is_a_clear_error_for_the_second(engine, tmp_path):
    shmi = DATA / "shmi" / "archive_raw" / "shmi-2012-april.csv"
    url = engine.url.render_as_string(hide_password=False)
    create_with_store(engine, "tester")  # as a store made by the command line has its local administrator
    held, release = tmp_path / "held", tmp_path / "release"
    first = subprocess.Popen([sys.executable, "-c", HELD_IMPORT, url, str(held), str(release), str(shmi)])
    try:
        while not held.exists():
            assert first.poll() is None, "the first import ended early"
            time.sleep(0.05)
        second = subprocess.Popen(
            [sys.executable, "-m", "carelens.cli", "ingest", "shmi", str(shmi), "--db", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if engine.dialect.name == "postgresql":  # the second waits on the first's import record
            while not _waiting_on_a_lock(engine):
                assert second.poll() is None, second.communicate()
                time.sleep(0.05)
        else:  # SQLite: the second finds the store locked
            second.wait(timeout=60)
        release.write_text("go")
        assert first.wait(timeout=60) == 0
        out, err = second.communicate(timeout=60)
    finally:
        release.write_text("go")
        first.kill()
    assert second.returncode == 2, out + err
    assert "shmi-2012-april.csv" in err and ("at the same time" in err or "locked by another import" in err)
    assert "Traceback" not in err and "IntegrityError" not in err
    with engine.connect() as connection:
        imports = connection.execute(sa.select(schema.import_record.c.user_name)).scalars().all()
        observations = connection.execute(sa.select(sa.func.count()).select_from(schema.observation)).scalar()
    assert (imports, observations) == (["first"], 147)


def _waiting_on_a_lock(engine: sa.Engine) -> bool:
    with engine.connect() as connection:  # a new transaction: pg_stat_activity is a per-transaction snapshot
        return bool(
            connection.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar()
        )


def test_bulk_copy_checks_references_for_the_whole_table(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    with engine.begin() as connection:
        import_id = repository.start_import(connection, "test", "bulk", "e" * 64, 0, "tester")
        connection.execute(schema.organisation.insert().values(code="RA1", kind="nhs_trust"))
        connection.execute(
            sa.insert(schema.indicator), [{"id": "x", "version": 1, "title": "x", "definition": {}}]
        )
    data = pa.table(
        {
            "indicator_id": ["x", "x"],
            "org_code": ["RA1", "NOPE"],
            "period": pa.array([dt.date(2020, 1, 1)] * 2, pa.date32()),
            "value": [0.5, 0.5],
            "import_id": pa.array([import_id] * 2, pa.int64()),
        }
    )
    with pytest.raises(sa.exc.IntegrityError, match="NOPE"):
        with engine.begin() as connection:
            repository.copy_arrow(connection, schema.observation, data)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM observation")).scalar() == 0
        assert connection.execute(sa.text("SHOW session_replication_role")).scalar() == "origin"


def test_all_digit_codes_and_names_load_as_text(engine, tmp_path):
    """A column of digits is read as text, not as numbers (which had no ``.str``), in CSV and Parquet."""
    listing = tmp_path / "orgs.csv"
    listing.write_text("code,name,kind\n12345,2024,place\n00123,7,place\n")
    [loaded] = ingest(engine, "organisations", [listing], user="tester")
    pd.DataFrame({"code": [678, 910], "name": [2025, 11], "kind": ["place", "place"]}).to_parquet(
        tmp_path / "orgs.parquet"
    )
    [parquet] = ingest(engine, "organisations", [tmp_path / "orgs.parquet"], user="tester")
    ae = tmp_path / "ae.csv"
    ae.write_text("period,org_code,type,attendances,breaches,admissions\n2024-01-01,54321,1,10,1,2\n")
    [observed] = ingest(engine, "ae", [ae], user="tester")
    table = schema.organisation
    with engine.connect() as connection:
        names = dict(connection.execute(sa.select(table.c.code, table.c.name)).all())
    assert (loaded.inserted, parquet.inserted, observed.inserted) == (2, 2, 3)  # organisation + 2
    assert names == {"12345": "2024", "00123": "7", "678": "2025", "910": "11", "54321": None}
