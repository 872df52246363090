"""Monitoring settings: thresholds, small-number rules, SPC options, scoring and banding cut-points.

The defaults and their sources are in ``carelens/config/monitor/monitor.yaml``; an analyst may pass
another file. :func:`load_settings` validates it and reports every problem at once.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from carelens.config import FieldReader, packaged, read_settings
from carelens.model.data_quality import DataQualityRules, packaged_rules

SCHEMA_VERSION = 1

ENGINES = ("embedded", "spark")
"""What can assess a pass (:mod:`carelens.monitor.engines`)."""
MASTER_PREFIXES = ("local", "spark://", "sc://", "k8s://", "yarn")
"""Spark master URLs carelens accepts: ``local[N]``, a standalone master ``spark://host:port``, Spark
Connect ``sc://host:port``, and Kubernetes or YARN in client mode (docs/scale.md)."""


@dataclass(frozen=True)
class EngineSettings:
    """Where a pass is assessed (section ``engine`` of ``monitor.yaml``; docs/scale.md). Not part of a
    run's stored settings or digests: every engine gives the same run to the bit, so where it ran is
    recorded only in the run's ``source``. Values, meanings and sources in ``monitor.yaml``."""

    name: str
    """embedded (NumPy here and ``--workers`` processes) or spark (Apache Spark on ``spark_master``)."""
    spark_master: str
    """local[N], spark://host:port, sc://host:port (Spark Connect), k8s://... or yarn (client mode)."""
    spark_indicators_per_job: int
    """Indicators per Spark job: results and progress come back job by job (bounds the driver's memory)."""
    spark_shuffle_partitions: int | None
    """spark.sql.shuffle.partitions (None: 2 per core of a local master, else the cluster's own)."""
    spark_arrow_batch_rows: int
    """spark.sql.execution.arrow.maxRecordsPerBatch: rows per Arrow batch between the JVM and Python."""
    spark_executor_memory: str | None
    """spark.executor.memory for cluster masters (None: the cluster's default)."""
    spark_conf: dict[str, str]
    """Any other Spark configuration, passed to the session as it is."""


@dataclass(frozen=True)
class MonitorSettings:
    """Every setting of a monitoring pass (values, meanings and sources in ``monitor.yaml``: no defaults
    here)."""

    risk_z: float
    elevated_z: float
    trim: float
    overdispersion: str | None
    min_denominator: float
    min_expected: float
    min_units: int
    benchmark_level: float
    spc_measure: str
    spc_min_points: int
    spc_latest_points: int
    spc_fix_after: int | None
    spc_run_length: int
    points_risk: int
    points_elevated: int
    band_method: str
    band_cut_points: tuple[float, ...]
    band_within: str
    zero_score_band: int
    indicators_per_batch: int
    history_periods: int | None
    max_age_months: int | None
    score_out_of_date: bool
    data_quality: DataQualityRules
    """The data-quality rules (``config/quality/data_quality.yaml``), applied before any figure is judged."""
    engine: EngineSettings
    """Where the pass runs: not part of :meth:`as_json` (every engine gives the same run)."""

    def as_json(self) -> str:
        """The settings as canonical JSON (sorted keys): stored with each run and part of its digest.
        The engine settings are left out: where a pass ran does not change its results."""
        data = asdict(self)
        del data["engine"]
        data["band_cut_points"] = list(self.band_cut_points)
        data["data_quality"] = self.data_quality.as_json_data()
        return json.dumps(data, sort_keys=True)


def default_settings_file() -> Path:
    return packaged("monitor", "monitor.yaml")


def load_settings(path: str | Path | None = None) -> MonitorSettings:
    """Read and validate a monitoring settings file (the packaged defaults when ``path`` is None); every
    problem is reported at once, naming the file and the field."""
    r = read_settings(path, default_settings_file(), SCHEMA_VERSION)

    def positive(dotted: str) -> float | None:
        return r.get(dotted, float, minimum=0.0, exclusive=True)

    def one_of(dotted: str, options: tuple[str, ...], optional: bool = False) -> str | None:
        value = r.get(dotted, str, optional=optional)
        if value is not None and value not in options:
            r.problem(
                dotted, f"must be {' or '.join(options)}{' or null' if optional else ''}, got {value!r}"
            )
        return value

    risk_z, elevated_z = positive("flags.risk_z"), positive("flags.elevated_z")
    if risk_z is not None and elevated_z is not None and elevated_z <= risk_z:
        r.problem("flags.elevated_z", "must exceed risk_z")
    band_method = one_of("bands.method", ("quantile", "fixed"))
    settings = MonitorSettings(
        risk_z=risk_z,
        elevated_z=elevated_z,
        trim=r.get("funnel.trim", float, minimum=0.0, maximum=0.49),
        overdispersion=one_of("funnel.overdispersion", ("additive", "multiplicative"), optional=True),
        min_denominator=positive("small_numbers.min_denominator"),
        min_expected=positive("small_numbers.min_expected"),
        min_units=r.get("small_numbers.min_units", int, minimum=1),
        benchmark_level=r.get("benchmark.level", float, minimum=0.0, exclusive=True, maximum=100.0),
        spc_measure=one_of("spc.measure", ("relative", "value")),
        spc_min_points=r.get("spc.min_points", int, minimum=1),
        spc_latest_points=r.get("spc.latest_points", int, minimum=1),
        spc_fix_after=r.get("spc.fix_after", int, minimum=2, optional=True),  # a moving range needs 2
        spc_run_length=r.get("spc.run_length", int, minimum=2),  # a trend needs 2 points
        points_risk=r.get("score.points.risk", int, minimum=0),
        points_elevated=r.get("score.points.elevated_risk", int, minimum=0),
        band_method=band_method,
        band_cut_points=_cut_points(r, band_method),
        band_within=one_of("bands.within", ("kind", "all")),
        zero_score_band=r.get("bands.zero_score_band", int, minimum=1, maximum=6),
        indicators_per_batch=r.get("batch.indicators_per_batch", int, minimum=1),
        history_periods=r.get("judgements.history_periods", int, minimum=1, optional=True),
        max_age_months=r.get("freshness.max_age_months", int, minimum=0, optional=True),
        score_out_of_date=r.get("freshness.score_out_of_date", bool),
        data_quality=packaged_rules(),
        engine=_engine_settings(r),
    )
    r.raise_if_any()
    return settings


def _engine_settings(r: FieldReader) -> EngineSettings:
    """Section ``engine`` (a file without one takes the packaged file's: it says where a pass runs, not
    how it judges, so older settings files keep working)."""
    if "engine" not in r.document:
        packaged_file = read_settings(None, default_settings_file(), SCHEMA_VERSION)
        r = FieldReader(packaged_file.source, packaged_file.document, problems=r.problems)
    e = r.section("engine")
    name = e.get("name", str, choices=ENGINES)
    master = e.get("spark.master", str)
    if master is not None and (problem := master_problem(master)):
        e.problem("spark.master", problem)
    conf = e.get("spark.conf", dict, default={})
    if conf is not None and not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in conf.items()
    ):
        e.problem("spark.conf", "must map Spark configuration names to values")
        conf = {}
    return EngineSettings(
        name=name,
        spark_master=master,
        spark_indicators_per_job=e.get("spark.indicators_per_job", int, minimum=1),
        spark_shuffle_partitions=e.get("spark.shuffle_partitions", int, minimum=1, optional=True),
        spark_arrow_batch_rows=e.get("spark.arrow_batch_rows", int, minimum=1),
        spark_executor_memory=e.get("spark.executor_memory", str, optional=True),
        spark_conf={str(k): _conf_text(v) for k, v in (conf or {}).items()},
    )


def _conf_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def master_problem(master: str) -> str | None:
    """Why ``master`` is not a Spark master URL carelens can use (None when it is)."""
    if master.startswith(MASTER_PREFIXES):
        return None
    return (
        f"must be a Spark master URL: local[N], spark://host:port, sc://host:port (Spark Connect), "
        f"k8s://https://host:port or yarn; got {master!r}"
    )


def _cut_points(r: FieldReader, band_method: str | None) -> tuple[float, ...]:
    """The 5 ascending cut-points between the 6 bands (quantiles in [0, 1] for the quantile method)."""
    cuts = r.get("bands.cut_points", list)
    if cuts is None:
        return ()
    numbers = all(isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in cuts)
    if not numbers or len(cuts) != 5 or list(cuts) != sorted(cuts):
        r.problem("bands.cut_points", f"must be 5 ascending numbers (6 bands), got {cuts!r}")
        return ()
    if band_method == "quantile" and not all(0 <= c <= 1 for c in cuts):
        r.problem("bands.cut_points", "quantiles must lie in [0, 1]")
    return tuple(float(c) for c in cuts)
