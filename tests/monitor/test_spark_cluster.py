"""`carelens monitor --engine spark` on real Spark clusters on loopback gives the embedded engine's run to the
bit: a standalone cluster (a master and two workers, separate JVMs started with pyspark's own
``spark-class``) and a Spark Connect server (``sc://``), on a few thousand synthetic organisations with
and without planted deteriorations.

Runs in CI (Java 17 and pyspark[connect] are part of the test install). Where a cluster cannot be started
the test FAILS when the ``CI`` environment variable is set and is skipped with the reason elsewhere, as
the PostgreSQL tests are. The clusters are stopped whatever happens (their process groups are killed).
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
from carelens.monitor.loopback import ClusterError, ConnectServer, LoopbackCluster
from carelens.store.engine import create_engine
from carelens.store.schema_monitor import monitor_flag, monitor_run

ORGS, INDICATORS, MONTHS = 2_000, 6, 24
PLANTED_SHARE = 0.02  # 40 organisations per indicator deteriorate (the default plants 0.4%)
RECALL = 0.5


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must test the Spark engine on a cluster")
    pytest.skip(reason)


def _started(cluster: LoopbackCluster):
    try:
        cluster.start()
    except ClusterError as exc:
        cluster.stop()
        _unavailable(f"could not start a Spark cluster on loopback: {exc}")
    return cluster


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A standalone cluster: a master and two one-core workers on 127.0.0.1."""
    cluster = LoopbackCluster(tmp_path_factory.mktemp("spark-standalone"), workers=2, cores=1, memory="1g")
    try:
        yield _started(cluster)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two synthetic Parquet stores: one with no deterioration planted, one with 2% planted."""
    root = tmp_path_factory.mktemp("synthetic")
    steady = dataclasses.replace(DEFAULT_CONFIG, planted_share=0.0)
    planted = dataclasses.replace(DEFAULT_CONFIG, planted_share=PLANTED_SHARE)
    write_synthetic(root / "steady", ORGS, INDICATORS, MONTHS, seed=5, config=steady)
    summary = write_synthetic(root / "planted", ORGS, INDICATORS, MONTHS, seed=5, config=planted)
    assert summary.planted >= INDICATORS * 30
    return {"steady": root / "steady", "planted": root / "planted"}


def _monitor(db: str, data: Path, *options: str) -> None:
    """`carelens monitor` as a user runs it: its own process, so a Spark driver of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "carelens.cli", "monitor", "--db", db, "--parquet", str(data), *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]


def _runs(db: str) -> list:
    with create_engine(db).connect() as c:
        return c.execute(
            sa.select(
                monitor_run.c.id,
                monitor_run.c.source,
                monitor_run.c.inputs_digest,
                monitor_run.c.results_digest,
            ).order_by(monitor_run.c.id)
        ).all()


def _assert_same_run_on_both_engines(db: str, master: str, data: Path) -> None:
    _monitor(db, data, "--engine", "spark", "--spark-master", master)
    _monitor(db, data, "--engine", "embedded")
    spark, embedded = _runs(db)
    assert spark.source == f"spark: parquet {data}" and embedded.source == f"parquet {data}"
    assert (spark.inputs_digest, spark.results_digest) == (embedded.inputs_digest, embedded.results_digest)


@pytest.mark.spark_cluster
@pytest.mark.parametrize("store", ["steady", "planted"])
def test_a_standalone_cluster_gives_the_embedded_run(standalone, stores, store, tmp_path):
    assert standalone.state()["aliveworkers"] == 2
    db = f"sqlite:///{tmp_path / 'store.db'}"
    _assert_same_run_on_both_engines(db, standalone.master_url, stores[store])
    apps = standalone.state()["completedapps"]  # the pass ran on the cluster, not in a local session
    assert any(app["name"] == "carelens-monitor" for app in apps)
    with create_engine(db).connect() as c:
        flags = pd.DataFrame(
            c.execute(
                sa.select(
                    monitor_flag.c.indicator_id,
                    monitor_flag.c.org_code,
                    monitor_flag.c.flag,
                    monitor_flag.c.spc_alert,
                ).where(monitor_flag.c.run_id == 1)
            ).all()
        )
    assert len(flags) == ORGS * INDICATORS
    found = flags["flag"].isin(["risk", "elevated risk"]) | flags["spc_alert"].astype(bool)
    if store == "planted":  # the deteriorations are found: not a comparison of two empty runs
        planted = pd.read_parquet(stores[store] / "planted.parquet")[["indicator_id", "org_code"]]
        marked = flags.merge(planted.assign(planted=1), on=["indicator_id", "org_code"], how="left")
        is_planted = marked["planted"].notna().to_numpy()
        assert is_planted.sum() == len(planted)
        recall, false_alarms = found[is_planted].mean(), found[~is_planted].mean()
        assert recall > RECALL and recall > 3 * false_alarms, (recall, false_alarms)


@pytest.mark.spark_cluster
def test_spark_connect_gives_the_embedded_run(stores, tmp_path_factory, tmp_path):
    server = ConnectServer(tmp_path_factory.mktemp("spark-connect"), cores=2, memory="1g")
    try:
        _started(server)
        _assert_same_run_on_both_engines(
            f"sqlite:///{tmp_path / 'store.db'}", server.master_url, stores["planted"]
        )
    finally:
        server.stop()


def test_spark_connect_without_its_client_is_refused_by_name(tmp_path):
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


def test_a_master_carelens_cannot_use_is_refused(tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "carelens.cli",
            "monitor",
            "--db",
            db,
            "--engine",
            "spark",
            "--spark-master",
            "mesos://x:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "must be a Spark master URL" in done.stderr and "mesos://x:1" in done.stderr
