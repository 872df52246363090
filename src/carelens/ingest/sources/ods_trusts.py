"""NHS trusts from the Organisation Data Service's trust file (``etr.csv``): names, close dates and the
NHS England region each trust is overseen in.

The file is the standard ODS layout: no header row, 27 fields a row, every field quoted. Fields read:
1 organisation code, 2 name, 3 national grouping (the NHS England region code, ``Y56`` ... ``Y63``;
blank for the few trusts outside England's regions), 11 open date and 12 close date (``YYYYMMDD``, the
close date blank while the trust is open). Rows are counted from 1 (there is no header).

Writes every trust (kind ``nhs_trust``; a stored trust keeps its name and gets the close date if it had
none), the seven NHS England regions it refers to, and a trust -> region link (``organisation_region``)
dated from the snapshot: ``--period``, else a year and month in the file name, else the newest open or
close date in the file (the snapshot is at least that recent). The open date is not stored as the
trust's ``valid_from``: carelens reads that as the date of registration with the regulator (a first
inspection is due within 12 months of it, ``planning.yaml``), which an ODS open date is not.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.sources.base import Batch, ProblemList, Source, month_from_name
from carelens.ingest.tables import check_text_file, code_problem, name_problem
from carelens.model.organisations import (
    DEFAULT_SECTOR,
    NHS_ENGLAND_REGIONS,
    OrgKind,
    RelationshipKind,
)

FIELDS = 27
"""Fields in every row of an ODS organisation file."""
CODE, NAME, REGION, OPENED, CLOSED = 0, 1, 2, 10, 11
"""Positions (from 0) of the fields read; the problems name them from 1, as the ODS documentation does."""
FIELD_NAMES = {
    CODE: "1 (organisation code)",
    NAME: "2 (name)",
    REGION: "3 (national grouping: NHS England region)",
    OPENED: "11 (open date)",
    CLOSED: "12 (close date)",
}
REGION_SUBTYPE = "nhse_region"


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _rows(path: Path, source: str) -> list[list[str]]:
    check_text_file(path, header=False)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(Problem(source, None, None, f"cannot read file: {exc}")) from None


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate an ODS trust file; every problem names the file, row and field."""
    source = str(path)
    rows = _rows(path, source)
    problems = ProblemList()
    if not rows:
        raise InputError(Problem(source, None, None, "file is empty"))
    records = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) != FIELDS:
            problems.append(
                Problem(
                    source, number, None, f"{len(row)} fields; an ODS trust file has {FIELDS} (no header row)"
                )
            )
            continue
        code, name, region = row[CODE].strip(), row[NAME].strip(), row[REGION].strip()
        opened, closed = _date(row[OPENED].strip()), _date(row[CLOSED].strip())
        if not code:
            problems.append(Problem(source, number, FIELD_NAMES[CODE], "missing"))
        elif reason := code_problem(code):
            problems.append(Problem(source, number, FIELD_NAMES[CODE], reason))
        elif code in seen:
            problems.append(Problem(source, number, FIELD_NAMES[CODE], f"{code} is also on row {seen[code]}"))
        else:
            seen[code] = number
        if not name:
            problems.append(Problem(source, number, FIELD_NAMES[NAME], "missing"))
        elif reason := name_problem(name):
            problems.append(Problem(source, number, FIELD_NAMES[NAME], reason))
        if region and region not in NHS_ENGLAND_REGIONS:
            problems.append(
                Problem(
                    source,
                    number,
                    FIELD_NAMES[REGION],
                    f"{region!r} is not an NHS England region code ({', '.join(NHS_ENGLAND_REGIONS)})",
                )
            )
        if opened is None:
            problems.append(
                Problem(source, number, FIELD_NAMES[OPENED], f"not a YYYYMMDD date: {row[OPENED]!r}")
            )
        if row[CLOSED].strip() and closed is None:
            problems.append(
                Problem(source, number, FIELD_NAMES[CLOSED], f"not a YYYYMMDD date: {row[CLOSED]!r}")
            )
        if opened and closed and closed < opened:
            problems.append(Problem(source, number, FIELD_NAMES[CLOSED], "closes before it opens"))
        records.append((number, code, name, region or None, opened, closed))
    problems.raise_if_any()

    frame = pd.DataFrame(records, columns=["row", "code", "name", "region", "opened", "closed"])
    snapshot = period or month_from_name(path) or max(d for d in (*frame["opened"], *frame["closed"]) if d)
    trusts = pd.DataFrame(
        {
            "code": frame["code"].astype(object),
            "name": frame["name"].astype(object),
            "kind": OrgKind.NHS_TRUST.value,
            "subtype": None,
            "sector": DEFAULT_SECTOR[OrgKind.NHS_TRUST].value,
            "valid_from": None,
            "valid_to": [d if d else None for d in frame["closed"]],
        }
    )
    used = sorted(frame["region"].dropna().unique())
    regions = pd.DataFrame(
        {
            "code": used,
            "name": [NHS_ENGLAND_REGIONS[c] for c in used],
            "kind": OrgKind.REGION.value,
            "subtype": REGION_SUBTYPE,
            "sector": DEFAULT_SECTOR[OrgKind.REGION].value,
            "valid_from": None,
            "valid_to": None,
        }
    )
    placed = frame[frame["region"].notna()]
    links = pd.DataFrame(
        {
            "kind": RelationshipKind.ORGANISATION_REGION.value,
            "subject_code": placed["code"].astype(object),
            "object_code": placed["region"].astype(object),
            "valid_from": snapshot,
            "row": placed["row"],
        }
    )
    organisations = pd.concat([regions, trusts], ignore_index=True)
    return Batch(source, len(rows), organisations=organisations, relationships=links.reset_index(drop=True))


SOURCE = Source(
    "ods-trusts",
    "NHS trusts from the ODS trust file (etr.csv): names, close dates and NHS England regions",
    read,
)
