"""The Parquet observation store: observations partitioned by indicator, queried with DuckDB.

Layout of a store rooted at ``ROOT`` (hive style, so DuckDB, pyarrow and Spark read it as one dataset)::

    ROOT/indicator_id=<id>/part-000000.parquet    observations of one indicator (no indicator_id column:
    ROOT/indicator_id=<id>/part-000001.parquet    the directory name carries it)
    ROOT/.lock                                     held by a writer
    ROOT/.staging-<random>/                        a write in progress (never read)

Writes are atomic: every file of a write is staged under ``ROOT/.staging-*`` and flushed to disk, then a
journal listing the renames is written, then the renames are done. An exception at any point undoes the
renames done so far, so a failed write leaves the dataset as it was. A process killed after the journal
was written is completed ("rolled forward") the next time the store is opened; one killed before it
leaves only a staging directory, which is deleted. Readers never look inside staging directories;
they take no lock, so during the few milliseconds of renames a reader may see some partitions of a
multi-indicator write before others (each file appears whole). One writer at a time holds ``.lock``.

Reading: :meth:`ObservationStore.read_partition` and :meth:`ObservationStore.iter_partitions` use pyarrow
(one partition, or a few at a time, to bound memory); :meth:`ObservationStore.read` and
:meth:`ObservationStore.connect` use DuckDB with its threads, memory limit and temporary directory set
from :class:`DuckDBSettings`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from carelens.errors import InputError, Problem
from carelens.model.observations import OBSERVATION_COLUMNS, OBSERVATION_SCHEMA

if TYPE_CHECKING:
    import duckdb

PARTITION_COLUMN = "indicator_id"
"""The column the dataset is partitioned by; it lives in directory names, not inside the files."""

FILE_SCHEMA: pa.Schema = OBSERVATION_SCHEMA.remove(OBSERVATION_SCHEMA.get_field_index(PARTITION_COLUMN))
"""Columns stored inside each Parquet file: the observation schema without the partition column."""

PARTITION_VALUE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
"""Indicator ids allowed as partition values: safe in a directory name on every operating system."""

WriteMode = Literal["append", "replace"]


@dataclass(frozen=True)
class DuckDBSettings:
    """How DuckDB may use the machine when it queries the store.

    ``threads``: worker threads (default: every CPU). ``memory_limit``: DuckDB's own cap, beyond which
    it spills to ``temp_directory`` (default ``2GB``, in DuckDB's syntax). ``temp_directory``: where
    spills go (default ``<system temp>/carelens-duckdb``).
    """

    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_limit: str = "2GB"
    temp_directory: str = field(default_factory=lambda: str(Path(tempfile.gettempdir()) / "carelens-duckdb"))

    def as_config(self) -> dict[str, str | int]:
        """The settings as a ``duckdb.connect(config=...)`` mapping."""
        return {
            "threads": self.threads,
            "memory_limit": self.memory_limit,
            "temp_directory": self.temp_directory,
        }


@dataclass(frozen=True)
class ParquetSettings:
    """How observation files are written.

    ``compression`` and ``compression_level``: Parquet codec. LZ4: a monitoring pass reads every file
    of the store each time, and LZ4 decodes an indicator's file in 40% less time than zstd for a tenth
    more disk (``benchmarks/monitor.py``; files of either codec, or any other, read the same).
    ``row_group_rows``: rows per row group (DuckDB parallelises a scan over row groups). ``fsync``: flush files and directories to
    disk before a write is reported done (turn off only for throw-away data).
    """

    compression: str = "lz4"
    compression_level: int | None = None
    row_group_rows: int = 1_048_576
    fsync: bool = True


def _rename(source: Path, target: Path) -> None:
    """Atomically rename ``source`` to ``target`` (one place, so tests can simulate a crash here)."""
    os.replace(source, target)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ObservationStore:
    """A directory of observation Parquet files partitioned by indicator (see the module docstring)."""

    def __init__(
        self,
        root: str | Path,
        parquet: ParquetSettings | None = None,
        duckdb: DuckDBSettings | None = None,
    ) -> None:
        self.root = Path(root)
        self.parquet = parquet or ParquetSettings()
        self.duckdb_settings = duckdb or DuckDBSettings()
        if any(self._staging_dirs()):
            with self._locked():
                self._recover()

    # -- layout -------------------------------------------------------------------------------

    def partition_dir(self, indicator_id: str) -> Path:
        """Directory holding one indicator's files."""
        return self.root / f"{PARTITION_COLUMN}={indicator_id}"

    def indicators(self) -> list[str]:
        """Indicator ids with at least one file, sorted."""
        prefix = f"{PARTITION_COLUMN}="
        if not self.root.is_dir():
            return []
        found = (p.name[len(prefix) :] for p in self.root.iterdir() if p.name.startswith(prefix))
        return sorted(i for i in found if any(self.partition_dir(i).glob("part-*.parquet")))

    def files(self, indicator_ids: Sequence[str] | None = None) -> list[Path]:
        """Parquet files of the given indicators (all by default), in partition then part order."""
        ids = self.indicators() if indicator_ids is None else list(indicator_ids)
        return [f for i in ids for f in sorted(self.partition_dir(i).glob("part-*.parquet"))]

    def _staging_dirs(self) -> Iterator[Path]:
        return self.root.glob(".staging-*") if self.root.is_dir() else iter(())

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: pa.Table | Iterable[pa.Table], mode: WriteMode = "append") -> int:
        """Write one table or a stream of tables of observations as one atomic change; return rows written.

        ``append`` adds files beside those already in each partition; ``replace`` replaces every
        partition (indicator) that appears in ``data`` and leaves the others alone. Tables must have
        the observation columns (:data:`~carelens.model.observations.OBSERVATION_COLUMNS`); a stream
        is staged table by table, so memory is bounded by the largest table, not the total.
        """
        if mode not in ("append", "replace"):
            raise ValueError(f"mode must be 'append' or 'replace', got {mode!r}")
        tables = [data] if isinstance(data, pa.Table) else data
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._recover()
            staging = self.root / f".staging-{uuid.uuid4().hex}"
            staging.mkdir()
            try:
                staged, rows = self._stage(tables, staging)
                operations = self._plan(staged, staging, mode)
                self._commit(staging, operations)
            finally:
                if not (staging / "journal.json").exists():  # a journal left behind is rolled forward later
                    shutil.rmtree(staging, ignore_errors=True)
        return rows

    def _stage(self, tables: Iterable[pa.Table], staging: Path) -> tuple[dict[str, list[Path]], int]:
        """Write every table's partitions as files under ``staging``; return them by indicator, and rows."""
        staged: dict[str, list[Path]] = {}
        rows = 0
        for table_number, table in enumerate(tables, start=1):
            table = normalise(table, source=f"observation batch {table_number}")
            rows += table.num_rows
            for indicator_id, part in split_by_indicator(table):
                files = staged.setdefault(indicator_id, [])
                target = (
                    staging
                    / "new"
                    / f"{PARTITION_COLUMN}={indicator_id}"
                    / f"staged-{len(files):06d}.parquet"
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                self._write_file(part.drop_columns([PARTITION_COLUMN]), target)
                files.append(target)
        if self.parquet.fsync:
            for directory in {f.parent for files in staged.values() for f in files}:
                _fsync_path(directory)
        return staged, rows

    def _write_file(self, table: pa.Table, path: Path) -> None:
        settings = self.parquet
        pq.write_table(
            table,
            path,
            compression=settings.compression,
            compression_level=settings.compression_level,
            row_group_size=settings.row_group_rows,
        )
        if settings.fsync:
            _fsync_path(path)

    def _plan(self, staged: dict[str, list[Path]], staging: Path, mode: WriteMode) -> list[tuple[str, str]]:
        """The renames (relative to the root) that publish the staged files, in order."""
        operations: list[tuple[str, str]] = []
        for indicator_id, files in staged.items():
            final_dir = self.partition_dir(indicator_id)
            existing = sorted(final_dir.glob("part-*.parquet"))
            if mode == "replace" and final_dir.exists():
                trash = staging / "old" / final_dir.name
                trash.parent.mkdir(parents=True, exist_ok=True)
                operations.append((self._relative(final_dir), self._relative(trash)))
                first = 0
            else:
                first = 1 + max((int(f.stem.split("-")[1]) for f in existing), default=-1)
            for offset, source in enumerate(files):
                target = final_dir / f"part-{first + offset:06d}.parquet"
                operations.append((self._relative(source), self._relative(target)))
        return operations

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _commit(self, staging: Path, operations: list[tuple[str, str]]) -> None:
        """Write the journal, then rename; on an exception undo the renames done and re-raise."""
        journal = staging / "journal.json"
        pending = staging / "journal.json.tmp"
        pending.write_text(json.dumps({"renames": operations}))
        if self.parquet.fsync:
            _fsync_path(pending)
        _rename(pending, journal)
        done: list[tuple[str, str]] = []
        try:
            for source, target in operations:
                (self.root / target).parent.mkdir(parents=True, exist_ok=True)
                _rename(self.root / source, self.root / target)
                done.append((source, target))
        except BaseException:
            for source, target in reversed(done):
                _rename(self.root / target, self.root / source)
            self._remove_empty_partitions(target for _, target in operations)
            journal.unlink()
            raise
        if self.parquet.fsync:
            for directory in {(self.root / t).parent for _, t in operations} | {self.root}:
                if directory.is_dir():
                    _fsync_path(directory)
        journal.unlink()

    def _remove_empty_partitions(self, targets: Iterable[str]) -> None:
        for target in targets:
            directory = (self.root / target).parent
            if directory.parent == self.root and directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()

    def _recover(self) -> None:
        """Finish any write whose journal exists (roll forward); delete any other staging directory."""
        for staging in list(self._staging_dirs()):
            journal = staging / "journal.json"
            if journal.exists():
                for source, target in json.loads(journal.read_text())["renames"]:
                    source_path, target_path = self.root / source, self.root / target
                    if source_path.exists() and not target_path.exists():
                        target_path.parent.mkdir(parents=True, exist_ok=True)
                        _rename(source_path, target_path)
                journal.unlink()
            shutil.rmtree(staging, ignore_errors=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock on ``ROOT/.lock`` (one writer at a time; POSIX advisory lock)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading with pyarrow -----------------------------------------------------------------

    def read_partition(self, indicator_id: str, columns: Sequence[str] | None = None) -> pa.Table:
        """One indicator's observations (all columns, or ``columns``) in the order they were written."""
        wanted = list(columns) if columns is not None else list(OBSERVATION_COLUMNS)
        unknown = [c for c in wanted if c not in OBSERVATION_COLUMNS]
        if unknown:
            raise ValueError(f"unknown observation column(s): {', '.join(unknown)}")
        stored = [c for c in wanted if c != PARTITION_COLUMN]
        parts = [pq.read_table(f, columns=stored, partitioning=None) for f in self.files([indicator_id])]
        table = pa.concat_tables(parts) if parts else FILE_SCHEMA.empty_table().select(stored)
        table = table.cast(pa.schema([FILE_SCHEMA.field(c) for c in stored]))
        if PARTITION_COLUMN in wanted:
            ids = pa.repeat(pa.scalar(indicator_id, pa.string()), table.num_rows)
            table = table.add_column(0, OBSERVATION_SCHEMA.field(PARTITION_COLUMN), ids)
        return table.select(wanted)

    def iter_partitions(
        self,
        indicator_ids: Sequence[str] | None = None,
        partitions_per_batch: int = 1,
        columns: Sequence[str] | None = None,
    ) -> Iterator[pa.Table]:
        """Yield observations a few partitions (indicators) at a time, so memory stays bounded."""
        if partitions_per_batch < 1:
            raise ValueError("partitions_per_batch must be at least 1")
        ids = self.indicators() if indicator_ids is None else list(indicator_ids)
        for start in range(0, len(ids), partitions_per_batch):
            batch = ids[start : start + partitions_per_batch]
            yield pa.concat_tables(self.read_partition(i, columns) for i in batch)

    # -- reading with DuckDB ------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, indicator_ids: Sequence[str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection (configured from :class:`DuckDBSettings`) with an ``observations`` view.

        The view covers the given indicators (all by default) and has the canonical columns and types.
        """
        import duckdb

        connection = duckdb.connect(config=self.duckdb_settings.as_config())
        try:
            connection.execute("SET enable_progress_bar = false")  # keep stderr for our own output
            connection.execute(f"CREATE VIEW observations AS {self._source_sql(self.files(indicator_ids))}")
            yield connection
        finally:
            connection.close()

    @staticmethod
    def _source_sql(files: list[Path]) -> str:
        columns = ", ".join(OBSERVATION_COLUMNS)
        if not files:
            typed_nulls = ", ".join(
                f"CAST(NULL AS {_DUCKDB_TYPES[f.type]}) AS {f.name}" for f in OBSERVATION_SCHEMA
            )
            return f"SELECT {typed_nulls} WHERE false"
        paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        return (
            f"SELECT {columns} FROM read_parquet([{paths}], hive_partitioning = true, "
            f"hive_types = {{'{PARTITION_COLUMN}': VARCHAR}})"
        )

    def read(
        self,
        indicator_ids: Sequence[str] | None = None,
        org_codes: Sequence[str] | None = None,
        period_from: date | None = None,
        period_to: date | None = None,
        columns: Sequence[str] | None = None,
        ordered: bool = True,
    ) -> pa.Table:
        """Observations filtered by indicator, organisation and period range (inclusive), via DuckDB.

        Sorted by indicator, organisation and period (``ordered=False`` skips the sort, which is most of
        the cost of a large read), with the canonical column types.
        """
        wanted = list(columns) if columns is not None else list(OBSERVATION_COLUMNS)
        unknown = [c for c in wanted if c not in OBSERVATION_COLUMNS]
        if unknown:
            raise ValueError(f"unknown observation column(s): {', '.join(unknown)}")
        if indicator_ids is not None:
            present = set(self.indicators())
            indicator_ids = [i for i in indicator_ids if i in present]
        conditions, parameters = ["true"], []
        if period_from is not None:
            conditions.append("period >= ?")
            parameters.append(period_from)
        if period_to is not None:
            conditions.append("period <= ?")
            parameters.append(period_to)
        with self.connect(indicator_ids) as connection:
            if org_codes is not None:
                connection.register("wanted_orgs", pa.table({"org_code": pa.array(org_codes, pa.string())}))
                conditions.append("org_code IN (SELECT org_code FROM wanted_orgs)")
            sql = f"SELECT {', '.join(wanted)} FROM observations WHERE {' AND '.join(conditions)}"
            if ordered:
                sql += " ORDER BY indicator_id, org_code, period"
            table = connection.execute(sql, parameters).to_arrow_table()
        return table.cast(pa.schema([OBSERVATION_SCHEMA.field(c) for c in wanted]))


_DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.date32(): "DATE", pa.float64(): "DOUBLE"}


def normalise(table: pa.Table, source: str = "observations") -> pa.Table:
    """Check a table has the observation columns with usable values; return it in canonical form.

    Raises :class:`InputError` listing every missing column, every column of the wrong type, the
    first rows with a missing key or value, and every indicator id unusable as a partition name.
    """
    problems: list[Problem] = []
    missing = [c for c in OBSERVATION_COLUMNS if c not in table.column_names]
    problems += [Problem(source, None, c, "required column is missing") for c in missing]
    if problems:
        raise InputError(problems)
    columns = []
    for target in OBSERVATION_SCHEMA:
        column = table.column(target.name)
        if not column.type.equals(target.type):
            try:
                column = column.cast(target.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                problems.append(Problem(source, None, target.name, f"cannot convert to {target.type}: {exc}"))
                continue
        if not target.nullable and column.null_count:
            rows = np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[:20]
            problems += [Problem(source, int(r) + 1, target.name, "value is missing") for r in rows]
        columns.append(column)
    if problems:
        raise InputError(problems)
    normalised = pa.Table.from_arrays(columns, schema=OBSERVATION_SCHEMA)
    bad_ids = [
        i for i in pc.unique(normalised.column(PARTITION_COLUMN)).to_pylist() if not PARTITION_VALUE.match(i)
    ]
    if bad_ids:
        raise InputError(
            [
                Problem(
                    source, None, PARTITION_COLUMN, f"indicator id {i!r} may use only letters, digits, _ . -"
                )
                for i in bad_ids
            ]
        )
    return normalised


def split_by_indicator(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """Yield ``(indicator_id, rows)`` for each indicator in ``table``, keeping row order within each."""
    ids = table.column(PARTITION_COLUMN)
    if table.num_rows == 0:
        return
    unique = pc.unique(ids)
    if len(unique) == 1:
        yield unique[0].as_py(), table
        return
    order = pc.sort_indices(table, sort_keys=[(PARTITION_COLUMN, "ascending")])  # stable
    ordered = table.take(order)
    codes = pc.dictionary_encode(ordered.column(PARTITION_COLUMN)).combine_chunks().indices.to_numpy()
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    for start, end in zip(starts, ends, strict=True):
        part = ordered.slice(int(start), int(end - start))
        yield part.column(PARTITION_COLUMN)[0].as_py(), part
