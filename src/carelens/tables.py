"""Read user tables (CSV or Parquet) and validate columns, reporting every bad row at once.

Row numbers in messages count data rows from 1 (the header is not counted), so "row 3" is the third
line under the header of a CSV file and the third record of a Parquet file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem

ColumnKind = Literal["number", "count", "text", "code", "date"]
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
        elif suffixes.endswith(CSV_SUFFIXES):
            check_text_file(path)
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
        ragged = _ragged_csv_rows(path) if suffixes.endswith(CSV_SUFFIXES) else []
        raise InputError(ragged or [Problem(source, None, None, f"cannot read file: {exc}")]) from None
    frame.attrs["source"] = source
    return frame


CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
BATCH_BYTES = 2 << 20
"""Bytes of CSV parsed per batch by :func:`iter_text_table` (about 64,000 rows of a monthly A&E file):
an import's memory is bounded by this, not by the size of the file."""


def _open_bytes(path: Path):
    import gzip

    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def check_text_file(path: str | Path, header: bool = True) -> None:
    """Raise :class:`InputError` unless ``path`` is UTF-8 text (a gzipped file must be whole and valid).

    A UTF-16 file, a binary file or other bytes that are not UTF-8 (named with the line where they were
    found) and a corrupt or truncated gzip file are refused; the file is read in blocks, so memory stays
    small. (A NUL or other control character in a cell is for the columns' checks to name.) Rows are
    counted under the header line, or from the first line when the file has no ``header``.
    """
    import codecs
    import gzip
    import zlib

    path = Path(path)
    source = str(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with _open_bytes(path) as handle:
            first = True
            while block := handle.read(1 << 20):
                if first and block[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
                    raise InputError(
                        Problem(source, None, None, "the file is UTF-16 text: save it as UTF-8 (CSV UTF-8)")
                    )
                first = False
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    at = line + block.count(b"\n", 0, exc.start)
                    raise InputError(
                        Problem(
                            source,
                            _data_row(at, header),
                            None,
                            f"line {at} is not UTF-8 text: save the file as UTF-8",
                        )
                    ) from None
                line += block.count(b"\n")
            decoder.decode(b"", final=True)
    except InputError:
        raise
    except UnicodeDecodeError:
        raise InputError(
            Problem(source, _data_row(line, header), None, "the file ends inside a UTF-8 character")
        ) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(Problem(source, None, None, f"not a whole gzip file: {exc}")) from None
    except OSError as exc:
        raise InputError(Problem(source, None, None, f"cannot read file: {exc}")) from None


def _data_row(line: int, header: bool = True) -> int | None:
    """The data row (from 1, under the header if any) of a 1-based line; None for the header line."""
    if not header:
        return line
    return line - 1 if line > 1 else None


def read_header(path: str | Path) -> list[str]:
    """The column names of a CSV (or Parquet) file, checked as :func:`check_text_file` does."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(Problem(source, None, None, "file not found"))
    if "".join(path.suffixes[-2:]).lower().endswith((".parquet", ".pq")):
        return read_table(path, []).columns.tolist()
    check_text_file(path)
    import csv
    import io

    with _open_bytes(path) as handle:
        first = handle.readline().decode("utf-8-sig", errors="replace")
    header = next(csv.reader(io.StringIO(first)), [])
    if not header:
        raise InputError(Problem(source, None, None, "file is empty (no header row)"))
    return header


def iter_text_table(path: str | Path, columns: Sequence[str] | None = None, batch_bytes: int | None = None):
    """Yield a CSV (optionally gzipped) or Parquet file in batches of text columns, ``columns`` only.

    Every cell is read as text (an all-digit code stays text; :func:`validate` converts numbers), an
    empty cell is missing, and each batch's ``attrs`` hold ``source`` and ``first_row`` (the data row, from
    1, of its first row) so problems name rows of the file. A file without data rows is bad input. The
    file is parsed ``batch_bytes`` (default :data:`BATCH_BYTES`) at a time, so memory does not grow with
    its size.
    """
    import pyarrow as pa

    path = Path(path)
    source = str(path)
    header = read_header(path)
    wanted = list(columns) if columns is not None else header
    _require(source, header, wanted)
    blank = [i + 1 for i, name in enumerate(header) if not str(name).strip()]
    if blank and columns is None:
        raise InputError(Problem(source, None, f"column {blank[0]}", "the header has a blank column name"))
    repeated = sorted({n for n in header if header.count(n) > 1} & set(wanted))
    if repeated:
        raise InputError([Problem(source, None, n, "the header names this column twice") for n in repeated])
    first_row = 1
    is_parquet = "".join(path.suffixes[-2:]).lower().endswith((".parquet", ".pq"))
    try:
        for table in _arrow_batches(path, wanted, is_parquet, batch_bytes or BATCH_BYTES):
            if table.num_rows == 0:
                continue
            frame = pd.DataFrame(
                {
                    name: pd.array(table.column(name).cast(pa.string()).to_pandas(), dtype="string")
                    for name in wanted
                }
            )
            frame.attrs.update(source=source, first_row=first_row)
            first_row += len(frame)
            yield frame
    except (pa.ArrowInvalid, OSError) as exc:
        ragged = [] if is_parquet else _ragged_csv_rows(path)
        raise InputError(ragged or [Problem(source, None, None, f"cannot read file: {exc}")]) from None
    if first_row == 1:
        raise InputError(Problem(source, None, None, "the file has a header but no data rows"))


def _arrow_batches(path: Path, columns: list[str], is_parquet: bool, batch_bytes: int):
    """Arrow tables of ``columns`` read from ``path`` a batch at a time, every CSV cell as text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if is_parquet:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=250_000, columns=columns):
            yield pa.Table.from_batches([batch])
        return
    stream = pa.input_stream(str(path), compression="gzip" if path.suffix.lower() == ".gz" else None)
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=batch_bytes),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            include_columns=columns,
            column_types=dict.fromkeys(columns, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    with stream:
        for batch in reader:
            yield pa.Table.from_batches([batch])


def read_text_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The whole of :func:`iter_text_table` as one frame (for files read whole: curated lists, releases)."""
    frames = list(iter_text_table(path, columns))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.attrs.update(source=str(path), first_row=1)
    return frame


TABLE_SUFFIXES = (".csv", ".parquet")


def check_output_table(path: str | Path) -> None:
    """Refuse an output path that is not a ``.csv`` or ``.parquet`` file, before any work is done."""
    if Path(path).suffix.lower() not in TABLE_SUFFIXES:
        raise InputError(Problem(str(path), None, None, "output must be a .csv or .parquet file"))


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``.csv`` or ``.parquet`` via a temporary file renamed into place, so nothing is half-written.

    Timestamp columns that hold whole days only are written as dates (``YYYY-MM-DD``).
    """
    import pyarrow as pa

    path = Path(path)
    check_output_table(path)
    suffix = path.suffix.lower()
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
    with opener(path, "rt", newline="", encoding="utf-8-sig", errors="replace") as handle:
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


CODE_MAX_LENGTH = 40
"""Longest organisation code the store holds (``organisation.code``)."""
NAME_MAX_LENGTH = 300
"""Longest organisation name the store holds (``organisation.name``)."""
TEXT_MAX_LENGTH = 300
"""Longest text cell accepted unless a column says otherwise (no stored text column is longer)."""
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]*")
"""An organisation code: letters and digits, then also ``_ . / -`` (ODS ``RF4``, CQC ``1-101663049``, GSS
``E06000004``); no spaces, quotes or control characters, which would break links, files and reports."""
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Column:
    """A declared input column: its name, kind and value rules.

    ``count``: a whole number ≥ 0; ``number``: any finite number (``min_value``/``positive`` narrow it);
    ``text``: non-empty text without control characters (a line break, NUL or tab), at most
    ``max_length`` characters (``allowed`` limits it to listed values); ``code``: an organisation code
    (:data:`CODE_PATTERN`, at most :data:`CODE_MAX_LENGTH` characters); ``date``: an ISO date or anything
    pandas parses unambiguously. Text and codes are stripped of surrounding spaces, in the frame too, so
    ``" ZZ9"`` and ``"ZZ9"`` are one key.
    """

    name: str
    kind: ColumnKind = "number"
    positive: bool = False
    min_value: float | None = None
    required: bool = True
    allowed: tuple[str, ...] | None = None
    allow_missing: bool = False
    """Accept empty cells (numbers come back as NaN, text as missing) instead of reporting them."""
    max_length: int = TEXT_MAX_LENGTH
    """Longest text accepted (``code`` columns: :data:`CODE_MAX_LENGTH`)."""


def _rows(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask)[:MAX_PROBLEMS_PER_CHECK]


def _shown(value: object, limit: int = 40) -> str:
    """A cell quoted for a message, cut short so a huge cell does not flood the output."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...'"


def text_problems(
    values: pd.Series, name: str, source: str, first_row: int, kind: str, max_length: int
) -> list[Problem]:
    """Problems of present text cells: control characters, length, and (``code``) the code's shape."""
    problems: list[Problem] = []
    present = values.notna().to_numpy()
    lengths = values.str.len().fillna(0).to_numpy()
    too_long = present & (lengths > max_length)
    problems += [
        Problem(source, int(i) + first_row, name, f"longer than {max_length} characters ({int(lengths[i])})")
        for i in _rows(too_long)
    ]
    control = present & values.str.contains(CONTROL).fillna(False).to_numpy(dtype=bool)
    problems += [
        Problem(
            source,
            int(i) + first_row,
            name,
            f"holds a control character (line break, tab or NUL): {_shown(values.iloc[i])}",
        )
        for i in _rows(control)
    ]
    if kind == "code":
        shaped = values.str.fullmatch(CODE_PATTERN).fillna(True).to_numpy(dtype=bool)
        bad = present & ~shaped & ~control & ~too_long
        problems += [
            Problem(
                source,
                int(i) + first_row,
                name,
                f"not an organisation code (letters, digits, - _ . /): {_shown(values.iloc[i])}",
            )
            for i in _rows(bad)
        ]
    return problems


def code_problem(code: str) -> str | None:
    """Why ``code`` (stripped) is not an organisation code, or None when it is one (checked row by row in
    reference files of thousands of rows, so a good code is passed without building a Series)."""
    if len(code) <= CODE_MAX_LENGTH and CODE_PATTERN.fullmatch(code):
        return None
    problems = text_problems(pd.Series([code], dtype="string"), "", "", 1, "code", CODE_MAX_LENGTH)
    return problems[0].reason if problems else None


def name_problem(name: str) -> str | None:
    """Why ``name`` (stripped) cannot be an organisation's name, or None when it can."""
    if len(name) <= NAME_MAX_LENGTH and not CONTROL.search(name):
        return None
    problems = text_problems(pd.Series([name], dtype="string"), "", "", 1, "text", NAME_MAX_LENGTH)
    return problems[0].reason if problems else None


def validate(
    frame: pd.DataFrame, columns: Sequence[Column], source: str | None = None
) -> dict[str, np.ndarray]:
    """Check and convert the declared columns; return them as NumPy arrays keyed by name.

    Collects every problem (missing value, text in a number, negative count, fractional count,
    non-positive denominator, text too long or holding control characters) across all columns before
    raising one :class:`InputError`. Rows are numbered from ``frame.attrs["first_row"]`` (1 by
    default). Text and code columns are replaced in ``frame`` by their stripped text.
    """
    source = source or frame.attrs.get("source", "input")
    first = int(frame.attrs.get("first_row", 1))
    problems: list[Problem] = []
    out: dict[str, np.ndarray] = {}
    for col in columns:
        if col.name not in frame.columns:
            if col.required:
                problems.append(Problem(source, None, col.name, "required column is missing"))
            continue
        raw = frame[col.name]
        missing = raw.isna().to_numpy()
        if col.kind in ("text", "code"):
            values = raw.astype("string").str.strip()
            values = values.where(values != "", pd.NA)
            frame[col.name] = values
            empty = values.isna().to_numpy()
            if not col.allow_missing:
                problems += [
                    Problem(source, int(i) + first, col.name, "value is missing") for i in _rows(empty)
                ]
            limit = CODE_MAX_LENGTH if col.kind == "code" else col.max_length
            problems += text_problems(values, col.name, source, first, col.kind, limit)
            if col.allowed is not None:
                unknown = ~empty & ~values.isin(col.allowed).fillna(False).to_numpy(dtype=bool)
                choices = ", ".join(col.allowed)
                problems += [
                    Problem(
                        source, int(i) + first, col.name, f"{_shown(raw.iloc[i])} is not one of: {choices}"
                    )
                    for i in _rows(unknown)
                ]
            out[col.name] = values.to_numpy(dtype=object, na_value=None)
            continue
        if col.kind == "date":
            parsed = pd.to_datetime(raw, errors="coerce")
            bad = parsed.isna().to_numpy() & ~missing
            if not col.allow_missing:
                problems += [
                    Problem(source, int(i) + first, col.name, "value is missing") for i in _rows(missing)
                ]
            problems += [
                Problem(source, int(i) + first, col.name, f"not a date: {_shown(raw.iloc[i])}")
                for i in _rows(bad)
            ]
            out[col.name] = parsed.to_numpy(dtype="datetime64[ns]")
            continue
        values = _numbers(raw)
        not_number = np.isnan(values) & ~missing
        if not col.allow_missing:
            problems += [
                Problem(source, int(i) + first, col.name, "value is missing") for i in _rows(missing)
            ]
        problems += [
            Problem(source, int(i) + first, col.name, f"not a number: {_shown(raw.iloc[i])}")
            for i in _rows(not_number)
        ]
        finite = np.isfinite(values)
        problems += [
            Problem(source, int(i) + first, col.name, f"not a finite number: {_shown(raw.iloc[i])}")
            for i in _rows(~finite & ~np.isnan(values))
        ]
        if col.kind == "count":
            problems += [
                Problem(source, int(i) + first, col.name, f"negative count: {values[i]:g}")
                for i in _rows(finite & (values < 0))
            ]
            problems += [
                Problem(source, int(i) + first, col.name, f"count is not a whole number: {values[i]:g}")
                for i in _rows(finite & (values != np.round(values)))
            ]
        if col.positive:
            problems += [
                Problem(source, int(i) + first, col.name, f"must be greater than zero, got {values[i]:g}")
                for i in _rows(finite & (values <= 0))
            ]
        if col.min_value is not None:
            problems += [
                Problem(
                    source, int(i) + first, col.name, f"must be at least {col.min_value:g}, got {values[i]:g}"
                )
                for i in _rows(finite & (values < col.min_value))
            ]
        out[col.name] = values
    if problems:
        raise InputError(problems)
    return out


def _numbers(raw: pd.Series) -> np.ndarray:
    """The cells as floats, NaN where missing or not a number, exactly as ``pandas.to_numeric`` reads them.

    Text cells are cast by Arrow in one pass (five times faster) when it takes every one: Arrow refuses
    what pandas would strip or report (surrounding spaces, ``1,000``, ``0x10``), and reads ``nan``,
    ``inf`` and exponents as pandas does; a negative zero, which pandas reads as 0 from ``-0``, is left
    to pandas too. Otherwise pandas reads the column and finds the cells that are not numbers."""
    if isinstance(raw.dtype, pd.StringDtype) and raw.dtype.storage == "pyarrow":
        import pyarrow as pa

        try:
            values = pa.array(raw.array).cast(pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            if not (np.signbit(values) & (values == 0)).any():
                return values
    numbers = pd.to_numeric(raw, errors="coerce").astype("Float64")
    return numbers.to_numpy(dtype=float, na_value=np.nan)


def check_unique(frame: pd.DataFrame, keys: Sequence[str], source: str | None = None) -> None:
    """Raise :class:`InputError` listing every row whose key combination appeared on an earlier row."""
    source = source or frame.attrs.get("source", "input")
    if any(k not in frame.columns for k in keys):
        return  # a missing key column is reported by the columns' checks
    first = int(frame.attrs.get("first_row", 1))
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
                int(i) + first,
                keys[0],
                f"duplicate key {shown} (first seen on row {first_row[codes[i]] + first})",
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
