"""NHS England's monthly A&E attendances and emergency admissions file, as published (one CSV a month).

One row per provider: ``Period`` (``MSitAE-APRIL-2019``), ``Org Code``, ``Parent Org`` (region, not read),
``Org name``, then counts by department type (1, 2 and other): attendances, attendances over 4 hours,
emergency admissions via A&E, and (from August 2020) booked appointments and booked appointments over 4
hours, plus waits from decision to admit and other emergency admissions. Three header layouts are read
(:data:`COUNTS` lists every spelling): 2019-20 (``Number of A&E attendances Type 1``), April-July 2020
(``A&E attendances Type 1``) and August 2020 on (adds the booked columns).

Quirks handled: a UTF-8 byte-order mark; CRLF or LF lines; columns with a blank header or ``a`` and no
values (September 2024); one TOTAL row spelled ``TOTAL``, ``Total``, ``Total `` or ``TOTAl`` in any of the
first four fields. The TOTAL row is not imported: every count column of the provider rows must sum to it,
else the file is refused naming the row and column. Booked appointments are not included in the
attendance columns, so each department type gives, where it had attendances:
``ae_4hr_breach_<type>`` = (over 4 hours + booked over 4 hours) / (attendances + booked), as NHS England
headlines 4-hour performance; ``ae_admissions_<type>`` = admissions / (attendances + booked); and, from
August 2020, ``ae_booked_<type>`` = booked / (attendances + booked). These are the tidy A&E reader's
indicators, so monitoring reads both. A later file for the same month (a revision) supersedes the values it
changes, keeping the first as history, and the import names the organisations whose values changed.
Kinds come from ODS (:mod:`carelens.ingest.reference`), a stored kind first.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.reference import kind_of
from carelens.ingest.sources.base import MONTHS, Batch, ProblemList, Source, monthly_files
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.model.organisations import DEFAULT_SECTOR
from carelens.tables import Column, check_text_file, validate

PERIOD, CODE, REGION, NAME = "Period", "Org Code", "Parent Org", "Org name"
LABELS = (PERIOD, CODE, REGION, NAME)
"""The first four columns; the TOTAL row is labelled in any of them."""
TYPES = ("type1", "type2", "other")
"""Department types, as the suffixes of the indicator ids."""

COUNTS: dict[str, tuple[str, ...]] = {
    "attendances_type1": ("A&E attendances Type 1", "Number of A&E attendances Type 1"),
    "attendances_type2": ("A&E attendances Type 2", "Number of A&E attendances Type 2"),
    "attendances_other": (
        "A&E attendances Other A&E Department",
        "Number of A&E attendances Other A&E Department",
    ),
    "booked_type1": ("A&E attendances Booked Appointments Type 1",),
    "booked_type2": ("A&E attendances Booked Appointments Type 2",),
    "booked_other": ("A&E attendances Booked Appointments Other Department",),
    "over4_type1": ("Attendances over 4hrs Type 1", "Number of attendances over 4hrs Type 1"),
    "over4_type2": ("Attendances over 4hrs Type 2", "Number of attendances over 4hrs Type 2"),
    "over4_other": (
        "Attendances over 4hrs Other Department",
        "Number of attendances over 4hrs Other A&E Department",
    ),
    "booked_over4_type1": ("Attendances over 4hrs Booked Appointments Type 1",),
    "booked_over4_type2": ("Attendances over 4hrs Booked Appointments Type 2",),
    "booked_over4_other": ("Attendances over 4hrs Booked Appointments Other Department",),
    "waits_4_to_12_hours": ("Patients who have waited 4-12 hs from DTA to admission",),
    "waits_over_12_hours": ("Patients who have waited 12+ hrs from DTA to admission",),
    "admissions_type1": ("Emergency admissions via A&E - Type 1",),
    "admissions_type2": ("Emergency admissions via A&E - Type 2",),
    "admissions_other": ("Emergency admissions via A&E - Other A&E department",),
    "other_admissions": ("Other emergency admissions",),
}
"""Each count and the headers NHS England has given it (matched ignoring case and repeated spaces)."""
BOOKED = tuple(c for c in COUNTS if c.startswith("booked"))
"""Counts published from August 2020 only: a file has all of them or none."""
JUNK_HEADERS = ("", "a")
"""Headers of stray empty columns (September 2024): ignored when the column holds no values."""
BREACHES = [(f"over4_{t}", f"attendances_{t}") for t in TYPES] + [
    (f"booked_over4_{t}", f"booked_{t}") for t in TYPES
]
"""(attendances over 4 hours, the attendances they are part of)."""
PERIOD_PATTERN = re.compile(r"MSitAE-([A-Za-z]+)-(\d{4})", re.IGNORECASE)


def _key(header: str) -> str:
    return " ".join(header.split()).casefold()


HEADERS = {_key(h): count for count, spellings in COUNTS.items() for h in spellings} | {
    _key(label): label for label in LABELS
}


def is_total(row: list[str]) -> bool:
    """Whether a row is the file's TOTAL row (any spelling, in any of the first four fields)."""
    return any(cell.strip().casefold() == "total" for cell in row[:4])


def month_of(text: str) -> dt.date | None:
    """The month of a ``Period`` cell (``MSitAE-APRIL-2019``), or None when it is not one."""
    found = PERIOD_PATTERN.fullmatch(text.strip())
    if found is None or found.group(1).lower() not in MONTHS:
        return None
    return dt.date(int(found.group(2)), MONTHS[found.group(1).lower()], 1)


def _rows(path: Path) -> list[list[str]]:
    check_text_file(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(Problem(str(path), None, None, f"cannot read file: {exc}")) from None


def _columns(source: str, header: list[str], rows: list[list[str]]) -> tuple[dict[str, int], list[Problem]]:
    """Position of each label and count in the header (published name -> position), and its problems."""
    problems: list[Problem] = []
    found: dict[str, int] = {}
    for position, raw in enumerate(header):
        name = raw.strip()
        wanted = HEADERS.get(_key(name))
        if wanted is None:
            if name.casefold() in JUNK_HEADERS and not any(
                len(r) > position and r[position].strip() for r in rows
            ):
                continue
            problems.append(
                Problem(source, None, name or f"column {position + 1}", "not a monthly A&E column")
            )
        elif wanted in found:
            problems.append(Problem(source, None, name, "the header names this column twice"))
        else:
            found[wanted] = position
    required = [c for c in (*LABELS, *COUNTS) if c not in BOOKED or any(b in found for b in BOOKED)]
    problems += [
        Problem(source, None, COUNTS[c][0] if c in COUNTS else c, "required column is missing")
        for c in required
        if c not in found
    ]
    return found, problems


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read, check and reconcile one month's file (``period`` is ignored: the rows state it)."""
    source = str(path)
    rows = [r for r in _rows(path) if any(cell.strip() for cell in r)]
    if not rows:
        raise InputError(Problem(source, None, None, "file is empty (no header row)"))
    header, data = rows[0], rows[1:]
    if not data:
        raise InputError(Problem(source, None, None, "the file has a header but no data rows"))
    found, problems = _columns(source, header, data)
    if problems:
        raise InputError(problems)
    ragged = [
        Problem(source, n, None, f"expected {len(header)} fields, found {len(r)}")
        for n, r in enumerate(data, start=1)
        if len(r) != len(header)
    ]
    if ragged:
        raise InputError(ragged)
    names = {c: header[i].strip() for c, i in found.items()}
    frame = pd.DataFrame({names[c]: [r[i] for r in data] for c, i in found.items()}, dtype="string")
    frame.attrs.update(source=source, first_row=1)
    counts = [c for c in COUNTS if c in found]
    values = validate(
        frame,
        [Column(names[CODE], "code", allow_missing=True), Column(names[NAME], "text", allow_missing=True)]
        + [Column(names[c], "count") for c in counts],
        source,
    )
    total = np.array([is_total(r) for r in data])
    problems = ProblemList()
    problems += _check_providers(source, frame, names, total)
    month = _month(source, frame[names[PERIOD]], total, problems)
    problems += reconcile(source, values, names, counts, total, "TOTAL")
    problems += check_breaches(source, values, names, counts, total)
    problems.raise_if_any()

    keep = ~total
    numbers = {c: values[names[c]][keep] for c in counts}
    codes = frame.loc[keep, names[CODE]].astype(object).to_numpy()
    return Batch(
        source,
        len(data),
        organisations=organisations_of(codes, frame.loc[keep, names[NAME]]),
        observations=observations_of(codes, month, numbers),
    )


def _check_providers(
    source: str, frame: pd.DataFrame, names: dict[str, str], total: np.ndarray
) -> list[Problem]:
    """Every provider row has a code and a name, and no code is on two rows; one TOTAL row."""
    problems: list[Problem] = []
    totals = np.flatnonzero(total) + 1
    if len(totals) == 0:
        problems.append(
            Problem(source, None, None, "no TOTAL row: the providers' rows cannot be checked against it")
        )
    problems += [Problem(source, int(n), names[CODE], "a second TOTAL row") for n in totals[1:]]
    seen: dict[str, int] = {}
    for number, (code, name, is_sum) in enumerate(
        zip(frame[names[CODE]], frame[names[NAME]], total, strict=True), start=1
    ):
        if is_sum:
            continue
        if pd.isna(code):
            problems.append(Problem(source, number, names[CODE], "value is missing"))
        elif code in seen:
            problems.append(Problem(source, number, names[CODE], f"{code} is also on row {seen[code]}"))
        else:
            seen[code] = number
        if pd.isna(name):
            problems.append(Problem(source, number, names[NAME], "value is missing"))
    return problems


def _month(source: str, periods: pd.Series, total: np.ndarray, problems: list[Problem]) -> dt.date | None:
    """The one month every row states (the TOTAL row may leave it blank)."""
    months: dict[dt.date, int] = {}
    for number, (text, is_sum) in enumerate(zip(periods, total, strict=True), start=1):
        text = "" if pd.isna(text) else text.strip()
        if is_sum and (not text or is_total([text])):
            continue
        month = month_of(text)
        if month is None:
            problems.append(Problem(source, number, PERIOD, f"not a period like MSitAE-APRIL-2019: {text!r}"))
        elif months and month not in months:
            first = next(iter(months))
            problems.append(
                Problem(
                    source,
                    number,
                    PERIOD,
                    f"{text} is not the file's month ({first:%B %Y}, row {months[first]})",
                )
            )
        else:
            months.setdefault(month, number)
    return next(iter(months), None)


def reconcile(
    source: str,
    values: dict[str, np.ndarray],
    names: dict[str, str],
    counts: list[str],
    total: np.ndarray,
    label: str,
    rows: np.ndarray | None = None,
) -> list[Problem]:
    """Each count column of the provider rows sums to the total row's (``label``: what the file calls it).

    ``values`` holds each count's column by its name in the file (``names``), total row included; ``rows``
    is the row number to name for each value (default: counted from 1)."""
    if total.sum() != 1:
        return []
    at = int(np.flatnonzero(total)[0])
    problems = []
    for count in counts:
        column = values[names[count]]
        stated, summed = column[at], column[~total].sum()
        if stated != summed:
            problems.append(
                Problem(
                    source,
                    at + 1 if rows is None else int(rows[at]),
                    names[count],
                    f"the {label} row says {stated:,.0f} but the providers' rows sum to {summed:,.0f}",
                )
            )
    return problems


def check_breaches(
    source: str,
    values: dict[str, np.ndarray],
    names: dict[str, str],
    counts: list[str],
    total: np.ndarray,
    rows: np.ndarray | None = None,
    unattended: bool = False,
) -> list[Problem]:
    """No department type has more attendances over 4 hours than attendances (booked or not); arguments as
    for :func:`reconcile`. ``unattended``: a type with no attendances is not checked (it gives no
    observation, so its other counts are not used)."""
    problems = []
    for over, seen in BREACHES:
        if over not in counts:
            continue
        checked = ~total & (values[names[seen]] > 0) if unattended else ~total
        for i in np.flatnonzero((values[names[over]] > values[names[seen]]) & checked):
            problems.append(
                Problem(
                    source,
                    int(i) + 1 if rows is None else int(rows[i]),
                    names[over],
                    f"more than the attendances ({names[seen]})",
                )
            )
    return problems


def organisations_of(codes: np.ndarray, names: pd.Series) -> pd.DataFrame:
    """The providers named by a month's rows, their kinds from ODS (:mod:`carelens.ingest.reference`)."""
    kinds = [kind_of(c) for c in codes]
    return pd.DataFrame(
        {
            "code": codes,
            "name": names.astype(object).to_numpy(),
            "kind": [k.value for k in kinds],
            "subtype": None,
            "sector": [DEFAULT_SECTOR[k].value for k in kinds],
        }
    )


def observations_of(codes: np.ndarray, month: dt.date, numbers: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per department type with attendances: 4-hour breaches, admissions and (when published) booked.

    ``numbers`` holds each provider's counts by their names in :data:`COUNTS` (the booked ones optional)."""
    frames = []
    zero = np.zeros(len(codes))
    for kind in TYPES:
        booked = numbers.get(f"booked_{kind}", zero)
        attendances = numbers[f"attendances_{kind}"] + booked
        numerators = {
            "ae_4hr_breach_": numbers[f"over4_{kind}"] + numbers.get(f"booked_over4_{kind}", zero),
            "ae_admissions_": numbers[f"admissions_{kind}"],
        }
        if f"booked_{kind}" in numbers:
            numerators["ae_booked_"] = booked
        seen = attendances > 0
        for prefix, numerator in numerators.items():
            frames.append(
                pd.DataFrame(
                    {
                        "indicator_id": prefix + kind,
                        "org_code": codes[seen],
                        "period": month,
                        "numerator": numerator[seen],
                        "denominator": attendances[seen],
                        "expected": np.nan,
                        "value": numerator[seen] / attendances[seen],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)[list(OBSERVATION_COLUMNS)]


def folder(path: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every month's file under ``path``, oldest month first, and what is skipped (see
    :func:`~carelens.ingest.sources.base.monthly_files`). A file is recognised by its header (``Period``
    and ``Org Code`` first) and its month by its first row."""
    return monthly_files(path, month_of_file)


def month_of_file(path: Path) -> dt.date | str | None:
    """A file's month from its first row, why it is not a monthly A&E file, or None when unreadable."""
    if path.suffix.lower() != ".csv":
        return "not a CSV file"
    header, first = _first_rows(path)
    if [h.strip() for h in header[:2]] != [PERIOD, CODE]:
        return "not a monthly A&E file (its header does not start Period, Org Code)"
    return month_of(first[0]) if first else None


def _first_rows(path: Path) -> tuple[list[str], list[str]]:
    """The header and first data row of a file, or empty lists when it cannot be read as CSV text."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            return next(rows, []), next(rows, [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return [], []


SOURCE = Source(
    "ae-monthly",
    "NHS England's monthly A&E CSV as published: attendances, 4-hour breaches, admissions and booked "
    "appointments by department type",
    read,
    stored_kinds=True,
    folder=folder,
)
