"""The Parquet observation store: atomic writes, DuckDB and pyarrow read-back, settings, bad input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from carelens.errors import InputError
from carelens.model.observations import OBSERVATION_SCHEMA
from carelens.store import parquet as parquet_store
from carelens.store.parquet import FILE_SCHEMA, DuckDBSettings, ObservationStore, ParquetSettings

KEYS = [("indicator_id", "ascending"), ("org_code", "ascending"), ("period", "ascending")]


def observations(indicators=("ind_a", "ind_b"), orgs=3, months=4, seed=0) -> pa.Table:
    """A small canonical observation table, rows by indicator, organisation, month."""
    rng = np.random.default_rng(seed)
    n = len(indicators) * orgs * months
    periods = (np.datetime64("2021-01", "M") + np.arange(months)).astype("datetime64[D]")
    denominator = rng.integers(10, 100, n).astype(float)
    numerator = np.floor(denominator * rng.random(n))
    return pa.Table.from_arrays(
        [
            pa.array(np.repeat(indicators, orgs * months)),
            pa.array(np.tile(np.repeat([f"ORG{i}" for i in range(orgs)], months), len(indicators))),
            pa.array(np.tile(periods, len(indicators) * orgs), pa.date32()),
            pa.array(numerator),
            pa.array(denominator),
            pa.nulls(n, pa.float64()),
            pa.array(numerator / denominator),
        ],
        schema=OBSERVATION_SCHEMA,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the store (except the lock file) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def store(tmp_path: Path) -> ObservationStore:
    return ObservationStore(tmp_path / "obs", parquet=ParquetSettings(fsync=False))


def test_write_then_read_back_equals_what_was_written(store: ObservationStore) -> None:
    table = observations()
    assert store.write(table) == 24
    assert store.indicators() == ["ind_a", "ind_b"]
    assert [p.relative_to(store.root).as_posix() for p in store.files()] == [
        "indicator_id=ind_a/part-000000.parquet",
        "indicator_id=ind_b/part-000000.parquet",
    ]
    # The partition column lives in the directory name only.
    assert pq.read_schema(store.files()[0]).names == FILE_SCHEMA.names
    assert store.read().equals(table.sort_by(KEYS))
    assert store.read().schema == OBSERVATION_SCHEMA
    assert store.read_partition("ind_b").equals(table.slice(12, 12))


def test_files_are_lz4_by_default_and_a_store_of_mixed_codecs_reads_as_one(tmp_path: Path) -> None:
    # A store written before LZ4 became the default (zstd), then added to: one table, as written.
    root = tmp_path / "obs"
    first, second = observations(seed=1), observations(indicators=("ind_c",), seed=2)
    ObservationStore(root, parquet=ParquetSettings(compression="zstd", fsync=False)).write(first)
    store = ObservationStore(root, parquet=ParquetSettings(fsync=False))
    store.write(second)
    codecs = {
        path.parent.name: pq.ParquetFile(path).metadata.row_group(0).column(0).compression
        for path in store.files()
    }
    assert codecs == {"indicator_id=ind_a": "ZSTD", "indicator_id=ind_b": "ZSTD", "indicator_id=ind_c": "LZ4"}
    assert store.read().equals(pa.concat_tables([first, second]).sort_by(KEYS))


def test_read_filters_by_indicator_organisation_and_period(store: ObservationStore) -> None:
    table = observations(indicators=("ind_a", "ind_b", "ind_c"), orgs=4, months=6)
    store.write(table)
    got = store.read(
        indicator_ids=["ind_c", "ind_a", "not_there"],
        org_codes=["ORG1", "ORG3"],
        period_from=date(2021, 2, 1),
        period_to=date(2021, 4, 1),
        columns=["indicator_id", "org_code", "period", "value"],
    )
    wanted = table.filter(
        pc.is_in(pc.field("indicator_id"), pa.array(["ind_a", "ind_c"]))
        & pc.is_in(pc.field("org_code"), pa.array(["ORG1", "ORG3"]))
        & (pc.field("period") >= pa.scalar(date(2021, 2, 1)))
        & (pc.field("period") <= pa.scalar(date(2021, 4, 1)))
    )
    assert got.num_rows == 2 * 2 * 3
    assert got.equals(wanted.sort_by(KEYS).select(["indicator_id", "org_code", "period", "value"]))
    assert store.read(indicator_ids=["not_there"]).num_rows == 0


def test_empty_store_reads_as_empty_tables(tmp_path: Path) -> None:
    store = ObservationStore(tmp_path / "nothing")
    assert store.indicators() == []
    empty = store.read()
    assert empty.num_rows == 0 and empty.schema == OBSERVATION_SCHEMA
    assert store.read_partition("ind_a").schema == OBSERVATION_SCHEMA
    assert list(store.iter_partitions()) == []


def test_iter_partitions_bounds_batches_to_a_few_indicators(store: ObservationStore) -> None:
    table = observations(indicators=("ind_a", "ind_b", "ind_c"))
    store.write(table)
    batches = list(store.iter_partitions(partitions_per_batch=2))
    assert [b.num_rows for b in batches] == [24, 12]
    assert [pc.unique(b["indicator_id"]).to_pylist() for b in batches] == [["ind_a", "ind_b"], ["ind_c"]]
    assert pa.concat_tables(batches).equals(table)


def test_append_adds_files_and_replace_swaps_only_the_partitions_written(store: ObservationStore) -> None:
    first = observations(seed=1)
    store.write(first)
    store.write(observations(indicators=("ind_a",), seed=2))
    assert [p.name for p in store.files(["ind_a"])] == ["part-000000.parquet", "part-000001.parquet"]
    assert store.read(indicator_ids=["ind_a"]).num_rows == 24
    untouched = store.files(["ind_b"])[0].read_bytes()

    replacement = observations(indicators=("ind_a",), seed=3)
    store.write(replacement, mode="replace")
    assert [p.name for p in store.files(["ind_a"])] == ["part-000000.parquet"]
    assert store.read_partition("ind_a").equals(replacement)
    assert store.files(["ind_b"])[0].read_bytes() == untouched
    assert not list(store.root.glob(".staging-*"))


def test_a_stream_of_tables_is_one_write_and_a_failure_leaves_the_dataset_unchanged(
    store: ObservationStore,
) -> None:
    store.write(observations(seed=1))
    before = snapshot(store.root)

    def batches():
        yield observations(indicators=("ind_a",), seed=2)
        yield observations(indicators=("ind_c",), seed=3)
        raise RuntimeError("source went away mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        store.write(batches())
    assert snapshot(store.root) == before
    assert not list(store.root.glob(".staging-*"))
    assert store.indicators() == ["ind_a", "ind_b"]


def test_a_failure_during_the_renames_is_rolled_back(store: ObservationStore, monkeypatch) -> None:
    store.write(observations(seed=1))
    before = snapshot(store.root)
    renames = {"count": 0}
    real_rename = parquet_store._rename

    def failing_rename(source: Path, target: Path) -> None:
        renames["count"] += 1
        if renames["count"] == 4:  # journal, old ind_a out, new ind_a in, then fail on ind_b
            raise OSError("disk full")
        real_rename(source, target)

    monkeypatch.setattr(parquet_store, "_rename", failing_rename)
    with pytest.raises(OSError, match="disk full"):
        store.write(observations(indicators=("ind_a", "ind_b", "ind_c"), seed=2), mode="replace")
    assert renames["count"] > 4  # the rollback renamed files back
    monkeypatch.setattr(parquet_store, "_rename", real_rename)
    assert snapshot(store.root) == before
    assert not list(store.root.glob(".staging-*"))
    assert store.indicators() == ["ind_a", "ind_b"]


def test_bad_input_is_rejected_with_every_problem_and_nothing_written(store: ObservationStore) -> None:
    store.write(observations(seed=1))
    before = snapshot(store.root)
    table = observations(seed=2)
    with pytest.raises(InputError) as missing:
        store.write(table.drop_columns(["value", "period"]))
    assert {(p.field, p.reason) for p in missing.value.problems} == {
        ("period", "required column is missing"),
        ("value", "required column is missing"),
    }
    org_codes = table["org_code"].to_pylist()
    org_codes[4] = None
    with pytest.raises(InputError) as null_key:
        store.write(table.set_column(1, "org_code", pa.array(org_codes, pa.string())))
    assert [(p.row, p.field) for p in null_key.value.problems] == [(5, "org_code")]
    ids = table["indicator_id"].to_pylist()
    ids[0] = "../escape"
    with pytest.raises(InputError, match="may use only letters"):
        store.write(table.set_column(0, "indicator_id", pa.array(ids)))
    assert snapshot(store.root) == before


def test_duckdb_uses_the_configured_threads_memory_and_temp_directory(tmp_path: Path) -> None:
    settings = DuckDBSettings(threads=1, memory_limit="256MB", temp_directory=str(tmp_path / "spill"))
    store = ObservationStore(tmp_path / "obs", duckdb=settings)
    store.write(observations())
    with store.connect() as connection:
        threads, memory, temp = connection.execute(
            "SELECT current_setting('threads'), current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
        assert connection.execute("SELECT count(*) FROM observations").fetchone() == (24,)
    assert threads == 1
    assert memory == "244.1 MiB"  # DuckDB reports 256 MB (10^6 bytes) in MiB
    assert temp == str(tmp_path / "spill")


def _run_and_die(root: Path, patch: str) -> subprocess.CompletedProcess:
    """Run a write in a child process that is killed (os._exit) at the point ``patch`` sets up."""
    script = textwrap.dedent(
        f"""
        import os
        import numpy as np, pyarrow as pa
        from carelens.store import parquet as parquet_store
        from carelens.store.parquet import ObservationStore
        sys_path_tests = {str(Path(__file__).parent)!r}
        import sys; sys.path.insert(0, sys_path_tests)
        from test_parquet_store import observations
        {patch}
        ObservationStore({str(root)!r}).write(observations(indicators=("ind_a", "ind_c"), seed=2), mode="replace")
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_a_write_killed_after_its_journal_is_completed_on_next_open(tmp_path: Path) -> None:
    root = tmp_path / "obs"
    ObservationStore(root).write(observations(seed=1))
    patch = """
        calls = []
        real = parquet_store._rename
        def dying(source, target):
            calls.append(source)
            if len(calls) == 3:  # after the journal and moving the old ind_a away
                os._exit(9)
            real(source, target)
        parquet_store._rename = dying
    """
    result = _run_and_die(root, patch)
    assert result.returncode == 9, result.stderr
    assert list(root.glob(".staging-*/journal.json"))  # the crash left a committed journal
    store = ObservationStore(root)  # opening rolls the write forward
    assert not list(root.glob(".staging-*"))
    assert store.indicators() == ["ind_a", "ind_b", "ind_c"]
    expected = observations(indicators=("ind_a", "ind_c"), seed=2)
    assert store.read_partition("ind_a").equals(expected.slice(0, 12))
    assert store.read_partition("ind_c").equals(expected.slice(12, 12))
    assert store.read_partition("ind_b").equals(observations(seed=1).slice(12, 12))


def test_a_write_killed_while_staging_leaves_the_dataset_as_it_was(tmp_path: Path) -> None:
    root = tmp_path / "obs"
    ObservationStore(root).write(observations(seed=1))
    before = snapshot(root)
    patch = """
        real = ObservationStore._write_file
        def dying(self, table, path):
            real(self, table, path)
            os._exit(9)  # killed after the first staged file
        ObservationStore._write_file = dying
    """
    result = _run_and_die(root, patch)
    assert result.returncode == 9, result.stderr
    assert list(root.glob(".staging-*"))  # debris of the killed write, never read
    assert ObservationStore(root).read().equals(observations(seed=1).sort_by(KEYS))
    assert not list(root.glob(".staging-*"))  # cleaned up on open
    assert snapshot(root) == before
