"""The embedded engine and Apache Spark (local session, applyInPandas) give identical flags, judgements,
bands, scores and digests on small synthetic data: one orchestration, two engines. Runs in CI: Java 17 and pyspark are part of the test install."""

from __future__ import annotations

import pandas as pd
import pytest

from carelens.ingest.synth import write_synthetic
from carelens.monitor.inputs import parquet_inputs
from carelens.monitor.service import compute_pass


@pytest.mark.spark
def test_spark_and_embedded_results_are_identical(tmp_path):
    from carelens.monitor.spark import SparkEngine, normalise_flags, normalise_judgements, spark_session

    write_synthetic(tmp_path / "data", 300, 4, 24, seed=3)
    inputs = parquet_inputs(tmp_path / "data")
    embedded = compute_pass(inputs, special_measures=["R000001"], recently_inspected=["G000002"])
    spark = spark_session("local[2]")
    try:
        distributed = compute_pass(
            inputs, special_measures=["R000001"], recently_inspected=["G000002"], engine=SparkEngine(spark)
        )
    finally:
        spark.stop()
    assert len(embedded.flags) == len(distributed.flags) > 1000
    # both engines' flags are put together the same way (text as categoricals of the values in order)
    pd.testing.assert_frame_equal(embedded.flags, distributed.flags, check_exact=True)
    assert normalise_flags(embedded.flags).equals(normalise_flags(distributed.flags))
    assert len(embedded.judgements) == len(distributed.judgements) > len(embedded.flags)
    pd.testing.assert_frame_equal(
        normalise_judgements(embedded.judgements),
        normalise_judgements(distributed.judgements),
        check_exact=True,
    )
    pd.testing.assert_frame_equal(embedded.indicator_rows, distributed.indicator_rows, check_exact=True)
    pd.testing.assert_frame_equal(embedded.organisations, distributed.organisations, check_exact=True)
    pd.testing.assert_frame_equal(embedded.questions, distributed.questions, check_exact=True)
    assert embedded.results_digest == distributed.results_digest
    assert embedded.inputs_digest == distributed.inputs_digest  # one orchestration: the same run
    assert (embedded.flags["flag_code"] > 0).sum() > 10  # the comparison is not vacuous
    assert embedded.organisations["band"].nunique() > 3


@pytest.mark.spark
def test_the_command_line_runs_the_spark_engine(tmp_path, data_dir):
    """`carelens monitor --engine spark` stores the same run as the embedded engine, digests included."""
    import sqlalchemy as sa
    from typer.testing import CliRunner

    from carelens.cli import app
    from carelens.store.engine import create_engine
    from carelens.store.schema_monitor import monitor_run

    url = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    loaded = runner.invoke(
        app, ["ingest", "ae", str(data_dir / "nhsrdatasets" / "ae_attendances.csv"), "--db", url]
    )
    assert loaded.exit_code == 0, loaded.output
    spark = runner.invoke(app, ["monitor", "--db", url, "--engine", "spark", "--spark-master", "local[2]"])
    assert spark.exit_code == 0, spark.output
    embedded = runner.invoke(app, ["monitor", "--db", url])
    assert embedded.exit_code == 0, embedded.output
    with create_engine(url).connect() as c:
        runs = c.execute(
            sa.select(monitor_run.c.source, monitor_run.c.inputs_digest, monitor_run.c.results_digest)
        ).all()
    assert runs[0].source.startswith("spark: ") and not runs[1].source.startswith("spark")
    assert runs[0][1:] == runs[1][1:]
