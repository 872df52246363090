"""The Organisation Data Service's reference files, as published: NHS trusts (``etr``), sub-ICB locations
(``eccg``), GP practices and other prescribing settings (``epraccur``) and successions (``succ``).

The organisation files share the ODS layout: no header row, 27 fields a row, every field quoted; rows are
counted from 1 (there is no header) and problems name fields by their ODS number. Fields read: 1 code,
2 name, 3 national grouping (the NHS England region, ``Y56`` ... ``Y63``; in ``epraccur`` also the
regions before 2020, so not read there), 4 high-level health geography (the integrated care board), 11
open date and 12 close date (``YYYYMMDD``, blank while open); in ``epraccur`` also 15 the commissioner
(sub-ICB location) and 26 the prescribing setting (4 = GP practice). ``succ`` has 5 fields: predecessor,
successor, (blank), effective date and a 0/1 indicator (not read).

Kinds come from the file read, never from the shape of a code. Links are dated from the snapshot:
``--period``, else a year and month in the file name, else the newest open or close date in the file. The
open date is not stored as ``valid_from``: carelens reads that as the date of registration with the
regulator, which an ODS open date is not; a close date is stored as ``valid_to``.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.reference import kind_of_prescribing_setting
from carelens.ingest.sources.base import Batch, ProblemList, Source, month_from_name
from carelens.model.organisations import (
    DEFAULT_SECTOR,
    NHS_ENGLAND_REGIONS,
    OrgKind,
    RelationshipKind,
)
from carelens.tables import check_text_file, code_problem, name_problem

FIELDS = 27
"""Fields in every row of an ODS organisation file."""
CODE, NAME, REGION, ICB, OPENED, CLOSED, COMMISSIONER, SETTING = 0, 1, 2, 3, 10, 11, 14, 25
"""Positions (from 0) of the fields read; the problems name them from 1, as the ODS documentation does."""
FIELD_NAMES = {
    CODE: "1 (organisation code)",
    NAME: "2 (name)",
    REGION: "3 (national grouping: NHS England region)",
    ICB: "4 (high-level health geography: ICB)",
    OPENED: "11 (open date)",
    CLOSED: "12 (close date)",
    COMMISSIONER: "15 (commissioner)",
    SETTING: "26 (prescribing setting)",
}
SUCCESSION_FIELDS = 5
PREDECESSOR, SUCCESSOR, EFFECTIVE = 0, 1, 3
SUCCESSION_NAMES = {
    PREDECESSOR: "1 (predecessor)",
    SUCCESSOR: "2 (successor)",
    EFFECTIVE: "4 (effective date)",
}
REGION_SUBTYPE = "nhse_region"
PRESCRIBING_SETTINGS = {
    "0": "other",
    "1": "walk_in_centre",
    "2": "out_of_hours",
    "3": "walk_in_and_out_of_hours",
    "4": "gp_practice",
    "8": "public_health",
    "9": "community_health",
    "10": "hospital",
    "11": "optometry",
    "12": "urgent_and_emergency_care",
    "13": "hospice",
    "14": "care_home",
    "15": "border_force",
    "16": "young_offender_institution",
    "17": "secure_training_centre",
    "18": "secure_childrens_home",
    "19": "immigration_removal_centre",
    "20": "court",
    "21": "police_custody",
    "22": "sexual_assault_referral_centre",
    "24": "other_justice_estate",
    "25": "prison",
    "26": "primary_care_network",
}
"""ODS prescribing settings (``epraccur`` field 26), stored as the subtype of the organisation."""


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def ods_rows(path: Path, fields: int, what: str = "organisation") -> list[list[str]]:
    """The rows of an ODS file (no header), each checked to have ``fields`` fields."""
    source = str(path)
    check_text_file(path, header=False)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(Problem(source, None, None, f"cannot read file: {exc}")) from None
    if not rows:
        raise InputError(Problem(source, None, None, "file is empty"))
    wrong = [
        Problem(source, n, None, f"{len(row)} fields; an ODS {what} file has {fields} (no header row)")
        for n, row in enumerate(rows, start=1)
        if len(row) != fields
    ]
    if wrong:
        raise InputError(wrong[:1000])
    return rows


def _code(
    source: str, number: int, field: str, code: str, problems: list[Problem], required: bool = True
) -> None:
    if not code:
        if required:
            problems.append(Problem(source, number, field, "missing"))
    elif reason := code_problem(code):
        problems.append(Problem(source, number, field, reason))


@dataclass(frozen=True)
class Read:
    """An ODS organisation file's checked rows (``row``, ``code``, ``name``, ``region``, ``icb``,
    ``closed`` and any extra fields asked for) and the snapshot date its links are dated from."""

    frame: pd.DataFrame
    snapshot: dt.date


def read_organisation_rows(
    path: Path, period: dt.date | None, regions: bool = True, extra: tuple[int, ...] = ()
) -> Read:
    """Read and check an ODS organisation file; every problem names the file, row and ODS field.

    ``regions``: field 3 must be one of today's NHS England regions (or blank) and is kept.
    """
    source = str(path)
    rows = ods_rows(path, FIELDS)
    problems = ProblemList()
    records = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        code, name, region, icb = (row[i].strip() for i in (CODE, NAME, REGION, ICB))
        opened, closed = _date(row[OPENED].strip()), _date(row[CLOSED].strip())
        _code(source, number, FIELD_NAMES[CODE], code, problems)
        if code and code in seen:
            problems.append(Problem(source, number, FIELD_NAMES[CODE], f"{code} is also on row {seen[code]}"))
        seen.setdefault(code, number)
        if not name:
            problems.append(Problem(source, number, FIELD_NAMES[NAME], "missing"))
        elif reason := name_problem(name):
            problems.append(Problem(source, number, FIELD_NAMES[NAME], reason))
        if regions and region and region not in NHS_ENGLAND_REGIONS:
            problems.append(
                Problem(
                    source,
                    number,
                    FIELD_NAMES[REGION],
                    f"{region!r} is not an NHS England region code ({', '.join(NHS_ENGLAND_REGIONS)})",
                )
            )
        _code(source, number, FIELD_NAMES[ICB], icb, problems, required=False)
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
        values = (number, code, name, region if regions and region else None, icb or None, opened, closed)
        records.append(values + tuple(row[i].strip() for i in extra))
    problems.raise_if_any()
    frame = pd.DataFrame(
        records, columns=["row", "code", "name", "region", "icb", "opened", "closed", *map(str, extra)]
    )
    newest = max(d for d in (*frame["opened"], *frame["closed"]) if d)
    return Read(frame, period or month_from_name(path) or newest)


def _organisations(frame: pd.DataFrame, kind: OrgKind, subtype=None, names: bool = True) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": frame["code"].astype(object),
            "name": frame["name"].astype(object) if names else None,
            "kind": kind.value,
            "subtype": subtype,
            "sector": DEFAULT_SECTOR[kind].value,
            "valid_from": None,
            "valid_to": [d if d else None for d in frame["closed"]] if "closed" in frame else None,
        }
    )


def _regions(codes) -> pd.DataFrame:
    """The NHS England regions among ``codes``, named."""
    used = sorted(set(codes.dropna()))
    frame = pd.DataFrame({"code": used, "name": [NHS_ENGLAND_REGIONS[c] for c in used], "closed": None})
    return _organisations(frame, OrgKind.REGION, REGION_SUBTYPE)


def _commissioners(codes, subtype: str | None) -> pd.DataFrame:
    """Commissioners named by code only (an ICB in field 4, a practice's commissioner in field 15)."""
    used = sorted(set(codes.dropna()) - {""})
    return _organisations(
        pd.DataFrame({"code": used, "name": None}), OrgKind.COMMISSIONER, subtype, names=False
    )


def _links(frame: pd.DataFrame, kind: RelationshipKind, column: str, valid_from: dt.date) -> pd.DataFrame:
    placed = frame[frame[column].notna() & (frame[column] != "")]
    return pd.DataFrame(
        {
            "kind": kind.value,
            "subject_code": placed["code"].astype(object),
            "object_code": placed[column].astype(object),
            "valid_from": valid_from,
            "row": placed["row"],
        }
    )


def _batch(path: Path, rows: int, organisations: list[pd.DataFrame], links: list[pd.DataFrame]) -> Batch:
    return Batch(
        str(path),
        rows,
        organisations=pd.concat(organisations, ignore_index=True).drop_duplicates("code"),
        relationships=pd.concat(links, ignore_index=True),
    )


def read_etr(path: Path, period: dt.date | None = None) -> Batch:
    """NHS trusts with their names, close dates, NHS England region and integrated care board."""
    read = read_organisation_rows(path, period)
    frame = read.frame
    return _batch(
        path,
        len(frame),
        [
            _regions(frame["region"]),
            _commissioners(frame["icb"], "icb"),
            _organisations(frame, OrgKind.NHS_TRUST),
        ],
        [
            _links(frame, RelationshipKind.ORGANISATION_REGION, "region", read.snapshot),
            _links(frame, RelationshipKind.ORGANISATION_ICB, "icb", read.snapshot),
        ],
    )


def read_eccg(path: Path, period: dt.date | None = None) -> Batch:
    """Sub-ICB locations (formerly CCGs) with names, close dates, region and the ICB they are part of."""
    read = read_organisation_rows(path, period)
    frame = read.frame
    return _batch(
        path,
        len(frame),
        [
            _regions(frame["region"]),
            _commissioners(frame["icb"], "icb"),
            _organisations(frame, OrgKind.COMMISSIONER, "ccg"),
        ],
        [
            _links(frame, RelationshipKind.COMMISSIONER_REGION, "region", read.snapshot),
            _links(frame, RelationshipKind.COMMISSIONER_PARENT, "icb", read.snapshot),
        ],
    )


def read_epraccur(path: Path, period: dt.date | None = None) -> Batch:
    """GP practices (prescribing setting 4) and other prescribing settings (sites: walk-in centres, out of
    hours services ...) with names, close dates and, for practices, their commissioner."""
    source = str(path)
    read = read_organisation_rows(path, period, regions=False, extra=(COMMISSIONER, SETTING))
    frame = read.frame.rename(columns={str(COMMISSIONER): "commissioner", str(SETTING): "setting"})
    problems = ProblemList()
    for number, setting, commissioner in zip(
        frame["row"], frame["setting"], frame["commissioner"], strict=True
    ):
        if setting not in PRESCRIBING_SETTINGS:
            problems.append(
                Problem(
                    source,
                    int(number),
                    FIELD_NAMES[SETTING],
                    f"{setting!r} is not an ODS prescribing setting",
                )
            )
        _code(source, int(number), FIELD_NAMES[COMMISSIONER], commissioner, problems, required=False)
    problems.raise_if_any()
    kinds = frame["setting"].map(kind_of_prescribing_setting)
    organisations = _organisations(frame, OrgKind.GP_PRACTICE).assign(
        kind=kinds.map(str),
        subtype=frame["setting"].map(PRESCRIBING_SETTINGS),
        sector=kinds.map(lambda k: DEFAULT_SECTOR[OrgKind(k)].value),
    )
    practices = frame[kinds == OrgKind.GP_PRACTICE]
    return _batch(
        path,
        len(frame),
        [_commissioners(practices["commissioner"], None), organisations],
        [_links(practices, RelationshipKind.PRACTICE_COMMISSIONER, "commissioner", read.snapshot)],
    )


def read_succ(path: Path, period: dt.date | None = None) -> Batch:
    """Successions (mergers, renames): each a ``succeeded_by`` link from the predecessor to the successor,
    valid from the effective date. The file covers every kind of organisation: a succession naming an
    organisation the store does not hold is left out (``known_only``)."""
    source = str(path)
    rows = ods_rows(path, SUCCESSION_FIELDS, "succession")
    problems = ProblemList()
    records = []
    for number, row in enumerate(rows, start=1):
        before, after, text = row[PREDECESSOR].strip(), row[SUCCESSOR].strip(), row[EFFECTIVE].strip()
        _code(source, number, SUCCESSION_NAMES[PREDECESSOR], before, problems)
        _code(source, number, SUCCESSION_NAMES[SUCCESSOR], after, problems)
        if before and before == after:
            problems.append(
                Problem(source, number, SUCCESSION_NAMES[SUCCESSOR], "the same as the predecessor")
            )
        effective = _date(text)
        if effective is None:
            problems.append(
                Problem(source, number, SUCCESSION_NAMES[EFFECTIVE], f"not a YYYYMMDD date: {text!r}")
            )
        records.append((RelationshipKind.SUCCEEDED_BY.value, before, after, effective, number))
    problems.raise_if_any()
    links = pd.DataFrame(records, columns=["kind", "subject_code", "object_code", "valid_from", "row"])
    return Batch(source, len(rows), relationships=links.drop_duplicates(["subject_code", "object_code"]))


ETR = Source(
    "ods-etr",
    "NHS trusts from the ODS trust file (etr.csv): names, close dates, NHS England regions and ICBs",
    read_etr,
)
ECCG = Source(
    "ods-eccg",
    "Sub-ICB locations (CCGs) from the ODS file eccg.csv: names, close dates, regions and parent ICBs",
    read_eccg,
)
EPRACCUR = Source(
    "ods-epraccur",
    "GP practices and other prescribing settings from the ODS file epraccur.csv, with their commissioners",
    read_epraccur,
)
SUCC = Source(
    "ods-succ",
    "Successions (mergers, renames) from the ODS file succ.csv, between organisations already stored",
    read_succ,
    known_only=True,
)
