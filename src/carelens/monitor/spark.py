"""The monitoring pass on Apache Spark, for data that outgrows one machine.

The same kernel (:func:`carelens.monitor.kernel.assess`) runs on each indicator's partition through
``groupBy("indicator_id").applyInPandas``; organisations are then scored on the driver with the same
:func:`carelens.monitor.scoring.score_organisations`. Results equal the embedded engine's exactly
(tested), because the kernel puts its rows in a canonical order before any arithmetic.

Needs the ``spark`` extra (``pip install carelens[spark]``) and Java 17.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

import pandas as pd

from carelens.monitor.inputs import Inputs, ParquetReader, attach_peer_groups
from carelens.monitor.kernel import OUTPUT_COLUMNS, assess
from carelens.monitor.scoring import score_organisations
from carelens.monitor.service import PassResult, indicator_digests, results_digest
from carelens.monitor.settings import MonitorSettings, load_settings

_SPARK_TYPES = {
    "period": "date",
    "peer_units": "bigint",
    "flag_code": "bigint",
    "spc_points": "bigint",
    "od_adjusted": "boolean",
    "spc_alert": "boolean",
}
_TEXT = {
    "indicator_id",
    "org_code",
    "peer_group",
    "od_note",
    "method",
    "benchmark",
    "flag",
    "reason",
    "spc_variation",
    "spc_rule",
}
RESULT_SCHEMA = ", ".join(
    f"{c} {_SPARK_TYPES.get(c, 'string' if c in _TEXT else 'double')}" for c in OUTPUT_COLUMNS
)
"""Spark DDL schema of the kernel's output."""


def local_spark(app_name: str = "carelens-monitor", cores: int = 2):
    """A local Spark session set up for carelens: loopback only, no UI, no downloaded packages."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(max(cores * 2, 2)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def compute_pass_spark(
    spark,
    inputs: Inputs,
    settings: MonitorSettings | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    special_measures: Iterable[str] = (),
    recently_inspected: Iterable[str] = (),
) -> PassResult:
    """The monitoring pass of :func:`carelens.monitor.service.compute_pass`, with the per-indicator
    kernel run by Spark executors. Observations are read by Spark straight from a Parquet store."""
    from pyspark.sql import functions as F

    settings = settings or load_settings()
    ids = sorted(inputs.indicators)
    if isinstance(inputs.reader, ParquetReader):
        frame = spark.read.parquet(str(inputs.reader.store.root))
    else:  # a database store: read on the driver, distribute the rows
        pdf = inputs.reader.read(ids, period_from, period_to)
        pdf["period"] = pd.to_datetime(pdf["period"]).dt.date
        frame = spark.createDataFrame(pdf.astype({"import_id": float}))
    if "import_id" not in frame.columns:
        frame = frame.withColumn("import_id", F.lit(None).cast("double"))
    frame = frame.where(F.col("indicator_id").isin(ids))
    if period_from is not None:
        frame = frame.where(F.col("period") >= F.lit(period_from))
    if period_to is not None:
        frame = frame.where(F.col("period") <= F.lit(period_to))
    frame = frame.select(
        "indicator_id",
        "org_code",
        "period",
        *(F.col(c).cast("double").alias(c) for c in ("numerator", "denominator", "expected", "value")),
        F.col("import_id").cast("double").alias("import_id"),
    )
    observations = frame.count()
    indicators = inputs.indicators
    organisations = inputs.organisations

    def kernel(part: pd.DataFrame) -> pd.DataFrame:
        part = part.assign(period=pd.to_datetime(part["period"]))
        return assess(attach_peer_groups(part, organisations, indicators), indicators, settings)

    assessed = frame.groupBy("indicator_id").applyInPandas(kernel, schema=RESULT_SCHEMA).toPandas()
    flags = normalise_flags(assessed)
    key_questions = {k: v.key_question for k, v in indicators.items()}
    special = sorted(set(special_measures))
    recent = sorted(set(recently_inspected))
    orgs, questions = score_organisations(flags, organisations, key_questions, settings, special, recent)
    return PassResult(
        flags=flags,
        organisations=orgs,
        questions=questions,
        inputs_digest="",
        results_digest=results_digest(indicator_digests(flags), orgs, questions),
        indicators=len(ids),
        observations=observations,
        settings=settings,
        source=f"spark: {inputs.source}",
        period_from=period_from,
        period_to=period_to,
        special_measures=special,
        recently_inspected=recent,
    )


def normalise_flags(flags: pd.DataFrame) -> pd.DataFrame:
    """Flags in the embedded engine's order and dtypes (sorted by indicator, organisation)."""
    out = flags[list(OUTPUT_COLUMNS)].sort_values(["indicator_id", "org_code"], kind="stable")
    out = out.reset_index(drop=True)
    for column in OUTPUT_COLUMNS:
        if column in _TEXT:
            out[column] = out[column].astype(object)
        elif column == "period":
            out[column] = pd.to_datetime(out[column]).dt.date.astype(object)
        elif _SPARK_TYPES.get(column) == "bigint":
            out[column] = out[column].astype("int64")
        elif _SPARK_TYPES.get(column) == "boolean":
            out[column] = out[column].astype(bool)
        else:
            out[column] = out[column].astype("float64")
    return out
