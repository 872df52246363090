"""The monitoring pass on Apache Spark, for data that outgrows one machine.

The same kernel (:func:`carelens.monitor.kernel.assess`) runs on each indicator's partition through
``groupBy("indicator_id").applyInPandas``; organisations are then scored on the driver with the same
:func:`carelens.monitor.scoring.score_organisations`. Results equal the embedded engine's exactly
(tested), because the kernel puts its rows in a canonical order before any arithmetic.

Needs the ``spark`` extra (``pip install carelens[spark]``) and Java 17.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterable

import pandas as pd

from carelens.monitor.inputs import Inputs, ParquetReader, attach_peer_groups
from carelens.monitor.kernel import JUDGEMENT_COLUMNS, OUTPUT_COLUMNS, assess_all
from carelens.monitor.service import (
    JudgementParts,
    PassResult,
    finish_pass,
    indicator_digests,
    judged_periods,
    run_scope,
)
from carelens.monitor.settings import MonitorSettings, load_settings

_SPARK_TYPES = {
    "period": "date",
    "peer_units": "bigint",
    "peers": "bigint",
    "flag_code": "bigint",
    "spc_points": "bigint",
    "od_adjusted": "boolean",
    "spc_alert": "boolean",
    "out_of_date": "boolean",
}
_TEXT = {
    "part",
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
    "direction",
    "verdict",
}
_COLUMNS = ("part", *OUTPUT_COLUMNS, *(c for c in JUDGEMENT_COLUMNS if c not in OUTPUT_COLUMNS))
"""The kernel's two tables as one (Spark's ``applyInPandas`` returns one): ``part`` says which a row is
of (``flag`` or ``judgement``); a column the other table lacks is filled and dropped again."""
RESULT_SCHEMA = ", ".join(
    f"{c} {_SPARK_TYPES.get(c, 'string' if c in _TEXT else 'double')}" for c in _COLUMNS
)
"""Spark DDL schema of the kernel's output."""


def _filler(column: str):
    kind = _SPARK_TYPES.get(column)
    if column in _TEXT:
        return ""
    return {"bigint": 0, "boolean": False, "date": None}.get(kind, float("nan"))


def _as_one_table(flags: pd.DataFrame, judgements: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for name, frame in (("flag", flags), ("judgement", judgements)):
        missing = {c: _filler(c) for c in _COLUMNS if c not in frame.columns and c != "part"}
        parts.append(frame.assign(part=name, **missing)[list(_COLUMNS)])
    both = pd.concat(parts, ignore_index=True)
    return both.astype({c: object for c in _TEXT})  # one plain array a column, as Arrow expects


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
    comparisons = inputs.comparisons(settings)
    organisations = inputs.organisations

    def kernel(part: pd.DataFrame) -> pd.DataFrame:
        part = part.assign(period=pd.to_datetime(part["period"]))
        assessed = assess_all(attach_peer_groups(part, organisations, comparisons), comparisons, settings)
        return _as_one_table(assessed.flags, assessed.judgements)

    both = frame.groupBy("indicator_id").applyInPandas(kernel, schema=RESULT_SCHEMA).toPandas()
    flags = normalise_flags(both[both["part"] == "flag"])
    judgements = normalise_judgements(both[both["part"] == "judgement"])
    parts = JudgementParts()
    parts.add_frame(judgements)
    result = finish_pass(
        inputs,
        comparisons,
        settings,
        flags,
        parts,
        judged_periods(judgements),
        indicator_digests(flags),
        indicator_digests(judgements),
        inputs_digest=None,
        observations=observations,
        indicators=len(ids),
        period_from=period_from,
        period_to=period_to,
        special_measures=special_measures,
        recently_inspected=recently_inspected,
        source=f"spark: {inputs.source}",
    )
    bounded = period_from is not None or period_to is not None
    held = inputs.reader.period_range(ids) if bounded and ids else (None, None)
    scope, note = run_scope(period_from, period_to, held=held)
    return dataclasses.replace(result, scope=scope, scope_note=note)


def normalise_flags(flags: pd.DataFrame) -> pd.DataFrame:
    """Flags in the embedded engine's order and dtypes (sorted by indicator, organisation)."""
    return _normalised(flags, OUTPUT_COLUMNS, ["indicator_id", "org_code"])


def normalise_judgements(judgements: pd.DataFrame) -> pd.DataFrame:
    """Judgements in the embedded engine's order and dtypes (by indicator, organisation, period; the
    period as ``datetime64``)."""
    return _normalised(judgements, JUDGEMENT_COLUMNS, ["indicator_id", "org_code", "period"], dates=False)


def _normalised(frame: pd.DataFrame, columns, order: list[str], dates: bool = True) -> pd.DataFrame:
    columns = [*columns, *(["out_of_date"] if "out_of_date" in frame else [])]  # added after the kernel
    out = frame[columns].sort_values(order, kind="stable")
    out = out.reset_index(drop=True)
    for column in columns:
        if column in _TEXT:
            out[column] = out[column].astype(object)
        elif column == "period":
            period = pd.to_datetime(out[column])
            out[column] = period.dt.date.astype(object) if dates else period.astype("datetime64[s]")
        elif _SPARK_TYPES.get(column) == "bigint":
            out[column] = out[column].astype("int64")
        elif _SPARK_TYPES.get(column) == "boolean":
            out[column] = out[column].astype(bool)
        else:
            out[column] = out[column].astype("float64")
    return out
