"""ONS mid-year population estimates by single year of age and sex (the NHSRdatasets layout).

Columns: ``sex`` (females | males), ``Code`` (GSS code), ``Name``, ``Geography`` (see
:data:`GEOGRAPHY_KINDS`), ``age`` (``0`` … ``89``, ``90+``), ``count``. The year is the four-digit
year in the file name (``ons_uk_population_2023.csv``) or ``--period``. Writes the areas as
organisations and one ``resident`` population row per area, age and sex.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd

from carelens.errors import Problem
from carelens.ingest.sources.base import POPULATION_COLUMNS, Batch, ProblemList, Source, organisations_from
from carelens.model.organisations import OrgKind
from carelens.tables import NAME_MAX_LENGTH, Column, check_unique, read_text_table, validate

GEOGRAPHY_KINDS = {"Country": OrgKind.COUNTRY, "Region": OrgKind.REGION}
"""ONS geography level -> organisation kind."""
SEXES = {"females": "female", "males": "male"}
AGE_BANDS = (*(str(age) for age in range(90)), "90+")
MEASURE = "resident"

COLUMNS = [
    Column("sex", "text", allowed=tuple(SEXES)),
    Column("Code", "code"),
    Column("Name", "text", max_length=NAME_MAX_LENGTH),
    Column("Geography", "text", allowed=tuple(GEOGRAPHY_KINDS)),
    Column("age", "text", allowed=AGE_BANDS),
    Column("count", "count"),
]


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate an ONS population-by-age-and-sex file."""
    source = str(path)
    frame = read_text_table(path, [c.name for c in COLUMNS])
    problems = ProblemList()
    found = re.search(r"(?<!\d)(\d{4})(?!\d)", path.name)
    year = period.year if period else int(found.group(1)) if found else None
    if year is None:
        problems.append(Problem(source, None, None, "no year in the file name (e.g. _2023): use --period"))
    values = problems.attempt(validate, frame, COLUMNS, source)
    problems.attempt(check_unique, frame, ["Code", "sex", "age"], source)
    problems.raise_if_any()

    geography = frame["Geography"].str.strip()
    organisations = pd.concat(
        [
            organisations_from(frame[geography == g], "Code", "Name", kind)
            for g, kind in GEOGRAPHY_KINDS.items()
        ],
        ignore_index=True,
    )
    populations = pd.DataFrame(
        {
            "org_code": frame["Code"].str.strip().astype(object),
            "year": year,
            "measure": MEASURE,
            "age_band": frame["age"].str.strip().astype(object),
            "sex": frame["sex"].str.strip().map(SEXES).astype(object),
            "count": values["count"],
        }
    )[list(POPULATION_COLUMNS)]
    return Batch(source, len(frame), organisations=organisations, populations=populations)


SOURCE = Source("ons-population", "ONS population estimates by area, single year of age and sex", read)
