"""SHMI (Summary Hospital-level Mortality Indicator) releases, one row per trust per release.

Reads both layouts: the consolidated file with a ``DATE`` column (release month), and the raw HSCIC
release files with ``INDICATOR_CODE`` (must be I00699) and no date, whose release month is taken from
the file name (``shmi-2012-april.csv``) or the ``--period`` option. Raw files from 2013 on end with a
blank line and a copyright footer: lines after the data whose first field is empty are dropped.
Header spellings ``PROVIDER NAME`` / ``PROVIDER_NAME`` are both accepted; a blank name is allowed (the
consolidated file lacks names in some releases).

Observation ``shmi``: numerator = observed deaths, expected = expected deaths, denominator =
finished provider spells, value = the published ratio (observed / expected, 4 dp).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.sources.base import (
    Batch,
    ProblemList,
    Source,
    month_from_name,
    organisations_from,
    to_dates,
)
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.model.organisations import kind_from_ods_code
from carelens.tables import NAME_MAX_LENGTH, Column, check_text_file, check_unique, validate

INDICATOR_CODE = "I00699"
"""HSCIC Indicator Portal code of the SHMI."""

COLUMNS = [
    Column("PROVIDER", "code"),
    Column("PROVIDER_NAME", "text", allow_missing=True, max_length=NAME_MAX_LENGTH),
    Column("DENOMINATOR", "count", positive=True),
    Column("OBSERVED", "count"),
    Column("EXPECTED", "number", positive=True),
    Column("VALUE", "number", min_value=0),
]


def _read_without_footer(path: Path) -> pd.DataFrame:
    source = str(path)
    check_text_file(path)  # a release is small: read whole, after checking it is UTF-8 text
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(Problem(source, None, None, f"cannot read file: {exc}")) from None
    lines = text.splitlines()
    while lines and (not lines[-1].strip() or not lines[-1].split(",")[0].strip()):
        lines.pop()
    if not lines:
        raise InputError(Problem(source, None, None, "file is empty (no header row)"))
    if len(lines) == 1:
        raise InputError(Problem(source, None, None, "the file has a header but no data rows"))
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False, na_values=[""], engine="python"
        )
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise InputError(Problem(source, None, None, f"cannot read file: {exc}")) from None
    frame.columns = [str(c).strip().upper().replace(" ", "_") for c in frame.columns]
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise InputError([Problem(source, None, c, "the header names this column twice") for c in repeated])
    return frame


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate one SHMI file (consolidated or raw release)."""
    source = str(path)
    frame = _read_without_footer(path)
    problems = ProblemList()
    required = [c.name for c in COLUMNS]
    if "DATE" not in frame.columns and "INDICATOR_CODE" not in frame.columns:
        required.insert(0, "DATE or INDICATOR_CODE")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(
            [
                Problem(
                    source,
                    None,
                    c,
                    f"required column is missing (columns present: {', '.join(frame.columns)})",
                )
                for c in missing
            ]
        )
    if "INDICATOR_CODE" in frame.columns:
        problems.attempt(
            validate, frame, [Column("INDICATOR_CODE", "text", allowed=(INDICATOR_CODE,))], source
        )
    if "DATE" in frame.columns:
        dates = problems.attempt(validate, frame, [Column("DATE", "date")], source)
        release = to_dates(dates["DATE"]) if dates is not None else None
    else:
        release_month = period or month_from_name(path)
        if release_month is None:
            problems.append(
                Problem(
                    source, None, "DATE", "no DATE column and no release month in the file name: use --period"
                )
            )
        release = pd.Series([release_month] * len(frame), index=frame.index, dtype=object)
    values = problems.attempt(validate, frame, COLUMNS, source)
    if values is not None:
        problems += [
            Problem(source, int(i) + 1, "OBSERVED", "more deaths than spells (DENOMINATOR)")
            for i in np.flatnonzero(values["OBSERVED"] > values["DENOMINATOR"])
        ]
    if release is not None:
        keyed = frame.assign(_release=release)
        problems.attempt(check_unique, keyed, ["PROVIDER", "_release"], source)
    problems.raise_if_any()

    codes = frame["PROVIDER"].str.strip()
    observations = pd.DataFrame(
        {
            "indicator_id": "shmi",
            "org_code": codes.astype(object),
            "period": release,
            "numerator": values["OBSERVED"],
            "denominator": values["DENOMINATOR"],
            "expected": values["EXPECTED"],
            "value": values["VALUE"],
        }
    )[list(OBSERVATION_COLUMNS)]
    organisations = []
    for kind in sorted({kind_from_ods_code(c) for c in codes}):
        chosen = frame[codes.map(kind_from_ods_code) == kind]
        organisations.append(organisations_from(chosen, "PROVIDER", "PROVIDER_NAME", kind))
    return Batch(
        source,
        len(frame),
        organisations=pd.concat(organisations, ignore_index=True),
        observations=observations,
    )


SOURCE = Source("shmi", "SHMI releases: observed and expected deaths per trust per release", read)
