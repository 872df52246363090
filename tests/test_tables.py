"""Reading and validating user tables: every problem reported with file, row and column."""

import numpy as np
import pandas as pd
import pytest

from carelens.errors import InputError
from carelens.tables import Column, check_unique, read_table, validate


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(excinfo):
    return [(p.row, p.field, p.reason) for p in excinfo.value.problems]


def test_reads_csv_and_parquet_alike(tmp_path):
    csv = write(tmp_path, "a.csv", "unit,o,n\nA,1,10\nB,2,20\n")
    frame = read_table(csv, ["unit", "n"])
    assert list(frame.columns) == ["unit", "n"]
    pq = tmp_path / "a.parquet"
    pd.read_csv(csv).to_parquet(pq)
    assert read_table(pq, ["o"])["o"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("missing.csv", None, "file not found"),
        ("empty.csv", "", "file is empty"),
        ("data.xlsx", "x", "unsupported file type"),
        ("ragged.csv", "unit,o,n\nA,1,10\nB,2\n", "row 2: expected 3 fields, found 2"),
        ("nocol.csv", "unit,o\nA,1\n", "column 'n': required column is missing"),
    ],
)
def test_unreadable_files_name_the_file_and_the_problem(tmp_path, name, text, expected):
    path = tmp_path / name if text is None else write(tmp_path, name, text)
    with pytest.raises(InputError) as excinfo:
        read_table(path, ["unit", "o", "n"])
    message = str(excinfo.value)
    assert str(path) in message
    assert expected in message


def test_validate_collects_every_bad_row_across_columns(tmp_path):
    csv = write(tmp_path, "bad.csv", "unit,o,n\nA,1,10\nB,x,20\nC,-3,0\nD,2.5,\n")
    frame = read_table(csv)
    with pytest.raises(InputError) as excinfo:
        validate(frame, [Column("unit", "text"), Column("o", "count"), Column("n", "number", positive=True)])
    found = problems_of(excinfo)
    assert (2, "o", "not a number: 'x'") in found
    assert (3, "o", "negative count: -3") in found
    assert (4, "o", "count is not a whole number: 2.5") in found
    assert (3, "n", "must be greater than zero, got 0") in found
    assert (4, "n", "value is missing") in found
    assert all(p.source == str(csv) for p in excinfo.value.problems)


def test_validate_returns_float_arrays_for_good_input(tmp_path):
    frame = read_table(write(tmp_path, "ok.csv", "unit,o,n\nA,1,10\nB,2,20\n"))
    columns = validate(frame, [Column("o", "count"), Column("n", positive=True)])
    assert columns["o"].dtype.kind == "f" and columns["n"].tolist() == [10.0, 20.0]


def test_check_unique_names_each_duplicate_and_its_first_row():
    frame = pd.DataFrame({"month": ["m1", "m1", "m2", "m1"], "unit": ["A", "B", "A", "A"]})
    frame.attrs["source"] = "in.csv"
    with pytest.raises(InputError) as excinfo:
        check_unique(frame, ["unit", "month"])
    assert problems_of(excinfo) == [(4, "unit", "duplicate key unit=A, month=m1 (first seen on row 1)")]


NUMBER_CELLS = [
    "1", "0012", "-0", "-0.0", "+5", ".5", "5.", "1e3", "1E-2", "1.5e+2", "nan", "NaN", "-nan", "inf",
    "-Infinity", "INF", "1e400", "9007199254740993", " 12", "12 ", "\t7", "1,000", "1_000", "0x10", "1d3",
    "--1", "1.2.3", "e5", "True", "١٢", " ",
]  # fmt: skip


@pytest.mark.parametrize("cells", [NUMBER_CELLS, *([c] for c in NUMBER_CELLS), ["1", "2.5", None, "-3"]])
def test_text_cells_read_as_numbers_exactly_as_pandas_reads_them(cells):
    """Number columns are read from text by Arrow when it can: the result is pandas' to the bit (spaces
    stripped, thousands separators and hexadecimal not numbers, nan and inf as themselves, no -0.0)."""
    from carelens.tables import _numbers

    text = pd.Series(cells, dtype="string[pyarrow]")
    expected = pd.to_numeric(text, errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    got = _numbers(text)
    assert got.dtype == np.float64
    assert np.array_equal(got, expected, equal_nan=True)
    numbers = ~np.isnan(expected)
    assert np.array_equal(np.signbit(got[numbers]), np.signbit(expected[numbers]))  # no -0.0 for 0
