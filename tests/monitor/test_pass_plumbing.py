"""The plumbing around the monitoring kernel keeps a pass's figures and digests as they were: digests
hash each column once but give what ``pd.util.hash_pandas_object`` gives, text hashes the same as a
categorical of it, and the batches' flags are put together as categoricals without changing a value."""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import io
import itertools
import os

import numpy as np
import pandas as pd
import pytest

from carelens.ingest.synth import write_synthetic
from carelens.monitor.engines import (
    frame_digest,
    indicator_digests,
    keys_and_indicator_digests,
    row_hashes,
)
from carelens.monitor.inputs import parquet_inputs
from carelens.monitor.kernel import OUTPUT_COLUMNS, TEXT_COLUMNS
from carelens.monitor.service import compute_pass, stacked_flags
from carelens.monitor.settings import load_settings


def _mixed(text_as: str) -> pd.DataFrame:
    text = np.array(["b", "a", "", "b", "c é", "a"], dtype=object)
    column = {
        "object": pd.Series(text, dtype=object),
        "str": pd.Series(text, dtype="str"),
        "category": pd.Series(pd.Categorical(text, categories=["c é", "b", "a", "", "unused"])),
    }[text_as]
    return pd.DataFrame(
        {
            "indicator_id": column,
            "value": [1.5, np.nan, -0.0, 0.0, 2.0, 1e300],
            "count": np.arange(6, dtype=np.int64),
            "alert": [True, False, True, True, False, False],
            "period": [dt.date(2020, 1 + k, 1) for k in range(6)],
            "day": pd.to_datetime(["2020-01-01"] * 3 + ["2021-06-30"] * 3).astype("datetime64[s]"),
        }
    )


@pytest.mark.parametrize("text_as", ["object", "str", "category"])
def test_row_hashes_are_those_of_pandas(text_as):
    frame = _mixed(text_as)
    expected = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    np.testing.assert_array_equal(row_hashes(frame), expected)
    for columns in (["indicator_id"], ["value", "period"], list(frame.columns)[::-1]):
        np.testing.assert_array_equal(
            row_hashes(frame[columns]),
            pd.util.hash_pandas_object(frame[columns], index=False).to_numpy(),
        )


def test_text_and_its_categorical_have_the_same_digests():
    kinds = ("object", "str", "category")
    assert len({frame_digest(_mixed(kind)) for kind in kinds}) == 1
    by_text = {
        kind: _mixed(kind).sort_values("indicator_id", key=lambda s: s.astype(object)) for kind in kinds
    }
    assert len({tuple(indicator_digests(frame)) for frame in by_text.values()}) == 1


def test_keys_and_indicator_digests_are_those_of_each_frame():
    frame = _mixed("category").assign(org_code=list("xyzxyz"))
    frame = frame.sort_values("indicator_id", kind="stable", key=lambda s: s.astype(object))
    keys, per_indicator = keys_and_indicator_digests(frame)
    assert keys == frame_digest(frame[["indicator_id", "org_code"]])
    starts = [0, 1, 3, 5, 6]  # "", "a" x2, "b" x2, "c é": sorted by indicator
    assert per_indicator == [frame_digest(frame.iloc[a:b]) for a, b in itertools.pairwise(starts)]
    assert len(set(per_indicator)) == 4


def test_stacked_flags_are_categoricals_of_the_same_values():
    def part(indicator: str, orgs: list[str], method: str) -> pd.DataFrame:
        frame = pd.DataFrame({c: np.zeros(len(orgs)) for c in OUTPUT_COLUMNS})
        frame["period"] = [dt.date(2020, 1, 1)] * len(orgs)
        for name in TEXT_COLUMNS:
            frame[name] = pd.Categorical([name] * len(orgs))
        return frame.assign(
            indicator_id=pd.Categorical([indicator] * len(orgs)),
            org_code=pd.Categorical(orgs, categories=sorted(orgs, reverse=True)),
            method=method,  # text, as Spark gives it
        )

    parts = [part("i2", ["b", "a"], "one way"), part("i1", ["c", "a", "d"], "another way")]
    stacked = stacked_flags(parts)
    assert list(stacked.columns) == list(OUTPUT_COLUMNS)
    plain = pd.concat(parts, ignore_index=True)
    for name in TEXT_COLUMNS:
        assert isinstance(stacked[name].dtype, pd.CategoricalDtype)
        assert stacked[name].cat.categories.is_monotonic_increasing  # sorting codes sorts the text
        assert stacked[name].astype(object).tolist() == plain[name].astype(object).tolist()
    assert frame_digest(stacked) == frame_digest(plain.astype(dict.fromkeys(TEXT_COLUMNS, object)))
    assert stacked["org_code"].cat.categories.tolist() == ["a", "b", "c", "d"]


def test_batch_size_does_not_change_a_pass(tmp_path):
    write_synthetic(tmp_path, 150, 5, 24, seed=3)
    inputs = parquet_inputs(tmp_path)
    one = compute_pass(inputs, load_settings())
    three = compute_pass(inputs, dataclasses.replace(load_settings(), indicators_per_batch=3))
    assert one.results_digest == three.results_digest  # (the inputs digest is made batch by batch)
    pd.testing.assert_frame_equal(one.flags, three.flags)
    assert isinstance(one.flags["method"].dtype, pd.CategoricalDtype)
    assert one.flags["method"].cat.categories.size <= 5


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="glibc's allocator only")
def test_a_pass_keeps_freed_memory_for_numpy_and_arrow_alike_and_gives_it_back_after():
    # In a fresh interpreter, as the command line runs a pass: this one's allocator stays as it was.
    import subprocess
    import sys

    code = (
        "import pyarrow as pa\n"
        "from carelens.monitor.engines import kept_freed_memory\n"
        "before = pa.default_memory_pool().backend_name\n"
        "from carelens.monitor.engines import _numpy_huge_pages as huge\n"
        "with kept_freed_memory():\n"
        "    during = pa.default_memory_pool().backend_name\n"
        "    huge_during = huge(False)\n"
        "print(before, during, pa.default_memory_pool().backend_name, huge_during, huge(True))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, during, after, huge_during, huge_after = out.stdout.split()
    assert before != "system" and during == "system" and after == before
    assert (huge_during, huge_after) == ("False", "True")  # NumPy's default, off for the pass


def test_passes_at_once_keep_freed_memory_until_the_last_one_ends():
    import pyarrow as pa

    from carelens.monitor.engines import _glibc, kept_freed_memory

    if _glibc() is None:
        pytest.skip("glibc's allocator only")
    before = pa.default_memory_pool().backend_name
    with kept_freed_memory():
        with kept_freed_memory():
            assert pa.default_memory_pool().backend_name == "system"
        assert pa.default_memory_pool().backend_name == "system"  # the first pass still runs
    assert pa.default_memory_pool().backend_name == before


def test_batches_shared_with_workers_come_back_in_order_each_assessed_once():
    # The workers (here threads, slower than this one) take batches ahead; this process takes the
    # next one nobody has whenever the result due is not ready.
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from carelens.monitor.engines import shared_in_order

    batches = [[f"i{k:02d}"] for k in range(12)]
    where: dict[str, list[str]] = {}

    def work(batch, pause=0.0):
        time.sleep(pause)
        where.setdefault(batch[0], []).append(threading.current_thread().name)
        return batch[0]

    with ThreadPoolExecutor(1, thread_name_prefix="worker") as pool:
        got = list(shared_in_order(lambda b: pool.submit(work, b, 0.02), work, batches, 2))
    assert got == [b[0] for b in batches]
    assert all(len(threads) == 1 for threads in where.values()) and len(where) == len(batches)
    here = {k for k, threads in where.items() if not threads[0].startswith("worker")}
    assert here and len(here) < len(batches)


def test_a_failed_batch_stops_the_pass_and_cancels_what_no_worker_has_started():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from carelens.monitor.engines import shared_in_order

    started = []

    def work(batch):
        started.append(batch[0])
        if batch[0] == "i02":
            raise ValueError("bad batch")
        return batch[0]

    busy = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(busy.wait, 30)  # the worker is busy: i00 and i01 wait there, i02 is taken here
        with pytest.raises(ValueError, match="bad batch"):
            list(shared_in_order(lambda b: pool.submit(work, b), work, [[f"i{k:02d}"] for k in range(6)], 2))
        busy.set()
    assert started == ["i02"]


@pytest.mark.parametrize("workers", [2, 3])
def test_a_pass_shared_with_workers_reads_in_threads_again_after(tmp_path, workers):
    from carelens.monitor import inputs as inputs_module

    write_synthetic(tmp_path, 80, 5, 6, seed=2)
    inputs = parquet_inputs(tmp_path)
    alone = compute_pass(inputs, load_settings())
    shared = compute_pass(inputs, load_settings(), workers=workers)
    assert shared.results_digest == alone.results_digest and shared.inputs_digest == alone.inputs_digest
    assert inputs_module.read_threads(True) is True  # the setting as it was before the pass


def test_reads_of_one_set_of_organisations_share_one_type_and_peer_labels_are_each_organisations(tmp_path):
    # Reads give the same categorical type while the files' organisations are the same, so what is
    # learnt of 50,000 codes is kept; a store whose files hold other organisations gets its own. Peer
    # labels, kept between reads, are each organisation's own under each indicator's rule.
    from carelens.monitor.inputs import attach_peer_groups

    write_synthetic(tmp_path, 60, 4, 6, seed=5)
    inputs = parquet_inputs(tmp_path)
    comparisons = inputs.comparisons(load_settings())
    ids = sorted(inputs.indicators)
    first, second = (inputs.reader.read([i], None, None) for i in ids[:2])
    assert first["org_code"].dtype is second["org_code"].dtype
    organisations = inputs.organisations.set_index("code")
    rule = {"national": None, "org_kind": "peer_kind", "region": "region", "commissioner": "commissioner"}
    for indicator_id in ids:
        frame = inputs.reader.read([indicator_id], None, None).iloc[::7]  # fewer organisations than read
        labelled = attach_peer_groups(frame, inputs.organisations, comparisons)
        column = rule[comparisons[indicator_id].peer_group]
        expected = [
            "England" if column is None else organisations.at[code, column] for code in frame["org_code"]
        ]
        assert labelled["peer_group"].astype(object).tolist() == expected
    other = tmp_path / "other"
    write_synthetic(other, 40, 2, 6, seed=6)
    third = parquet_inputs(other).reader.read(ids[:1], None, None)
    assert third["org_code"].dtype is not first["org_code"].dtype
    assert set(third["org_code"].astype(object)) <= set(parquet_inputs(other).organisations["code"])


def test_parquet_inputs_read_the_packaged_indicator_files_once(tmp_path, monkeypatch):
    # Parsing the YAML files is most of the time a pass spends before its workers start.
    from carelens.monitor import inputs as inputs_module

    calls = []
    real = inputs_module.load_indicators
    monkeypatch.setattr(inputs_module, "load_indicators", lambda *a, **k: calls.append(a) or real(*a, **k))
    write_synthetic(tmp_path, 20, 2, 6, seed=7)
    inputs = parquet_inputs(tmp_path)
    assert len(calls) == 1
    assert sorted(inputs.indicators) == ["synth_001", "synth_002"]


def test_a_result_left_in_a_file_comes_back_the_same_writable_and_aligned(tmp_path):
    from carelens.monitor.engines import ALIGNMENT, AssessedBatch, InFile, left_in_file, taken_back

    flags = pd.DataFrame(
        {
            "org_code": pd.Categorical(["b", "a", "b"]),
            "alert": np.array([True, False, True]),  # 3 bytes: the next array is padded to ALIGNMENT
            "z": [1.5, np.nan, -0.0],
            "n": np.arange(3, dtype=np.int64),
        }
    )
    result = AssessedBatch(
        3, flags, flags.iloc[:2].copy(), 2, {"x": (dt.date(2024, 1, 1), 1)}, "k", ["f"], ["j"]
    )
    sent = left_in_file(result, tmp_path)
    assert isinstance(sent, InFile) and sent.path.parent == tmp_path and len(sent.pickled) < 2000
    back = taken_back(sent)
    assert not sent.path.exists()  # mapped, then removed
    pd.testing.assert_frame_equal(back.flags, flags)
    pd.testing.assert_frame_equal(back.judgements, result.judgements)
    assert (back.observations, back.judged_periods, back.flag_digests) == (3, result.judged_periods, ["f"])
    names = back.flags.columns.tolist()
    for name in ("z", "n"):
        assert back.flags._get_column_array(names.index(name)).ctypes.data % ALIGNMENT == 0
    back.flags.loc[1, "z"] = 2.0  # in place: the mapped pages are this process's own copy
    assert back.flags["z"].tolist()[1] == 2.0
    assert taken_back(result) is result  # sent whole: as it is


def test_a_result_that_cannot_be_left_in_a_file_is_sent_whole(tmp_path):
    from carelens.monitor.engines import AssessedBatch, left_in_file

    result = AssessedBatch(1, pd.DataFrame({"z": [1.0]}))
    assert left_in_file(result, tmp_path / "gone") is result  # no folder

    class Full(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdopen", lambda fd, *args, **kwargs: Full(fd, "wb"))
        assert left_in_file(result, tmp_path) is result  # a full folder
    assert not list(tmp_path.iterdir())  # nothing left of the file


def test_a_pass_shared_with_workers_leaves_no_result_files(tmp_path, monkeypatch):
    from carelens.monitor import engines

    monkeypatch.setattr(engines, "MEMORY_FOLDER", tmp_path / "memory")
    (tmp_path / "memory").mkdir()
    write_synthetic(tmp_path / "data", 60, 4, 6, seed=4)
    inputs = parquet_inputs(tmp_path / "data")
    seen = []
    taken_back = engines.taken_back
    monkeypatch.setattr(
        engines, "taken_back", lambda sent: seen.append(type(sent).__name__) or taken_back(sent)
    )
    shared = compute_pass(inputs, load_settings(), workers=2)
    assert shared.results_digest == compute_pass(inputs, load_settings()).results_digest
    assert "InFile" in seen  # the worker's results came through the folder ...
    assert not list((tmp_path / "memory").iterdir())  # ... which is gone with everything in it


def test_text_columns_of_the_same_labels_share_one_categorical_type():
    # Made once, not once a batch: checking labels are unique cost more than the codes.
    from carelens.monitor import kernel

    one = kernel._text(["b", "a", "b", "c"], np.array([0, 1, 2, 2, 3]))
    two = kernel._text(["b", "a", "b", "c"], np.array([3, 3]))
    assert one.dtype is two.dtype and one.categories.tolist() == ["a", "b", "c"]
    assert one.tolist() == ["b", "a", "b", "b", "c"] and two.tolist() == ["c", "c"]
    names = pd.Index(["x", "y"], dtype=object)
    assert (
        kernel._text(names, np.array([1]), sorted_unique=True).dtype
        is kernel._text(names, np.array([0]), True).dtype
    )
