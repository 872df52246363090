"""National scale on PostgreSQL, through the bulk (COPY) paths, on the throwaway cluster: a national-shaped
A&E file (6,000 providers x 12 months x 2 department types, 144,000 rows) imported in batches, and a
monitoring run over it that stores more than 20,000 flags. Before issue 16 the run failed as soon as it
had 2,000 flags (``import_id`` went to COPY as "1.0")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.ingest.service import ingest
from carelens.monitor.service import run_monitor
from carelens.store import schema
from carelens.store.schema_monitor import monitor_flag

PROVIDERS, MONTHS = 6_000, 12


def national_ae(path, seed: int = 16) -> pd.DataFrame:
    """An A&E file in the packaged layout: every provider, month and type 1 and 2 department."""
    rng = np.random.default_rng(seed)
    codes = [f"R{i:04d}" for i in range(PROVIDERS)]
    months = pd.date_range("2023-04-01", periods=MONTHS, freq="MS").strftime("%Y-%m-%d")
    index = pd.MultiIndex.from_product([months, codes, ["1", "2"]], names=["period", "org_code", "type"])
    frame = index.to_frame(index=False)
    size = rng.integers(200, 20_000, PROVIDERS)  # providers differ in size...
    rate = rng.beta(4, 20, PROVIDERS)  # ...and in how often they breach
    attendances = size[np.tile(np.repeat(np.arange(PROVIDERS), 2), MONTHS)]
    frame["attendances"] = rng.poisson(attendances).clip(min=1)
    frame["breaches"] = rng.binomial(
        frame["attendances"], rate[np.tile(np.repeat(np.arange(PROVIDERS), 2), MONTHS)]
    )
    frame["admissions"] = rng.binomial(frame["attendances"], 0.25)
    frame.to_csv(path, index=False)
    return frame


def test_national_import_and_monitoring_run_on_postgresql(stores, tmp_path):
    if stores.backend != "postgresql":
        pytest.skip("the bulk COPY path is PostgreSQL's")
    engine = stores.new()
    try:
        frame = national_ae(tmp_path / "ae_national.csv")
        [result] = ingest(engine, "ae", [tmp_path / "ae_national.csv"], user="tester")
        assert (result.rows, result.inserted) == (len(frame), 2 * len(frame) + PROVIDERS)
        table = schema.observation
        with engine.connect() as connection:
            count, breaches, imports = connection.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.sum(sa.case((table.c.indicator_id.like("ae_4hr%"), table.c.numerator))),
                    sa.func.count(sa.distinct(table.c.import_id)),
                )
            ).one()
        assert (count, breaches, imports) == (2 * len(frame), float(frame["breaches"].sum()), 1)

        summary = run_monitor(engine, user="tester")
        with engine.connect() as connection:
            stored = connection.execute(
                sa.select(sa.func.count()).where(monitor_flag.c.run_id == summary.run_id)
            ).scalar()
        assert stored >= 20_000
        assert stored == sum(summary.flags.values())
    finally:
        engine.dispose()
