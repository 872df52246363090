"""The monitoring pass on Apache Spark, for data that outgrows one machine: :class:`SparkEngine`.

The same kernel (:func:`carelens.monitor.kernel.assess_all`) runs on each indicator's partition through
``groupBy("indicator_id").applyInPandas``; the pass is then finished on the driver exactly as for the
embedded engine (:func:`carelens.monitor.service.compute_pass`). Results, inputs digest included,
equal the embedded engine's exactly (tested), because the kernel puts its rows in a canonical order
before any arithmetic.

Needs the ``spark`` extra (``pip install carelens[spark]``) and Java 17.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from carelens.monitor.engines import (
    AssessedBatch,
    JudgementParts,
    PassJob,
    indicator_digests,
    judged_periods,
    keys_and_indicator_digests,
)
from carelens.monitor.inputs import ParquetReader, attach_peer_groups
from carelens.monitor.kernel import JUDGEMENT_COLUMNS, OUTPUT_COLUMNS, TEXT_COLUMNS, assess_all
from carelens.monitor.settings import EngineSettings, load_settings, master_problem

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
_TEXT = {"part", *TEXT_COLUMNS, "direction", "verdict"}
_COLUMNS = ("part", *OUTPUT_COLUMNS, *(c for c in JUDGEMENT_COLUMNS if c not in OUTPUT_COLUMNS))
"""The kernel's two tables as one (Spark's ``applyInPandas`` returns one): ``part`` says which a row is
of (``flag`` or ``judgement``); a column the other table lacks is filled and dropped again."""
OBSERVATION_NAMES = ["indicator_id", "org_code", "period", "numerator", "denominator", "expected", "value"]
OBSERVATION_DDL = (
    "indicator_id string, org_code string, period date, numerator double, denominator double, "
    "expected double, value double"
)
"""The observations the kernel is given, in Spark DDL: the Parquet store's columns (``period`` a date),
read as the store wrote them; ``import_id`` is added (null from a Parquet store, as the embedded engine
reads one)."""
RESULT_SCHEMA = ", ".join(
    f"{c} {_SPARK_TYPES.get(c, 'string' if c in _TEXT else 'double')}" for c in _COLUMNS
)
"""Spark DDL schema of the kernel's output."""


def _filler(column: str):
    kind = _SPARK_TYPES.get(column)
    if column in _TEXT:
        return ""
    return {"bigint": 0, "boolean": False, "date": None}.get(kind, float("nan"))


def _as_one_table(
    flags: pd.DataFrame, judgements: pd.DataFrame, indicator_id: str, observations: int
) -> pd.DataFrame:
    """Flags, judgements and one row counting the indicator's observations (in ``spc_points``)."""
    count = pd.DataFrame({"indicator_id": [str(indicator_id)], "spc_points": [observations]})
    parts = []
    for name, frame in (("flag", flags), ("judgement", judgements), (_COUNT, count)):
        missing = {c: _filler(c) for c in _COLUMNS if c not in frame.columns and c != "part"}
        parts.append(frame.assign(part=name, **missing)[list(_COLUMNS)])
    both = pd.concat(parts, ignore_index=True)
    return both.astype({c: object for c in _TEXT})  # one plain array a column, as Arrow expects


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def master_host(master: str) -> str | None:
    """The host of a ``spark://`` or ``sc://`` master URL (None for other masters)."""
    for scheme in ("spark://", "sc://"):
        if master.startswith(scheme):
            rest = master.removeprefix(scheme).split("/", 1)[0].split(";", 1)[0]
            first = rest.split(",", 1)[0]  # a standalone master may list several (high availability)
            return first.rsplit(":", 1)[0] if not first.startswith("[") else first.split("]", 1)[0] + "]"
    return None


def spark_session(
    master: str = "local[2]", settings: EngineSettings | None = None, app_name: str = "carelens-monitor"
):
    """A Spark session for carelens on ``master``: ``local[N]``, a standalone cluster ``spark://host:port``,
    Spark Connect ``sc://host:port`` (needs the Spark Connect client, ``pip install 'pyspark[connect]'``),
    or ``k8s://``/``yarn`` in client mode. Arrow transfers, UTC, and ``settings``' Spark options
    (default: the packaged monitoring settings' ``engine`` section).

    A local master, or a cluster master on loopback, keeps the driver on loopback too, with the UI off,
    and its executors run this Python interpreter (they are on this machine). Anything else is configured
    by ``settings.spark_conf`` (docs/scale.md). A master carelens cannot use is refused, never replaced by
    another."""
    from carelens.errors import InputError, Problem

    if settings is None:
        settings = load_settings().engine
    if problem := master_problem(master):
        raise InputError(Problem("spark master", None, "engine.spark.master", problem))
    conf = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(settings.spark_arrow_batch_rows),
        "spark.sql.session.timeZone": "UTC",
    }
    if settings.spark_shuffle_partitions is not None:
        conf["spark.sql.shuffle.partitions"] = str(settings.spark_shuffle_partitions)
    if master.startswith("sc://"):
        return _connect_session(master, app_name, conf | settings.spark_conf)
    from pyspark.sql import SparkSession

    conf["spark.ui.enabled"] = "false"
    conf["spark.ui.showConsoleProgress"] = "false"  # progress is the pass's own, job by job
    local = master.startswith("local")
    if local:
        cores = master.removeprefix("local[").removesuffix("]")
        partitions = 2 * int(cores) if cores.isdigit() else 4
        conf.setdefault("spark.sql.shuffle.partitions", str(max(partitions, 2)))
    elif settings.spark_executor_memory is not None:
        conf["spark.executor.memory"] = settings.spark_executor_memory
    if local or master_host(master) in LOOPBACK_HOSTS:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
        if "PYSPARK_PYTHON" not in os.environ:
            conf["spark.pyspark.python"] = sys.executable
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in (conf | settings.spark_conf).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _connect_session(master: str, app_name: str, conf: dict[str, str]):
    """A Spark Connect session, or a clear error naming what is missing (never a local session instead)."""
    import pyspark

    from carelens.errors import InputError, Problem

    try:
        from pyspark.sql.connect.utils import check_dependencies

        check_dependencies("pyspark.sql.connect")
    except ImportError as exc:
        raise InputError(
            Problem(
                "spark master",
                None,
                "engine.spark.master",
                f"Spark Connect ({master}) needs the Spark Connect client for PySpark "
                f"{pyspark.__version__}: pip install 'pyspark[connect]=={pyspark.__version__}' "
                f"(grpcio, grpcio-status, googleapis-common-protos); {exc}",
            )
        ) from None
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.remote(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


_COUNT = "count"
"""``part`` of the one row per indicator that says how many observations the kernel was given."""


@dataclass(frozen=True)
class SparkEngine:
    """The monitoring kernel run by Spark executors, one indicator a task
    (``groupBy("indicator_id").applyInPandas``): observations are read by Spark straight from a Parquet
    store (or from the database on the driver), and the results come back to the driver job by job
    (``indicators_per_job`` indicators a job, whole batches), where the pass is finished as for the
    embedded engine (:func:`carelens.monitor.service.compute_pass`). Progress is reported after each job."""

    spark: object
    """A ``pyspark.sql.SparkSession`` (:func:`spark_session`), classic or Spark Connect."""
    indicators_per_job: int = 16
    name: str = "spark"

    def assess(self, job: PassJob) -> Iterator[AssessedBatch]:
        for wave in _waves(job.batches, self.indicators_per_job):
            ids = sorted({i for batch in wave for i in batch})
            flags, judgements, counts = self._run(job, ids)
            for batch in wave:
                observed = sum(counts.get(i, 0) for i in batch)
                mine = flags[flags["indicator_id"].isin(batch)].reset_index(drop=True)
                if mine.empty:
                    yield AssessedBatch(observed, None)
                    continue
                judged = judgements[judgements["indicator_id"].isin(batch)].reset_index(drop=True)
                keys_digest, flag_digests = keys_and_indicator_digests(mine)
                yield AssessedBatch(
                    observations=observed,
                    flags=mine,
                    judgements=JudgementParts.keep(judged, job.spill, f"spark-{batch[0]}"),
                    judgement_rows=len(judged),
                    judged_periods=judged_periods(judged),
                    keys_digest=keys_digest,
                    flag_digests=flag_digests,
                    judgement_digests=indicator_digests(judged),
                )

    def _run(self, job: PassJob, ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
        """One Spark job: the flags, judgements and observation counts of indicators ``ids``."""
        comparisons, organisations, settings = job.comparisons, job.inputs.organisations, job.settings

        def kernel(part: pd.DataFrame) -> pd.DataFrame:
            part = part.assign(period=pd.to_datetime(part["period"]))
            assessed = assess_all(attach_peer_groups(part, organisations, comparisons), comparisons, settings)
            return _as_one_table(assessed.flags, assessed.judgements, part["indicator_id"].iloc[0], len(part))

        frame = self._observations(job, ids)
        both = frame.groupBy("indicator_id").applyInPandas(kernel, schema=RESULT_SCHEMA).toPandas()
        counted = both[both["part"] == _COUNT]
        counts = dict(zip(counted["indicator_id"], counted["spc_points"].astype(int), strict=True))
        flags = normalise_flags(both[both["part"] == "flag"])
        judgements = normalise_judgements(both[both["part"] == "judgement"])
        return flags, judgements, counts

    def _observations(self, job: PassJob, ids: list[str]):
        """The observations of ``ids`` in the job's periods, as a Spark DataFrame in the kernel's columns.
        A Parquet store is read by the executors straight from its files (only these indicators'
        partitions, in the store's own schema, so no inference job and an indicator id that looks like
        a number stays text); a database store is read on the driver and its rows distributed."""
        from pyspark.sql import functions as F

        reader = job.inputs.reader
        if isinstance(reader, ParquetReader):
            folders = [str(reader.store.partition_dir(i)) for i in ids if reader.store.files([i])]
            files = self.spark.read.schema(OBSERVATION_DDL).option("basePath", str(reader.store.root))
            frame = files.parquet(*folders) if folders else self.spark.createDataFrame([], OBSERVATION_DDL)
            frame = frame.withColumn("import_id", F.lit(None).cast("double"))
        else:
            pdf = reader.read(ids, job.period_from, job.period_to)
            pdf["period"] = pd.to_datetime(pdf["period"]).dt.date
            pdf = pdf[[*OBSERVATION_NAMES, "import_id"]].astype({"import_id": float})
            frame = self.spark.createDataFrame(pdf, f"{OBSERVATION_DDL}, import_id double")
        frame = frame.where(F.col("indicator_id").isin(ids))
        if job.period_from is not None:
            frame = frame.where(F.col("period") >= F.lit(job.period_from))
        if job.period_to is not None:
            frame = frame.where(F.col("period") <= F.lit(job.period_to))
        return frame.select(*OBSERVATION_NAMES, "import_id")


def _waves(batches: list[list[str]], indicators: int) -> Iterator[list[list[str]]]:
    """Consecutive whole batches of at least ``indicators`` indicators together (the last may be fewer)."""
    wave: list[list[str]] = []
    for batch in batches:
        wave.append(batch)
        if sum(map(len, wave)) >= indicators:
            yield wave
            wave = []
    if wave:
        yield wave


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
