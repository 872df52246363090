"""A first large import into an empty table (:class:`repository.BulkLoad`): nothing is looked up, and on
SQLite the table's indexes are built after the load, inside the import's transaction. The indexes come
back exactly as they were, a repeated key still fails, and a failure leaves the store as it was."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from carelens import tables
from carelens.ingest.service import ingest
from carelens.store import repository, schema

AE = Path(str(resources.files("carelens") / "data" / "nhsrdatasets" / "ae_attendances.csv"))


def snapshot(engine: sa.Engine) -> dict[str, list]:
    """Every row of every table, and every index: equal snapshots mean nothing changed."""
    with engine.connect() as connection:
        rows = {
            table.name: sorted(map(repr, connection.execute(sa.select(table))))
            for table in schema.metadata.sorted_tables
        }
        return {**rows, "indexes": indexes(connection)}


def indexes(connection: sa.Connection) -> list:
    inspector = sa.inspect(connection)
    return sorted(
        (table.name, index["name"], tuple(index["column_names"]), bool(index["unique"]))
        for table in schema.metadata.sorted_tables
        for index in inspector.get_indexes(table.name)
    )


@pytest.fixture
def small_bulk(monkeypatch):
    """Batches of about 500 rows, and indexes deferred from the first insert of 100 rows."""
    monkeypatch.setattr(tables, "BATCH_BYTES", 16_384)
    monkeypatch.setattr(repository, "BULK_INDEX_ROWS", 100)


def test_a_first_import_builds_indexes_after_the_load_and_a_second_supersedes_as_before(
    engine, tmp_path, small_bulk, monkeypatch
):
    before = snapshot(engine)
    seen_during_load = []
    real_finish = repository.BulkLoad.finish

    def finish(self):
        seen_during_load.append({name for _, name, *_ in indexes(self.connection) if "observation" in name})
        real_finish(self)

    monkeypatch.setattr(repository.BulkLoad, "finish", finish)
    lines = AE.read_text().splitlines()
    first = tmp_path / "ae.csv"
    first.write_text("\n".join(lines[:3001]) + "\n")
    [loaded] = ingest(engine, "ae", [first], user="tester")
    organisations = len({line.split(",")[1] for line in lines[1:3001]})
    assert (loaded.rows, loaded.inserted) == (3000, 6000 + organisations)
    after = snapshot(engine)
    assert after["indexes"] == before["indexes"]
    if engine.dialect.name == "sqlite":
        assert seen_during_load == [set()]  # dropped while loading, built again before the commit
    else:
        kept = {"ix_observation_indicator_period", "uq_observation_current", "ix_observation_superseded"}
        assert seen_during_load == [kept]

    # A corrected copy: the table is not empty now, so current rows are looked up and superseded.
    corrected = [lines[0], lines[1][:-1] + "9", *lines[2:3001]]  # one row's admissions
    second = tmp_path / "ae_corrected.csv"
    second.write_text("\n".join(corrected) + "\n")
    [again] = ingest(engine, "ae", [second], user="tester")
    assert (again.inserted, again.superseded) == (1, 1)
    with engine.connect() as connection:
        table = schema.observation
        counted = sa.select(sa.func.count(), sa.func.count(table.c.superseded_by)).select_from(table)
        assert tuple(connection.execute(counted).one()) == (6001, 1)
    assert snapshot(engine)["indexes"] == before["indexes"]


def test_a_key_that_got_past_the_reader_fails_when_the_unique_index_is_built(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps its indexes during a load")
    frame = pd.DataFrame(
        {
            "indicator_id": ["ae_4hr_breach_type1"] * 200,
            "org_code": ["RA1"] * 200,
            "period": [
                pd.Timestamp(2020, 1 + i % 12, 1).date() for i in range(200)
            ],  # each month 16-17 times
            "numerator": 1.0,
            "denominator": 2.0,
            "expected": None,
            "value": 0.5,
        }
    )
    with engine.connect() as connection:
        before = indexes(connection)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        import_id = repository.start_import(connection, "test", "f", "0" * 64, 200, "tester")
        repository.insert_rows(
            connection, schema.organisation, pd.DataFrame({"code": ["RA1"], "kind": ["nhs_trust"]})
        )
        connection.execute(
            sa.insert(schema.indicator),
            [{"id": "ae_4hr_breach_type1", "version": 1, "title": "t", "definition": {}}],
        )
        bulk = repository.BulkLoad(connection)
        key = ["indicator_id", "org_code", "period"]
        repository.write_versioned(connection, schema.observation, frame, key, key, import_id, bulk)
        assert bulk.defers_indexes(schema.observation)
        bulk.finish()
    with engine.connect() as connection:
        assert indexes(connection) == before
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.observation)).scalar() == 0


def test_a_failure_after_the_indexes_were_dropped_leaves_the_store_as_it_was(
    engine, tmp_path, small_bulk, monkeypatch
):
    real_insert = repository.insert_rows
    written = []

    def crash_on_the_third_batch(connection, table, frame):
        if table.name == "observation" and len(written) == 2:
            raise RuntimeError("simulated crash")
        count = real_insert(connection, table, frame)
        written.append(count) if table.name == "observation" else None
        return count

    monkeypatch.setattr(repository, "insert_rows", crash_on_the_third_batch)
    before = snapshot(engine)
    path = tmp_path / "ae.csv"
    path.write_text("\n".join(AE.read_text().splitlines()[:3001]) + "\n")
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(engine, "ae", [path], user="tester")
    assert len(written) == 2
    assert snapshot(engine) == before
