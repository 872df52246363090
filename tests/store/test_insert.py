"""Plain inserts (:func:`repository.insert_rows`): every row written with its own values, whatever the
frame's shape: columns holding one value on every row, all of them so, a remainder after the last full
multi-row statement, missing values, booleans beside whole numbers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.store import repository, schema


def stored(connection: sa.Connection, table: sa.Table, columns: list[str]) -> list[tuple]:
    return [
        tuple(r) for r in connection.execute(sa.select(*(table.c[c] for c in columns)).order_by(*columns))
    ]


@pytest.mark.parametrize("rows", [1, 2, 499, 500, 501, 1_234])
def test_a_frame_whose_every_column_is_constant_writes_every_row(engine, rows, monkeypatch):
    monkeypatch.setattr(repository, "INSERT_BATCH_ROWS", 700)  # a remainder in the second chunk too
    table = sa.Table(
        "constant_rows", sa.MetaData(), sa.Column("run_id", sa.Integer), sa.Column("note", sa.Integer)
    )
    frame = pd.DataFrame({"run_id": np.full(rows, 42, dtype=np.int64), "note": [None] * rows})
    with engine.begin() as connection:
        table.create(connection)
        assert repository.insert_rows(connection, table, frame) == rows
        counted = connection.execute(
            sa.select(sa.func.count(), sa.func.count(table.c.note), sa.func.min(table.c.run_id))
        ).one()
        table.drop(connection)
    assert tuple(counted) == (rows, 0, 42)


def test_values_are_written_exactly_constant_or_not(engine, monkeypatch):
    monkeypatch.setattr(repository, "SQLITE_ROWS_PER_STATEMENT", 3)
    with engine.begin() as connection:
        import_id = repository.start_import(connection, "test", "f", "0" * 64, 7, "tester")
        orgs = pd.DataFrame(
            {
                "code": ["A1", "B2", "C3", "D4", "E5", "F6", "G7"],
                "name": [None, "b", None, "d", None, None, "g'; DROP TABLE x; --"],
                "kind": ["nhs_trust"] * 7,
                "valid_from": [dt.date(2020, 1, 1), None, *[dt.date(2021, 2, 3)] * 5],
                "import_id": np.array([import_id] * 7, dtype=np.int64),
            }
        )
        repository.insert_rows(connection, schema.organisation, orgs)
        got = stored(connection, schema.organisation, ["code", "name", "valid_from", "import_id"])
        assert all(type(v) is int for *_, v in got)
    assert got == [
        ("A1", None, dt.date(2020, 1, 1), import_id),
        ("B2", "b", None, import_id),
        ("C3", None, dt.date(2021, 2, 3), import_id),
        ("D4", "d", dt.date(2021, 2, 3), import_id),
        ("E5", None, dt.date(2021, 2, 3), import_id),
        ("F6", None, dt.date(2021, 2, 3), import_id),
        ("G7", "g'; DROP TABLE x; --", dt.date(2021, 2, 3), import_id),
    ]


def test_columns_of_one_value_are_written_into_the_statement_only_when_safe():
    frame = pd.DataFrame(
        {
            "id": np.array([7, 7, 7], dtype=np.int64),
            "other": [7.0, 7.0, 7.0],  # a float column binds its values
            "none": [None, None, None],
            "some": [None, 1, None],
            "flag": [True, True, True],  # booleans bind (their SQL differs by database)
        }
    )
    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.Integer),
        sa.Column("other", sa.Float),
        sa.Column("none", sa.Integer),
        sa.Column("some", sa.Integer),
        sa.Column("flag", sa.Boolean),
    )
    dialect = sa.create_engine("sqlite://").dialect
    literals = [literal for _, literal in repository._bound_columns(dialect, table, frame)]
    assert literals == ["7", None, "NULL", None, None]


def test_few_parameters_per_statement_still_write_every_row(engine, monkeypatch):
    if engine.dialect.name != "sqlite":
        pytest.skip("multi-row statements are SQLite's path")
    monkeypatch.setattr(repository, "_sqlite_variable_limit", lambda connection: 5)  # 2 rows of 2 values
    with engine.begin() as connection:
        orgs = pd.DataFrame({"code": [f"Z{i}" for i in range(9)], "kind": "nhs_trust", "name": "n"})
        orgs["name"] = [f"name {i}" for i in range(9)]
        repository.insert_rows(connection, schema.organisation, orgs)
        got = stored(connection, schema.organisation, ["code", "name", "kind"])
    assert got == [(f"Z{i}", f"name {i}", "nhs_trust") for i in range(9)]


def test_whole_numbers_held_as_floats_reach_a_bigint_column_through_copy(engine):
    """Issue 16: 2,000 rows or more go to PostgreSQL through COPY, which wrote an import id held as a float
    (a column that had a missing value somewhere upstream) as "1.0" into a bigint column and failed."""
    rows = repository.COPY_THRESHOLD_ROWS + 500
    with engine.begin() as connection:
        import_id = repository.start_import(connection, "test", "f", "0" * 64, rows, "tester")
        orgs = pd.DataFrame(
            {
                "code": [f"F{i}" for i in range(rows)],
                "kind": "nhs_trust",
                "import_id": np.full(rows, float(import_id)),
            }
        )
        assert orgs["import_id"].dtype == np.float64
        assert repository.insert_rows(connection, schema.organisation, orgs) == rows
        got = connection.execute(sa.select(schema.organisation.c.import_id).distinct()).scalars().all()
    assert got == [import_id] and type(got[0]) is int
