"""The embedded engine and Apache Spark (local session, applyInPandas) give identical flags, bands and
scores on small synthetic data. Runs in CI: Java 17 and pyspark are part of the test install."""

from __future__ import annotations

import pandas as pd
import pytest

from carelens.ingest.synth import write_synthetic
from carelens.monitor.inputs import parquet_inputs
from carelens.monitor.service import compute_pass


@pytest.mark.spark
def test_spark_and_embedded_results_are_identical(tmp_path):
    from carelens.monitor.spark import compute_pass_spark, local_spark, normalise_flags, normalise_judgements

    write_synthetic(tmp_path / "data", 300, 4, 24, seed=3)
    inputs = parquet_inputs(tmp_path / "data")
    embedded = compute_pass(inputs, special_measures=["R000001"], recently_inspected=["G000002"])
    spark = local_spark()
    try:
        distributed = compute_pass_spark(
            spark, inputs, special_measures=["R000001"], recently_inspected=["G000002"]
        )
    finally:
        spark.stop()
    assert len(embedded.flags) == len(distributed.flags) > 1000
    pd.testing.assert_frame_equal(normalise_flags(embedded.flags), distributed.flags, check_exact=True)
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
    assert (embedded.flags["flag_code"] > 0).sum() > 10  # the comparison is not vacuous
    assert embedded.organisations["band"].nunique() > 3
