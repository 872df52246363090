"""Read user tables (CSV or Parquet) and validate columns, reporting every bad row at once.

Row numbers in messages count data rows from 1 (the header is not counted), so "row 3" is the third
line under the header of a CSV file and the third record of a Parquet file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem

ColumnKind = Literal["number", "count", "text", "date"]
MAX_PROBLEMS_PER_CHECK = 1000
"""Cap on problems collected per column check, so a wholly wrong column does not flood memory."""


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read ``.csv`` (optionally gzipped) or ``.parquet`` into a DataFrame, keeping only ``columns``.

    Raises :class:`InputError` naming the file when it is missing, unreadable or lacks a column.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError(Problem(source, None, None, "file not found"))
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if suffixes.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            available = pq.read_schema(path).names
            _require(source, available, columns)
            frame = pd.read_parquet(path, columns=list(columns) if columns else None)
        elif suffixes.endswith((".csv", ".csv.gz", ".txt")):
            header = pd.read_csv(path, nrows=0).columns.tolist()
            _require(source, header, columns)
            frame = pd.read_csv(
                path,
                usecols=list(columns) if columns else None,
                engine="pyarrow",
                dtype_backend="numpy_nullable",
            )
        else:
            raise InputError(Problem(source, None, None, "unsupported file type: use .csv or .parquet"))
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(Problem(source, None, None, "file is empty (no header row)")) from None
    except Exception as exc:  # the readers' own messages say what is malformed and where
        ragged = _ragged_csv_rows(path) if suffixes.endswith((".csv", ".csv.gz", ".txt")) else []
        raise InputError(ragged or [Problem(source, None, None, f"cannot read file: {exc}")]) from None
    frame.attrs["source"] = source
    return frame


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``.csv`` or ``.parquet`` via a temporary file renamed into place, so nothing is half-written.

    Timestamp columns that hold whole days only are written as dates (``YYYY-MM-DD``).
    """
    import pyarrow as pa

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(Problem(str(path), None, None, "output must be a .csv or .parquet file"))
    table = table.copy(deep=False)
    for name in table.columns:
        column = table[name]
        if (
            pd.api.types.is_datetime64_dtype(column.dtype)
            and (column.dropna() == column.dropna().dt.normalize()).all()
        ):
            table[name] = column.astype(pd.ArrowDtype(pa.date32()))
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(arrow, partial)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(arrow, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _ragged_csv_rows(path: Path) -> list[Problem]:
    """Rows of a CSV whose number of fields differs from the header's (e.g. a truncated file)."""
    import csv
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    problems: list[Problem] = []
    with opener(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        for number, record in enumerate(reader, start=1):
            if len(record) != len(header) and len(problems) < MAX_PROBLEMS_PER_CHECK:
                problems.append(
                    Problem(str(path), number, None, f"expected {len(header)} fields, found {len(record)}")
                )
    return problems


def _require(source: str, available: Sequence[str], columns: Sequence[str] | None) -> None:
    missing = [c for c in (columns or []) if c not in available]
    if missing:
        raise InputError(
            [
                Problem(
                    source, None, c, f"required column is missing (columns present: {', '.join(available)})"
                )
                for c in missing
            ]
        )


@dataclass(frozen=True)
class Column:
    """A declared input column: its name, kind and value rules.

    ``count``: a whole number ≥ 0; ``number``: any finite number (``min_value``/``positive`` narrow it);
    ``text``: non-empty text (``allowed`` limits it to listed values); ``date``: an ISO date or anything
    pandas parses unambiguously.
    """

    name: str
    kind: ColumnKind = "number"
    positive: bool = False
    min_value: float | None = None
    required: bool = True
    allowed: tuple[str, ...] | None = None
    allow_missing: bool = False
    """Accept empty cells in a ``number`` column (they come back as NaN) instead of reporting them."""


def _rows(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask)[:MAX_PROBLEMS_PER_CHECK]


def validate(
    frame: pd.DataFrame, columns: Sequence[Column], source: str | None = None
) -> dict[str, np.ndarray]:
    """Check and convert the declared columns; return them as NumPy arrays keyed by name.

    Collects every problem (missing value, text in a number, negative count, fractional count,
    non-positive denominator) across all columns before raising one :class:`InputError`.
    """
    source = source or frame.attrs.get("source", "input")
    problems: list[Problem] = []
    out: dict[str, np.ndarray] = {}
    for col in columns:
        if col.name not in frame.columns:
            if col.required:
                problems.append(Problem(source, None, col.name, "required column is missing"))
            continue
        raw = frame[col.name]
        missing = raw.isna().to_numpy()
        if col.kind == "text":
            values = raw.astype("string")
            empty = missing | (values.str.strip() == "").fillna(True).to_numpy(dtype=bool)
            problems += [Problem(source, int(i) + 1, col.name, "value is missing") for i in _rows(empty)]
            if col.allowed is not None:
                unknown = ~empty & ~values.str.strip().isin(col.allowed).fillna(False).to_numpy(dtype=bool)
                choices = ", ".join(col.allowed)
                problems += [
                    Problem(source, int(i) + 1, col.name, f"{raw.iloc[i]!r} is not one of: {choices}")
                    for i in _rows(unknown)
                ]
            out[col.name] = values.to_numpy(dtype=object)
            continue
        if col.kind == "date":
            parsed = pd.to_datetime(raw, errors="coerce")
            bad = parsed.isna().to_numpy() & ~missing
            problems += [Problem(source, int(i) + 1, col.name, "value is missing") for i in _rows(missing)]
            problems += [
                Problem(source, int(i) + 1, col.name, f"not a date: {raw.iloc[i]!r}") for i in _rows(bad)
            ]
            out[col.name] = parsed.to_numpy(dtype="datetime64[ns]")
            continue
        numbers = pd.to_numeric(raw, errors="coerce").astype("Float64")
        values = numbers.to_numpy(dtype=float, na_value=np.nan)
        not_number = np.isnan(values) & ~missing
        if not col.allow_missing:
            problems += [Problem(source, int(i) + 1, col.name, "value is missing") for i in _rows(missing)]
        problems += [
            Problem(source, int(i) + 1, col.name, f"not a number: {raw.iloc[i]!r}") for i in _rows(not_number)
        ]
        finite = np.isfinite(values)
        problems += [
            Problem(source, int(i) + 1, col.name, f"not a finite number: {raw.iloc[i]!r}")
            for i in _rows(~finite & ~np.isnan(values))
        ]
        if col.kind == "count":
            problems += [
                Problem(source, int(i) + 1, col.name, f"negative count: {values[i]:g}")
                for i in _rows(finite & (values < 0))
            ]
            problems += [
                Problem(source, int(i) + 1, col.name, f"count is not a whole number: {values[i]:g}")
                for i in _rows(finite & (values != np.round(values)))
            ]
        if col.positive:
            problems += [
                Problem(source, int(i) + 1, col.name, f"must be greater than zero, got {values[i]:g}")
                for i in _rows(finite & (values <= 0))
            ]
        if col.min_value is not None:
            problems += [
                Problem(
                    source, int(i) + 1, col.name, f"must be at least {col.min_value:g}, got {values[i]:g}"
                )
                for i in _rows(finite & (values < col.min_value))
            ]
        out[col.name] = values
    if problems:
        raise InputError(problems)
    return out


def check_unique(frame: pd.DataFrame, keys: Sequence[str], source: str | None = None) -> None:
    """Raise :class:`InputError` listing every row whose key combination appeared on an earlier row."""
    source = source or frame.attrs.get("source", "input")
    codes = frame.groupby(list(keys), sort=False, dropna=False).ngroup().to_numpy()
    _, first_index = np.unique(codes, return_index=True)
    first_row = np.empty(codes.max() + 1 if len(codes) else 0, dtype=np.int64)
    first_row[codes[first_index]] = first_index
    duplicate = first_row[codes] != np.arange(len(codes))
    if not duplicate.any():
        return
    problems = []
    for i in _rows(duplicate):
        shown = ", ".join(f"{k}={frame[k].iloc[i]}" for k in keys)
        problems.append(
            Problem(
                source,
                int(i) + 1,
                keys[0],
                f"duplicate key {shown} (first seen on row {first_row[codes[i]] + 1})",
            )
        )
    raise InputError(problems)


def not_above_problems(
    frame: pd.DataFrame, numerator: str, denominator: str, source: str | None = None
) -> list[Problem]:
    """A problem for every row whose numerator exceeds its denominator (a proportion above 1), checked on
    whatever parses as a number, so it can be reported alongside the other problems of the same input."""
    source = source or frame.attrs.get("source", "input")
    if numerator not in frame.columns or denominator not in frame.columns:
        return []
    o = pd.to_numeric(frame[numerator], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    n = pd.to_numeric(frame[denominator], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return [
        Problem(
            source,
            int(i) + 1,
            numerator,
            f"numerator {o[i]:g} exceeds denominator {denominator!r} = {n[i]:g} "
            "(a proportion cannot exceed 1)",
        )
        for i in _rows(o > n)
    ]
