"""NHS England GP-practice weighted populations (the ICB allocation formula's practice-level inputs).

One row per GP practice for one financial year, which is read from the file name (``…2024_25…``)
or given with ``--period`` (any date in the year's first month, e.g. 2024-04-01). Writes:

* organisations: practices, PCNs (when given), CCGs / sub-ICB locations (``CCG21``, named by
  ``Former CCG``), ICBs (``ICS22``), NHS England regions (``R22``) and lower-tier local authorities
  (``LAD21``, named by ``LTLA21``);
* dated links (from 1 April of the year): practice -> PCN, practice -> ICB (its commissioner in these
  years), former CCG -> ICB (some CCGs were split between ICBs in 2022), ICB -> region, practice ->
  local authority;
* populations per practice for the year (age band and sex ``all``), one measure per column in
  :data:`MEASURES`. Blank cells (``Patients`` after 2022/23, a few ``Mat WP``) are not stored.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.sources.base import (
    POPULATION_COLUMNS,
    Batch,
    ProblemList,
    Source,
    financial_year_from_name,
    links_from,
    organisations_from,
)
from carelens.model.organisations import ONE_AT_A_TIME, OrgKind, RelationshipKind
from carelens.tables import (
    NAME_MAX_LENGTH,
    Column,
    check_unique,
    read_header,
    read_text_table,
    validate,
)

PROJECTED_POPULATION = re.compile(r"^pop \d{4}/\d{2}$")
"""The projected registered population column (its header names a year, not always the file's own)."""

MEASURES = {
    "Patients": "registered",
    "pop": "projected",
    "G&A WP": "wp_general_acute",
    "CS WP": "wp_community",
    "MH WP": "wp_mental_health",
    "Mat WP": "wp_maternity",
    "Health Ineq WP": "wp_health_inequalities",
    "Prescr WP": "wp_prescribing",
    "Final WP": "wp_core_final",
    "Primary Medical Care WP": "wp_primary_medical_care",
    "Final PMC WP": "wp_primary_medical_care_final",
}
"""File column -> population measure. ``pop`` stands for the ``pop YYYY/YY`` column; ``wp_core_final``
is the core-services weighted population (components weighted together)."""

ORGANISATIONS = [
    # (code column, name column, kind, subtype)
    ("Practice_Code", "GP_Practice_Name", OrgKind.GP_PRACTICE, None),
    ("PCN_Code", "PCN_Name", OrgKind.PCN, None),
    ("CCG21", "Former CCG", OrgKind.COMMISSIONER, "ccg"),
    ("ICS22", "ICS22name", OrgKind.COMMISSIONER, "icb"),
    ("R22", "Region22", OrgKind.REGION, "nhse_region"),
    ("LAD21", "LTLA21", OrgKind.LOCAL_AUTHORITY, "ltla"),
]
LINKS = [
    # (kind, subject column, object column)
    (RelationshipKind.PRACTICE_PCN, "Practice_Code", "PCN_Code"),
    (RelationshipKind.PRACTICE_COMMISSIONER, "Practice_Code", "ICS22"),
    (RelationshipKind.COMMISSIONER_PARENT, "CCG21", "ICS22"),
    (RelationshipKind.COMMISSIONER_REGION, "ICS22", "R22"),
    (RelationshipKind.LOCAL_AUTHORITY_AREA, "Practice_Code", "LAD21"),
]
REQUIRED_CODES = [
    "Practice_Code",
    "GP_Practice_Name",
    "CCG21",
    "ICS22",
    "ICS22name",
    "R22",
    "Region22",
    "LAD21",
]
"""Columns that must be filled on every row (PCN columns and names of CCGs/LAs may be blank)."""
OPTIONAL_TEXT = ["PCN_Code", "PCN_Name", "Former CCG", "LTLA21"]
CODE_COLUMNS = {o[0] for o in ORGANISATIONS}
"""Columns holding organisation codes (the others hold names)."""


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate one year's GP-practice weighted population file."""
    source = str(path)
    header = read_header(path)
    population_column = next((c for c in header if PROJECTED_POPULATION.match(c)), "pop YYYY/YY")
    wanted = [o[0] for o in ORGANISATIONS] + [o[1] for o in ORGANISATIONS]
    wanted += [population_column if m == "pop" else m for m in MEASURES]
    frame = read_text_table(path, wanted)
    year = period.year if period else financial_year_from_name(path)
    problems = ProblemList()
    if year is None:
        problems.append(
            Problem(source, None, None, "no financial year in the file name (e.g. 2024_25): use --period")
        )
    columns = [
        Column(c, "code" if c in CODE_COLUMNS else "text", max_length=NAME_MAX_LENGTH) for c in REQUIRED_CODES
    ]
    columns += [
        Column(c, "code" if c in CODE_COLUMNS else "text", allow_missing=True, max_length=NAME_MAX_LENGTH)
        for c in OPTIONAL_TEXT
    ]
    columns += [
        Column(
            population_column if c == "pop" else c,
            "number",
            min_value=0,
            allow_missing=c in ("Patients", "Mat WP"),
        )
        for c in MEASURES
    ]
    values = problems.attempt(validate, frame, columns, source)
    if values is not None:
        values["pop"] = values.pop(population_column)
    problems.attempt(check_unique, frame, ["Practice_Code"], source)
    organisations = []
    for code, name, kind, subtype in ORGANISATIONS:
        organisations.append(organisations_from(frame, code, name, kind, subtype))
    valid_from = dt.date(year, 4, 1) if year else None
    links = []
    for kind, subject, object_ in LINKS:
        found = links_from(frame, kind.value, subject, object_, valid_from)
        if kind not in ONE_AT_A_TIME:
            links.append(found)
            continue
        holder = "subject_code" if ONE_AT_A_TIME[kind] == "subject" else "object_code"
        for row, code in found.loc[found.duplicated(holder), ["row", holder]].itertuples(index=False):
            column = subject if holder == "subject_code" else object_
            problems.append(
                Problem(source, int(row), object_, f"{column} {code} has more than one {kind.value} link")
            )
        links.append(found)
    problems.raise_if_any()
    if values is None or year is None:  # pragma: no cover - problems were raised above
        raise InputError(list(problems))

    codes = frame["Practice_Code"].str.strip().astype(object)
    populations = pd.concat(
        [
            pd.DataFrame({"org_code": codes, "year": year, "measure": measure, "count": values[column]})
            for column, measure in MEASURES.items()
        ],
        ignore_index=True,
    ).dropna(subset=["count"])
    populations = populations.assign(age_band="all", sex="all")[list(POPULATION_COLUMNS)]
    return Batch(
        source,
        len(frame),
        organisations=pd.concat(organisations, ignore_index=True),
        relationships=pd.concat(links, ignore_index=True),
        populations=populations.reset_index(drop=True),
    )


SOURCE = Source(
    "gp-weighted-population",
    "GP practices, PCNs, commissioners, regions, local authorities, their links and weighted populations",
    read,
)
