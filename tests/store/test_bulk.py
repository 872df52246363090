"""The PostgreSQL bulk path: Arrow tables streamed through COPY inside the caller's transaction."""

import datetime as dt

import numpy as np
import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from carelens.store import repository, schema


def test_copy_arrow_loads_observations_exactly_and_rolls_back_with_the_transaction(engine):
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection, pytest.raises(ValueError, match="needs PostgreSQL"):
            repository.copy_arrow(connection, schema.observation, pa.table({"x": [1]}))
        return
    n = 7_507  # eight COPY blocks once COPY_BLOCK_ROWS is patched to 1,000 below
    rng = np.random.default_rng(5)
    with engine.begin() as connection:
        import_id = repository.start_import(connection, "test", "bulk", "f" * 64, n, "tester")
        repository.copy_arrow(
            connection,
            schema.organisation,
            pa.table({"code": ["RA1", 'RB2, "quoted"'], "kind": ["nhs_trust"] * 2}),
        )
        connection.execute(
            sa.insert(schema.indicator), [{"id": "x", "version": 1, "title": "x", "definition": {}}]
        )
    numerator = rng.integers(0, 100, n).astype(float)
    data = pa.table(
        {
            "indicator_id": ["x"] * n,
            "org_code": ["RA1", 'RB2, "quoted"'] * (n // 2) + ["RA1"] * (n % 2),
            "period": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(n)], pa.date32()),
            "numerator": numerator,
            "denominator": pa.array([None] * n, pa.float64()),
            "value": numerator / 100,
            "import_id": pa.array([import_id] * n, pa.int64()),
        }
    )
    patch = pytest.MonkeyPatch()
    patch.setattr(repository, "COPY_BLOCK_ROWS", 1000)
    try:
        with engine.begin() as connection:
            assert repository.copy_arrow(connection, schema.observation, data) == n
        with engine.connect() as connection:
            count, total, nulls = connection.execute(
                sa.text("SELECT COUNT(*), SUM(numerator), COUNT(*) - COUNT(denominator) FROM observation")
            ).one()
        assert (count, float(total), nulls) == (n, float(numerator.sum()), n)
        with pytest.raises(psycopg.errors.UniqueViolation):  # the same keys again: the current-row index
            with engine.begin() as connection:
                repository.copy_arrow(connection, schema.observation, data)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT COUNT(*) FROM observation")).scalar_one() == n
    finally:
        patch.undo()


def test_dates_held_as_datetime64_reach_copy_as_the_same_days_as_date_objects():
    """A run's judgements hold their period as ``datetime64`` (millions of rows, converted at once): the
    Arrow column given to COPY is the one the same days as ``datetime.date`` objects give, NaT as null."""
    import pandas as pd

    from carelens.store.schema_monitor import monitor_judgement

    days = [dt.date(2019, 12, 31), None, dt.date(2020, 2, 29), dt.date(1970, 1, 1)]
    as_objects = pd.DataFrame({"period": pd.Series(days, dtype=object)})
    as_datetime64 = pd.DataFrame({"period": pd.to_datetime(pd.Series(days)).astype("datetime64[s]")})
    assert as_datetime64["period"].dtype.kind == "M"
    converted = repository.arrow_for(monitor_judgement, as_datetime64).column("period")
    assert converted.type == pa.date32()
    assert (
        converted.to_pylist()
        == repository.arrow_for(monitor_judgement, as_objects).column("period").to_pylist()
    )
    assert converted.to_pylist() == days
