"""NHS England's monthly "A&E by provider" workbook, as published April 2016 – 2019 (Excel 97-2003, ``.xls``).

The data are on the sheet ``A&E Data`` (2016) or ``Provider Level Data`` (2017 on). Above the table, label
and value pairs describe the month (``Period:`` ``April 2016``, ``Published:``, ``Revised:`` ...); the
header row holds ``Code``, ``Region``, ``Name`` and the counts; the first row under it is England's total,
then one row per provider. The columns changed four times (22, 23, 27 and 29 of them) and the department
types' headers repeat in each block (``Type 1 Departments - Major A&E`` is the type 1 attendances, the type 1
attendances within 4 hours and over 4 hours), so nothing is found by position: a block is the type columns
before its total (``Total attendances``, ``Total Attendances < 4 hours``, ``Total Attendances > 4 hours``),
and admissions are named (``Emergency Admissions via Type 1 A&E``, ``... Type 2 A&E``, ``... Type 3 and 4
A&E``). Percentages, regions and the other columns are not read.

The month is the ``Period:`` the workbook states, not its file name. Every count column read of the provider
rows must sum to the England row, which is not imported; then each provider gives the monthly CSV reader's
observations (:func:`carelens.ingest.sources.ae_monthly.observations_of`): per department type with
attendances, ``ae_4hr_breach_<type>`` and ``ae_admissions_<type>`` (type 3 and 4 are ``other``). A provider
with no attendances of a type gives nothing for it, as NHSRdatasets' ``ae_attendances`` (these workbooks,
tidied) leaves such rows out. Rows are named as the spreadsheet numbers them and columns by letter and
header (``I: Type 1 Departments - Major A&E``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.sources.ae_monthly import (
    TYPES,
    check_breaches,
    observations_of,
    organisations_of,
    reconcile,
)
from carelens.ingest.sources.base import MONTHS, Batch, ProblemList, Source, monthly_files
from carelens.tables import Column, validate

SHEETS = ("Provider Level Data", "A&E Data")
"""The data sheet's name (2017 on, 2016)."""
CODE, NAME = "Code", "Name"
ENGLAND = "England"
DEPARTMENTS = dict(
    zip(
        (
            "Type 1 Departments - Major A&E",
            "Type 2 Departments - Single Specialty",
            "Type 3 Departments - Other A&E/Minor Injury Unit",
        ),
        TYPES,
        strict=True,
    )
)
"""The department types' headers, repeated in each block."""
BLOCKS = {
    "Total attendances": "attendances",
    "Total Attendances > 4 hours": "over4",
    "Total Attendances < 4 hours": None,  # within 4 hours (2017 on): not read
}
"""Each block's total header, closing the block's department columns, and what the block counts."""
ADMISSIONS = {
    "Emergency Admissions via Type 1 A&E": "admissions_type1",
    "Emergency Admissions via Type 2 A&E": "admissions_type2",
    "Emergency Admissions via Type 3 and 4 A&E": "admissions_other",
}
COUNTS = [f"{block}_{kind}" for block in ("attendances", "over4", "admissions") for kind in TYPES]
"""The counts read, by their names in :data:`carelens.ingest.sources.ae_monthly.COUNTS`."""
PERIOD = "Period"
PERIOD_PATTERN = re.compile(r"([A-Za-z]+)\s+(\d{4})")


def _key(text: object) -> str:
    return " ".join(str(text).split()).casefold()


def _letter(position: int) -> str:
    """The spreadsheet's name of a column (0 -> A, 26 -> AA)."""
    name = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        name = chr(ord("A") + remainder) + name
    return name


def _blank(cell: object) -> bool:
    return isinstance(cell, str) and not cell.strip()


class NoDataSheet(InputError):
    """A workbook without the data sheet: some other workbook (a folder import skips it)."""


def _cells(path: Path) -> list[list[object]]:
    """The data sheet's cells, row by row (numbers as floats, text as ``str``, empty cells as ``''``)."""
    import xlrd

    source = str(path)
    try:
        book = xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO())
    except Exception as exc:  # xlrd's own message says what is wrong (not an .xls file, corrupt, empty)
        raise InputError(
            Problem(source, None, None, f"cannot read as an Excel 97-2003 workbook (.xls): {exc}")
        ) from None
    try:
        names = book.sheet_names()
        wanted = [n for n in names if _key(n) in {_key(s) for s in SHEETS}]
        if not wanted:
            raise NoDataSheet(
                Problem(
                    source,
                    None,
                    None,
                    f"no sheet named {' or '.join(map(repr, SHEETS))} (sheets: {', '.join(map(repr, names))})",
                )
            )
        sheet = book.sheet_by_name(wanted[0])
        return [sheet.row_values(r) for r in range(sheet.nrows)]
    except xlrd.XLRDError as exc:
        raise InputError(Problem(source, None, None, f"cannot read the workbook: {exc}")) from None
    finally:
        book.release_resources()


def _header_at(source: str, cells: list[list[object]]) -> int:
    """Index of the header row: the first with ``Code`` and ``Name`` cells."""
    for at, row in enumerate(cells):
        keys = {_key(c) for c in row if isinstance(c, str)}
        if {_key(CODE), _key(NAME)} <= keys:
            return at
    raise InputError(Problem(source, None, None, f"no header row (a row with {CODE!r} and {NAME!r} cells)"))


def _metadata(cells: list[list[object]], header_at: int) -> dict[str, tuple[int, object]]:
    """Label -> (row number, value) of the ``Label:`` value pairs above the header."""
    found: dict[str, tuple[int, object]] = {}
    for at, row in enumerate(cells[:header_at]):
        filled = [c for c in row if not _blank(c)]
        if filled and isinstance(filled[0], str) and filled[0].strip().endswith(":"):
            label = filled[0].strip()[:-1].strip()
            found.setdefault(label, (at + 1, filled[1] if len(filled) > 1 else ""))
    return found


def metadata(path: Path) -> dict[str, str]:
    """What the workbook says about itself above the table (``Period``, ``Published``, ``Revised`` ...)."""
    cells = _cells(path)
    return {
        label: str(value).strip()
        for label, (_, value) in _metadata(cells, _header_at(str(path), cells)).items()
    }


def _month(source: str, stated: dict[str, tuple[int, object]]) -> dt.date:
    if PERIOD not in stated:
        raise InputError(
            Problem(
                source, None, PERIOD, "the workbook does not state its month (no 'Period:' above the table)"
            )
        )
    row, value = stated[PERIOD]
    found = PERIOD_PATTERN.fullmatch(str(value).strip())
    if found is None or found.group(1).lower() not in MONTHS:
        raise InputError(Problem(source, row, PERIOD, f"not a month like 'April 2016': {value!r}"))
    return dt.date(int(found.group(2)), MONTHS[found.group(1).lower()], 1)


def _columns(source: str, header: list[object]) -> tuple[dict[str, int], list[Problem]]:
    """Position of the code, the name and each count (:data:`COUNTS`) in the header, and its problems.

    Department columns are collected until a block's total header, which says what they count."""
    found: dict[str, int] = {}
    problems: list[Problem] = []
    totals: set[str] = set()
    pending: dict[str, int] = {}  # department columns since the last block total
    departments = {_key(h): t for h, t in DEPARTMENTS.items()}
    blocks = {_key(h): h for h in BLOCKS}
    named = {_key(CODE): "code", _key(NAME): "name"} | {_key(h): c for h, c in ADMISSIONS.items()}

    def take(name: str, position: int) -> None:
        if name in found:
            problems.append(Problem(source, None, _field(header, position), "the header names this twice"))
        found[name] = position

    for position, cell in enumerate(header):
        key = _key(cell)
        if key in departments:
            if departments[key] in pending:
                problems.append(
                    Problem(
                        source, None, _field(header, position), "a second column of this type in its block"
                    )
                )
            pending[departments[key]] = position
        elif key in blocks:
            total = blocks[key]
            totals.add(total)
            for department, kind in DEPARTMENTS.items():
                if kind in pending and BLOCKS[total] is not None:
                    take(f"{BLOCKS[total]}_{kind}", pending[kind])
                elif kind not in pending:
                    problems.append(
                        Problem(source, None, f"{department} before {total}", "required column is missing")
                    )
            pending = {}
        elif key in named:
            take(named[key], position)
    problems += [
        Problem(source, None, label, "required column is missing")
        for label, name in [(CODE, "code"), (NAME, "name"), *ADMISSIONS.items()]
        if name not in found
    ]
    problems += [
        Problem(source, None, total, "required column is missing")
        for total, block in BLOCKS.items()
        if block is not None and total not in totals
    ]
    return found, problems


def _field(header: list[object], position: int) -> str:
    """A column as messages name it: its letter and header (the department headers repeat)."""
    return f"{_letter(position)}: {' '.join(str(header[position]).split())}"


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read, check and reconcile one month's workbook (``period`` is ignored: the workbook states it)."""
    source = str(path)
    cells = _cells(path)
    header_at = _header_at(source, cells)
    header = cells[header_at]
    month = _month(source, _metadata(cells, header_at))
    found, problems = _columns(source, header)
    if problems:
        raise InputError(problems)
    width = max(found.values()) + 1
    numbered = [
        (at + 1, row + [""] * (width - len(row)))
        for at, row in enumerate(cells[header_at + 1 :], start=header_at + 1)
        if not all(_blank(c) for c in row)
    ]
    if not numbered:
        raise InputError(Problem(source, None, None, "no rows under the header"))
    rows = np.array([n for n, _ in numbered])
    names = {c: _field(header, p) for c, p in found.items()}
    frame = pd.DataFrame(
        {names[c]: [None if _blank(r[p]) else r[p] for _, r in numbered] for c, p in found.items()},
        dtype=object,
    )
    england = _key(frame[names["name"]].iloc[0]) == _key(ENGLAND)
    problems = ProblemList()
    if not england:
        problems.append(
            Problem(
                source,
                int(rows[0]),
                names["name"],
                f"the first row under the header is not England's total: {frame[names['name']].iloc[0]!r}",
            )
        )
    total = np.zeros(len(frame), dtype=bool)
    total[0] = england
    values = _validated(source, frame, [Column(names[c], "count") for c in COUNTS], rows, problems)
    labels = _validated(
        source,
        frame[~total].reset_index(drop=True),
        [Column(names["code"], "code"), Column(names["name"], "text")],
        rows[~total],
        problems,
    )
    if labels is not None:
        problems += _repeated_codes(source, labels[names["code"]], rows[~total], names["code"])
    if values is not None:
        problems += reconcile(source, values, names, COUNTS, total, ENGLAND, rows)
        problems += check_breaches(source, values, names, COUNTS, total, rows, unattended=True)
    problems.raise_if_any()

    codes = labels[names["code"]]
    return Batch(
        source,
        len(frame),
        organisations=organisations_of(codes, pd.Series(labels[names["name"]])),
        observations=observations_of(codes, month, {c: values[names[c]][~total] for c in COUNTS}),
    )


def _validated(
    source: str, frame: pd.DataFrame, columns: list[Column], rows: np.ndarray, problems: ProblemList
) -> dict[str, np.ndarray] | None:
    """:func:`carelens.tables.validate`, its problems naming the spreadsheet's rows (``rows``: each frame
    row's number) and added to ``problems``; None when there were any."""
    try:
        return validate(frame, columns, source)
    except InputError as error:
        problems += [
            dataclasses.replace(p, row=None if p.row is None else int(rows[p.row - 1]))
            for p in error.problems
        ]
        return None


def _repeated_codes(source: str, codes: np.ndarray, rows: np.ndarray, field: str) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for code, row in zip(codes, rows, strict=True):
        if code in seen:
            problems.append(Problem(source, int(row), field, f"{code} is also on row {seen[code]}"))
        seen.setdefault(code, int(row))
    return problems


def folder(path: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every month's workbook under ``path``, oldest month first (its ``Period:``, not its name), and what
    is skipped (see :func:`~carelens.ingest.sources.base.monthly_files`)."""
    return monthly_files(path, _month_of_file)


def _month_of_file(path: Path) -> dt.date | str | None:
    if path.suffix.lower() != ".xls":
        return "not an Excel 97-2003 workbook (.xls)"
    try:
        cells = _cells(path)
    except NoDataSheet as error:
        return f"not an A&E by provider workbook ({error.problems[0].reason})"
    except InputError:
        return None  # imported first: the reader names what is wrong
    try:
        return _month(str(path), _metadata(cells, _header_at(str(path), cells)))
    except InputError:
        return None


SOURCE = Source(
    "ae-workbook",
    "NHS England's monthly A&E by provider workbook (.xls, April 2016 - 2019): attendances, 4-hour breaches "
    "and admissions by department type",
    read,
    stored_kinds=True,
    folder=folder,
)
