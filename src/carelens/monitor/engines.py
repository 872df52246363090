"""Monitoring engines: what assesses a pass's batches of indicators with the kernel
(:func:`carelens.monitor.kernel.assess_all`). The embedded engine (NumPy, here or in worker processes)
is here; the Spark engine (:mod:`carelens.monitor.spark`) implements the same :class:`Engine`, so a
pass is orchestrated once (:func:`carelens.monitor.service.compute_pass`) and gives the same run on
either (docs/design.md, "Compute")."""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from carelens.monitor.comparison import Comparison
from carelens.monitor.inputs import Inputs, attach_peer_groups, read_threads
from carelens.monitor.kernel import assess_all
from carelens.monitor.settings import ENGINES, EngineSettings, MonitorSettings

SPILL_ROWS = 50_000
"""Judgements of a batch from this many rows on are written to a temporary file where they are made
(a worker process), instead of being kept in memory and sent back: at national scale (50,000
organisations x 100 indicators) each period judged adds 5 million rows, more than memory should hold,
while a small pass's few thousand rows cost more to write than to keep."""


class JudgementParts:
    """A pass's judgements, one part per batch of indicators: small parts in memory, large ones (at least
    :data:`SPILL_ROWS` rows) in temporary Arrow files, so a national pass holds one part at a time. The
    files go when this object does."""

    def __init__(self) -> None:
        import tempfile

        self._folder = tempfile.TemporaryDirectory(prefix="carelens-judgements-")
        self.folder = Path(self._folder.name)
        self.parts: list[pd.DataFrame | Path] = []
        self.rows = 0

    @staticmethod
    def keep(frame: pd.DataFrame, folder: Path, name: str) -> pd.DataFrame | Path:
        """``frame`` as it is, or written into ``folder`` (lz4-compressed Arrow IPC) when it is large."""
        if len(frame) < SPILL_ROWS:
            return frame
        path = folder / f"{name}.arrow"
        frame.reset_index(drop=True).to_feather(path, compression="lz4")
        return path

    def add(self, part: pd.DataFrame | Path, rows: int) -> None:
        self.parts.append(part)
        self.rows += rows

    def add_frame(self, frame: pd.DataFrame) -> None:
        self.add(self.keep(frame, self.folder, f"part-{len(self.parts):06d}"), len(frame))

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for part in self.parts:
            yield pd.read_feather(part) if isinstance(part, Path) else part

    def __len__(self) -> int:
        return len(self.parts)


def frame_digest(*frames: pd.DataFrame) -> str:
    """SHA-256 of the contents of frames (values and column names, in order)."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(json.dumps(list(map(str, frame.columns))).encode())
        if len(frame):
            digest.update(row_hashes(frame).tobytes())
    return digest.hexdigest()


_Fold = tuple[Callable[..., None], tuple]
"""A column ready to fold into row hashes: a loop of :mod:`carelens.monitor.hash_loops` and its
arguments before the row hashes and the multiplier."""


def column_folds(frame: pd.DataFrame) -> list[_Fold]:
    """Each column of ``frame`` ready to be hashed as ``pd.util.hash_array`` hashes it and folded into
    its rows' hashes (:func:`fold_rows`). Numbers, booleans, dates and times and categoricals are hashed
    by compiled loops (a categorical's categories by pandas, once each), anything else by pandas: text
    hashes the same as text or as a categorical of it."""
    from carelens.monitor import hash_loops  # numba: slow to import, so not with the command line

    folds: list[_Fold] = []
    for i in range(frame.shape[1]):
        # The column's array without a Series around it (``frame.items()`` costs more than the hashing).
        values = frame._get_column_array(i)
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            # As pandas hashes a categorical: its categories' values, then each row's by its code.
            table = category_hashes(np.asarray(dtype.categories.array))
            folds.append((hash_loops.fold_codes, (values.codes, table)))
            continue
        if isinstance(values, np.ndarray) and dtype.kind in "fbiumM" and dtype.itemsize in (1, 2, 4, 8):
            bits = values.view(f"u{dtype.itemsize}")
            if dtype.kind != "f":
                folds.append((hash_loops.fold_bits, (bits,)))
                continue
            if dtype.itemsize in (4, 8):  # not float16: compiled loops have no such type
                nan_bits = np.uint64(np.array(np.nan, dtype=dtype).view(bits.dtype))
                folds.append((hash_loops.fold_floats, (values, bits, nan_bits)))
                continue
        folds.append((hash_loops.fold_hashed, (pd.util.hash_array(values),)))
    return folds


_KNOWN_CATEGORIES: list[tuple[np.ndarray, np.ndarray]] = []
"""The last few long lists of text categories hashed and their hashes (:func:`category_hashes`)."""
KNOWN_CATEGORIES = 4
LONG_CATEGORIES = 256


def category_hashes(categories: np.ndarray) -> np.ndarray:
    """``pd.util.hash_array(categories, categorize=False)``: how pandas hashes a categorical's categories.
    A pass's batches and their flags and judgements have the same organisations as categories, each time
    a new array, so long lists of text are kept with their hashes and found again by comparing the text
    (a tenth of the cost of hashing it): a list is found only if every value is text equal to the kept
    one's, and text hashes by its characters alone."""
    if len(categories) < LONG_CATEGORIES or categories.dtype != object:
        return pd.util.hash_array(categories, categorize=False)
    if pd.api.types.infer_dtype(categories, skipna=False) == "string":
        for i, (known, hashes) in enumerate(_KNOWN_CATEGORIES):
            if len(known) == len(categories) and np.array_equal(known, categories):
                _KNOWN_CATEGORIES.insert(0, _KNOWN_CATEGORIES.pop(i))
                return hashes
        hashes = pd.util.hash_array(categories, categorize=False)
        _KNOWN_CATEGORIES.insert(0, (categories.copy(), hashes))  # kept as it is now
        del _KNOWN_CATEGORIES[KNOWN_CATEGORIES:]
        return hashes
    return pd.util.hash_array(categories, categorize=False)


def fold_rows(folds: list[_Fold], rows: int) -> np.ndarray:
    """Each row's hash from its columns' :func:`column_folds`, combined like a tuple's hash as ``pd.util.
    hash_pandas_object(frame, index=False)`` combines them, one compiled loop over the rows per column."""
    out = np.full(rows, 0x345678, dtype=np.uint64)
    multiplier = 1000003
    for i, (fold, arguments) in enumerate(folds):
        fold(out, *arguments, np.uint64(multiplier))
        multiplier = (multiplier + 82520 + 2 * (len(folds) - i)) % 2**64
    out += np.uint64(97531)
    return out


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """Each row's hash: exactly ``pd.util.hash_pandas_object(frame, index=False)``, by compiled loops."""
    return fold_rows(column_folds(frame), len(frame))


def indicator_digests(flags: pd.DataFrame, folds: list[_Fold] | None = None) -> list[str]:
    """:func:`frame_digest` of each indicator's rows of an assessed table (rows sorted by indicator), in
    order. A pass's results digest is built from these, so each batch (or Spark partition) can hash its
    own rows where it is assessed, whatever the batches are. Rows hash on their own, so the whole table
    is hashed at once (``folds``: its :func:`column_folds` when known) and cut by indicator."""
    if not len(flags):
        return []
    rows = fold_rows(column_folds(flags) if folds is None else folds, len(flags))
    header = json.dumps(list(map(str, flags.columns.tolist()))).encode()
    indicators = flags["indicator_id"]
    if isinstance(indicators.dtype, pd.CategoricalDtype):
        codes = indicators.array.codes  # equal values, equal codes: no need to hash every row
    else:
        codes, _ = pd.factorize(indicators)
    starts = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), len(flags)]
    return [hashlib.sha256(header + rows[a:b].tobytes()).hexdigest() for a, b in itertools.pairwise(starts)]


def keys_and_indicator_digests(flags: pd.DataFrame) -> tuple[str, list[str]]:
    """:func:`frame_digest` of the (indicator, organisation) pairs of an assessed table and its
    :func:`indicator_digests`, hashing each column once."""
    if not len(flags):
        return frame_digest(flags[["indicator_id", "org_code"]]), []
    folds = column_folds(flags)
    names = flags.columns.tolist()  # a list: the Index's own look-up builds a hash table per table
    keys = [folds[names.index(name)] for name in ("indicator_id", "org_code")]
    digest = hashlib.sha256(json.dumps(["indicator_id", "org_code"]).encode())
    digest.update(fold_rows(keys, len(flags)).tobytes())
    return digest.hexdigest(), indicator_digests(flags, folds)


def judged_periods(judgements: pd.DataFrame) -> dict[str, tuple[dt.date, int]]:
    """Each indicator's first judged period and number of judged periods in a part of judgements."""
    if judgements.empty:
        return {}
    summary = judgements.groupby("indicator_id", sort=True, observed=True)["period"].agg(["min", "nunique"])
    return {str(k): (pd.Timestamp(v["min"]).date(), int(v["nunique"])) for k, v in summary.iterrows()}


@dataclass(frozen=True)
class AssessedBatch:
    """What :func:`assess_batch` sends back: the batch's assessed rows and their digests, hashed where
    they were computed (in a worker process when there are several)."""

    observations: int
    flags: pd.DataFrame | None
    judgements: pd.DataFrame | Path | None = None
    """The batch's judgements, or the file they were written to (:meth:`JudgementParts.keep`)."""
    judgement_rows: int = 0
    judged_periods: dict = field(default_factory=dict)
    """:func:`judged_periods` of the batch's judgements."""
    keys_digest: str = ""
    """:func:`frame_digest` of the (indicator, organisation) pairs assessed (part of the inputs digest)."""
    flag_digests: list[str] = field(default_factory=list)
    """:func:`indicator_digests` of the assessed rows."""
    judgement_digests: list[str] = field(default_factory=list)
    """:func:`indicator_digests` of the judgements."""


def assess_batch(
    inputs: Inputs,
    comparisons: dict[str, Comparison],
    settings: MonitorSettings,
    period_from: dt.date | None,
    period_to: dt.date | None,
    spill: Path,
    batch: list[str],
) -> AssessedBatch:
    """Read one batch of indicators and assess it; large judgements are written into folder ``spill``."""
    frame = inputs.reader.read(batch, period_from, period_to)
    if not len(frame):
        return AssessedBatch(0, None)
    observations = len(frame)
    frame = attach_peer_groups(frame, inputs.organisations, comparisons)
    assessed = assess_all(frame, comparisons, settings)
    del frame
    judgements = assessed.judgements
    keys_digest, flag_digests = keys_and_indicator_digests(assessed.flags)
    return AssessedBatch(
        observations=observations,
        flags=assessed.flags,
        judgements=JudgementParts.keep(judgements, spill, f"batch-{batch[0]}"),
        judgement_rows=len(judgements),
        judged_periods=assessed.judged_periods,
        keys_digest=keys_digest,
        flag_digests=flag_digests,
        judgement_digests=indicator_digests(judgements),
    )


@dataclass(frozen=True)
class PassJob:
    """What an engine assesses: the pass's inputs, how each indicator is compared, its settings and
    period bounds, the batches of indicators in order, and the folder for large judgements."""

    inputs: Inputs
    comparisons: dict[str, Comparison]
    settings: MonitorSettings
    period_from: dt.date | None
    period_to: dt.date | None
    batches: list[list[str]]
    spill: Path


class Engine(Protocol):
    """Assesses a pass's batches of indicators: one :class:`AssessedBatch` per batch, in the job's
    order. Everything else of a pass (the inputs digest, scoring and bands, out-of-date indicators, the
    stored run) is built once from these by :func:`carelens.monitor.service.compute_pass`, whatever
    the engine, so engines give the same run to the bit."""

    name: str

    def assess(self, job: PassJob) -> Iterator[AssessedBatch]: ...  # pragma: no cover - interface


@dataclass(frozen=True)
class EmbeddedEngine:
    """The monitoring kernel in ``workers`` processes in all (one per core is the most that helps): this
    one alone, or this one and ``workers - 1`` forked from it when the inputs can be read from another
    process (a Parquet store). The results are the same whatever the number of workers."""

    workers: int = 1
    name: str = "embedded"

    def assess(self, job: PassJob) -> Iterator[AssessedBatch]:
        work = functools.partial(
            assess_batch, job.inputs, job.comparisons, job.settings, job.period_from, job.period_to, job.spill
        )
        if self.workers <= 1 or len(job.batches) <= 1 or not job.inputs.reader.processes:
            with kept_freed_memory():
                yield from map(work, job.batches)
            return
        # Batches are independent, so processes can share them out. "fork" (where there is one) starts a
        # worker without importing anything again; a worker only reads Parquet files and runs NumPy kernels.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        if "fork" in methods:
            load_compiled_loops()
        # This process assesses batches too, between taking in the workers' results: every result sent
        # back costs both sides copies, so one process fewer sending them is less CPU (docs/scale.md).
        # Forked workers inherit these settings; the inputs (organisations, indicator definitions) go to
        # each worker once, when it starts, and each task then carries only its batch's indicator ids.
        before = read_threads(False)
        try:
            with (
                kept_freed_memory(),
                _results_folder() as folder,
                ProcessPoolExecutor(
                    min(self.workers - 1, len(job.batches)),
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=(work, folder),
                ) as pool,
            ):
                shared = shared_in_order(
                    functools.partial(pool.submit, _work_in_worker),
                    work,
                    job.batches,
                    BATCHES_AHEAD * (self.workers - 1),
                )
                yield from map(taken_back, shared)
        finally:
            read_threads(before)


BATCHES_AHEAD = 2
"""Batches handed to each worker process ahead of time, so that it never waits for its next one (one
more than it is running; more changed nothing at 1/10 national scale, fewer left workers idle)."""


def shared_in_order(
    submit: Callable[[list[str]], Future],
    work: Callable[[list[str]], AssessedBatch],
    batches: list[list[str]],
    ahead: int,
) -> Iterator[AssessedBatch]:
    """Each batch's result in the batches' order, the batches shared between workers (``submit``, at most
    ``ahead`` of them handed over and not done) and this process (``work``), which takes the next batch
    nobody has taken whenever the result due is not ready. Batches handed over but not started are
    cancelled if the results stop being taken (an error, here or in a worker)."""
    handed: dict[int, Future] = {}
    done_here: dict[int, AssessedBatch] = {}
    taken = 0

    def hand_over() -> None:
        nonlocal taken
        while taken < len(batches) and sum(not future.done() for future in handed.values()) < ahead:
            handed[taken] = submit(batches[taken])
            taken += 1

    try:
        for due in range(len(batches)):
            hand_over()
            if due in done_here:
                yield done_here.pop(due)
                continue
            future = handed[due]
            while not future.done() and taken < len(batches):
                done_here[taken] = work(batches[taken])
                taken += 1
                hand_over()
            yield handed.pop(due).result()
    finally:
        for future in handed.values():
            future.cancel()


@contextmanager
def engine_for(
    settings: EngineSettings,
    engine: Engine | str | None = None,
    spark_master: str | None = None,
    workers: int = 1,
) -> Iterator[Engine]:
    """The engine a pass runs on: ``engine`` itself when one is given, else the one named ``engine``
    (default ``settings.name``): Spark on ``spark_master`` (default ``settings.spark_master``), or the
    embedded engine with ``workers`` processes. A Spark session started here is stopped when the block
    ends, whatever happens."""
    from carelens.errors import InputError, Problem

    if engine is not None and not isinstance(engine, str):
        yield engine
        return
    name = engine or settings.name
    if name not in ENGINES:
        raise InputError(
            Problem("engine", None, "engine.name", f"must be {' or '.join(ENGINES)}, got {name!r}")
        )
    if name == "embedded":
        yield EmbeddedEngine(workers)
        return
    from carelens.monitor.spark import SparkEngine, spark_session

    spark = spark_session(spark_master or settings.spark_master, settings)
    try:
        yield SparkEngine(spark, settings.spark_indicators_per_job)
    finally:
        spark.stop()


def load_compiled_loops() -> None:
    """Import the kernel's compiled loops and set up numba's compiler state in this process, so that the
    worker processes forked after it start with both: each would otherwise spend most of a second on
    them (a tenth of a 1/10-scale pass), while this process does it once."""
    from carelens.monitor import hash_loops, kernel_loops  # noqa: F401 - imported for the workers
    from carelens.stats import group_loops, spc_loops  # noqa: F401 - imported for the workers

    kernel_loops.ready()


_worker_job: Callable[[list[str]], AssessedBatch] | None = None
"""In a worker process: the pass's :func:`assess_batch` with its inputs bound (set by :func:`_start_worker`)."""


_worker_folder: Path | None = None
"""In a worker process: where it leaves its results (:func:`left_in_file`), or None to send them whole."""


def _start_worker(job: Callable[[list[str]], AssessedBatch], folder: Path | None) -> None:
    global _worker_job, _worker_folder
    _worker_job, _worker_folder = job, folder
    read_threads(False)  # forked workers have it already; started afresh ("spawn"), they need it


def _work_in_worker(batch: list[str]) -> AssessedBatch | InFile:
    assert _worker_job is not None, "not started by _start_worker"
    result = _worker_job(batch)
    return result if _worker_folder is None else left_in_file(result, _worker_folder)


MEMORY_FOLDER = Path("/dev/shm")
"""A folder of memory-backed files (Linux's), where worker processes leave their results."""


@contextmanager
def _results_folder() -> Iterator[Path | None]:
    """A temporary folder for the workers' results in :data:`MEMORY_FOLDER` (None where there is none:
    results then come back whole through the pipe). Anything left in it goes when the block ends."""
    import tempfile

    if not (MEMORY_FOLDER.is_dir() and os.access(MEMORY_FOLDER, os.W_OK | os.X_OK)):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="carelens-results-", dir=MEMORY_FOLDER) as folder:
        yield Path(folder)


@dataclass(frozen=True)
class InFile:
    """A worker's result left in a memory-backed file: its pickle (protocol 5) without its arrays'
    bytes, which are the file, each from an ``offsets`` position with its ``sizes`` of bytes.

    A result sent whole goes through a pipe of 64 KB in dozens of pieces, copied in by the worker and out
    by this process, which takes them in on a thread of its own; from a file, the worker copies once and
    this process maps the pages without copying (at 1/10 national scale, 3 MB a batch: 50 results cost
    0.5 s of CPU through the pipe and 0.17 s through files)."""

    path: Path
    pickled: bytes
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]


ALIGNMENT = 64
"""Bytes: each array in an :class:`InFile` starts at a multiple of this (NumPy's and Arrow's alignment)."""


def left_in_file(result: AssessedBatch, folder: Path) -> AssessedBatch | InFile:
    """``result`` written into a new file in ``folder`` (:class:`InFile`), or ``result`` itself when it
    cannot be written (a full folder, say: nothing is left of the file)."""
    import pickle
    import tempfile

    buffers: list[pickle.PickleBuffer] = []
    pickled = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    offsets, at = [], 0
    for view in views:
        at += -at % ALIGNMENT
        offsets.append(at)
        at += view.nbytes
    try:
        fd, name = tempfile.mkstemp(dir=folder, suffix=".result")
    except OSError:
        return result
    try:
        with os.fdopen(fd, "wb", buffering=0) as file:
            for view, offset in zip(views, offsets, strict=True):
                file.seek(offset)
                file.write(view)  # a regular file takes the whole write, or fails
    except OSError:
        os.unlink(name)
        return result
    return InFile(Path(name), pickled, tuple(offsets), tuple(view.nbytes for view in views))


def taken_back(sent: AssessedBatch | InFile) -> AssessedBatch:
    """A worker's result as it sent it: an :class:`InFile` mapped (copy-on-write, so its arrays can be
    written) and its file removed; a whole result as it is."""
    import mmap
    import pickle

    if not isinstance(sent, InFile):
        return sent
    with open(sent.path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY) if size else b""
    os.unlink(sent.path)
    whole = memoryview(mapped)
    views = [whole[offset : offset + size] for offset, size in zip(sent.offsets, sent.sizes, strict=True)]
    return pickle.loads(sent.pickled, buffers=views)


KEPT_MMAP_THRESHOLD = 32 * 2**20
"""Bytes: during a pass, blocks up to this size come from the reusable heap, not fresh pages (glibc's
largest allowed value; an indicator's arrays at 50,000 organisations x 60 months are 23 MB)."""
KEPT_TRIM_THRESHOLD = 2**30
"""Bytes of free heap kept during a pass rather than handed back to the system. ``mallopt`` takes a C
``int``, so at most 2**31 - 1."""
AFTER_TRIM_THRESHOLD = 2 * KEPT_MMAP_THRESHOLD
"""Bytes of free heap kept after a pass: what glibc's own adjustment leaves once it has seen blocks of
:data:`KEPT_MMAP_THRESHOLD` freed (setting a threshold ends that adjustment for good, so glibc's
starting values, 128 KB, would make every later large array fresh pages again)."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's <malloc.h>


@contextmanager
def kept_freed_memory() -> Iterator[None]:
    """During a pass (the block), make glibc's allocator keep freed arrays for the next batch, and hand
    them back to the system after it.

    By default large NumPy arrays are fresh pages from the system, so every batch pays page faults to
    touch them again: measured as a quarter of a monitoring pass's CPU time (``benchmarks/monitor.py``).
    Arrow's own allocator (mimalloc) hands freed pages back at once, so each Parquet read faulted in
    fresh pages as well: Arrow allocates from the same kept heap in the block (measured: a sixth less
    CPU reading a national store's indicators). NumPy's huge pages are off in the block
    (:func:`_numpy_huge_pages`). Worker processes forked in the block inherit all three. After it, the
    free heap is handed back and at most :data:`AFTER_TRIM_THRESHOLD` of it is kept from then on.
    Elsewhere (not glibc) this does nothing."""
    global _passes_keeping
    libc = _glibc()
    if libc is None:
        yield
        return
    import pyarrow as pa

    with _keeping_lock:  # passes at once in threads: the first sets it all, the last restores it
        _passes_keeping += 1
        if _passes_keeping == 1:
            _kept_before[:] = [pa.default_memory_pool(), _numpy_huge_pages(False)]
            libc.mallopt(_M_MMAP_THRESHOLD, KEPT_MMAP_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, KEPT_TRIM_THRESHOLD)
            pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        with _keeping_lock:
            _passes_keeping -= 1
            if not _passes_keeping:
                pool, huge_pages = _kept_before
                _numpy_huge_pages(huge_pages)
                pa.set_memory_pool(pool)
                libc.mallopt(_M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD)
                libc.malloc_trim(0)


_keeping_lock = threading.Lock()
_passes_keeping = 0
_kept_before: list = []
"""What :func:`kept_freed_memory` restores: Arrow's memory pool and NumPy's huge-page setting."""


def _numpy_huge_pages(enabled: bool) -> bool:
    """Whether NumPy asks Linux for huge pages for its large arrays (4 MB and more), as it does by
    default; returns the setting before. Off during a pass: its arrays reuse kept memory, so huge pages
    save few page faults, while each one costs clearing 2 MB at once and, in fragmented memory, the
    kernel's compaction (1/10 national scale: a sixth less system time without them). A private NumPy
    function: where it is missing, nothing changes."""
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1
        from numpy.core import multiarray
    switch = getattr(multiarray, "_set_madvise_hugepage", None)
    return enabled if switch is None else bool(switch(enabled))


def _glibc():
    """glibc's ``mallopt`` and ``malloc_trim`` (None where the C library is not glibc's)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc
