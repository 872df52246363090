"""`carelens monitor --engine spark` on a real standalone Spark cluster on loopback (a master and two
workers, separate JVMs started with pyspark's own ``spark-class``) stores the embedded engine's run to the
bit, inputs and results digests included, on a few thousand synthetic organisations with planted
deteriorations that the run finds.

Marked ``spark_cluster`` and run in CI (Java 17 and pyspark are part of the test install). Where a cluster
cannot be started the test FAILS when the ``CI`` environment variable is set and is skipped with the
reason elsewhere, as the PostgreSQL tests are. The cluster is stopped whatever happens: its processes'
groups (master, workers, executors and their Python workers) are killed when the module's tests end.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.ingest.synth import DEFAULT_CONFIG, write_synthetic
from carelens.monitor.loopback import ClusterError, LoopbackCluster, stopped_on_termination
from carelens.store.engine import create_engine
from carelens.store.schema_monitor import monitor_flag, monitor_org, monitor_run

ORGS, INDICATORS, MONTHS = 3_000, 6, 24
PLANTED_SHARE = 0.02  # 60 organisations per indicator deteriorate (the default plants 0.4%)
RECALL = 0.5


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must test the Spark engine on a cluster")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A standalone cluster: a master and two one-core workers on 127.0.0.1, stopped whatever happens."""
    cluster = LoopbackCluster(tmp_path_factory.mktemp("spark-standalone"), workers=2, cores=1, memory="1g")
    with stopped_on_termination():  # a CI job cancelled with SIGTERM still stops the cluster
        try:
            try:
                cluster.start()
            except ClusterError as exc:
                _unavailable(f"could not start a Spark cluster on loopback: {exc}")
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """A synthetic Parquet data set with 2% of organisations deteriorating on each indicator."""
    root = tmp_path_factory.mktemp("synthetic") / "planted"
    config = dataclasses.replace(DEFAULT_CONFIG, planted_share=PLANTED_SHARE)
    summary = write_synthetic(root, ORGS, INDICATORS, MONTHS, seed=5, config=config)
    assert summary.planted >= INDICATORS * 50
    return root


def _monitor(db: str, data: Path, *options: str) -> str:
    """`carelens monitor` as a user runs it: its own process, so a Spark driver of its own. Its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "carelens.cli", "monitor", "--db", db, "--parquet", str(data), *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stderr


def _table(db: str, table: sa.Table, run_id: int) -> pd.DataFrame:
    """A run's rows of ``table`` without the columns that name the run or compare it with the last one."""
    skip = {"run_id", "previous_flag", "previous_band", "previous_score", "change"}
    columns = [c for c in table.c if c.name not in skip]
    with create_engine(db).connect() as c:
        rows = c.execute(sa.select(*columns).where(table.c.run_id == run_id).order_by(*columns[:3])).all()
    return pd.DataFrame(rows, columns=[c.name for c in columns])


@pytest.mark.spark_cluster
def test_a_standalone_cluster_stores_the_embedded_run(standalone, planted, tmp_path):
    assert standalone.state()["aliveworkers"] == 2
    db = f"sqlite:///{tmp_path / 'store.db'}"
    spark_log = _monitor(db, planted, "--engine", "spark", "--spark-master", standalone.master_url)
    _monitor(db, planted, "--engine", "embedded")
    with create_engine(db).connect() as c:
        spark, embedded = c.execute(
            sa.select(monitor_run.c.source, monitor_run.c.inputs_digest, monitor_run.c.results_digest)
        ).all()
    assert spark.source == f"spark: parquet {planted}" and embedded.source == f"parquet {planted}"
    assert (spark.inputs_digest, spark.results_digest) == (embedded.inputs_digest, embedded.results_digest)
    for table in (monitor_flag, monitor_org):
        pd.testing.assert_frame_equal(_table(db, table, 1), _table(db, table, 2), check_exact=True)
    # the pass ran on the cluster, on both workers (a core each), not in a local session
    apps = [app for app in standalone.state()["completedapps"] if app["name"] == "carelens-monitor"]
    assert len(apps) == 1 and apps[0]["cores"] == 2
    assert f"{INDICATORS}/{INDICATORS} indicators" in spark_log  # progress as for the embedded pass
    # the deteriorations are found: not a comparison of two empty runs
    flags = _table(db, monitor_flag, 1)
    assert len(flags) == ORGS * INDICATORS
    found = flags["flag"].isin(["risk", "elevated risk"]) | flags["spc_alert"].astype(bool)
    deteriorating = pd.read_parquet(planted / "planted.parquet")[["indicator_id", "org_code"]]
    marked = flags.merge(deteriorating.assign(planted=1), on=["indicator_id", "org_code"], how="left")
    is_planted = marked["planted"].notna().to_numpy()
    assert is_planted.sum() == len(deteriorating)
    recall, false_alarms = found[is_planted].mean(), found[~is_planted].mean()
    assert recall > RECALL and recall > 3 * false_alarms, (recall, false_alarms)


def test_a_master_carelens_cannot_use_is_refused(tmp_path):
    """A master URL of a kind carelens does not run on is refused by name (exit 2), before any Spark."""
    db = f"sqlite:///{tmp_path / 'store.db'}"
    options = ["--db", db, "--engine", "spark", "--spark-master", "mesos://x:1"]
    done = subprocess.run(
        [sys.executable, "-m", "carelens.cli", "monitor", *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "must be a Spark master URL" in done.stderr and "mesos://x:1" in done.stderr


def test_spark_connect_without_its_client_is_refused_by_name():
    """Without the Spark Connect client (grpc not importable) an sc:// master is refused, naming what to
    install: never a local session in its place."""
    code = (
        "import sys; sys.modules['grpc'] = None\n"  # as if grpcio were not installed
        "from carelens.monitor.spark import spark_session\n"
        "spark_session('sc://127.0.0.1:1')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "pip install 'pyspark[connect]" in done.stderr and "engine.spark.master" in done.stderr
