"""NHS England A&E attendances and emergency admissions, monthly, by provider and department type.

Columns (the tidy NHSRdatasets ``ae_attendances`` layout): ``period`` (month start), ``org_code``
(ODS code), ``type`` (``1``, ``2`` or ``other``), ``attendances``, ``breaches`` (over 4 hours),
``admissions`` (emergency admissions via A&E). Each row gives two observations: the 4-hour breach
proportion ``ae_4hr_breach_<type>`` and the admission proportion ``ae_admissions_<type>``, both over
attendances (admissions may exceed attendances: a handful of real rows do, e.g. RTX type 2 in
October 2018, so that is not treated as an error). Providers are recorded by code only; their kind is guessed from the code's shape.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from carelens.errors import Problem
from carelens.ingest.sources.base import Batch, ProblemList, Source, to_dates
from carelens.ingest.tables import Column, check_unique, read_table, validate
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.model.organisations import DEFAULT_SECTOR, kind_from_ods_code

DEPARTMENT_TYPES = {"1": "type1", "2": "type2", "other": "other"}
"""A&E department types (1 major consultant-led, 2 single-specialty, other: MIU, walk-in, UTC) and the
suffix of their indicator ids."""

COLUMNS = [
    Column("period", "date"),
    Column("org_code", "text"),
    Column("type", "text", allowed=tuple(DEPARTMENT_TYPES)),
    Column("attendances", "count", positive=True),
    Column("breaches", "count"),
    Column("admissions", "count"),
]


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate an A&E file (``period`` is ignored: every row has its own)."""
    source = str(path)
    frame = read_table(path, [c.name for c in COLUMNS])
    frame["type"] = frame["type"].astype("string")
    problems = ProblemList()
    values = problems.attempt(validate, frame, COLUMNS, source)
    problems.attempt(check_unique, frame, ["period", "org_code", "type"], source)
    if values is not None:
        months = pd.to_datetime(frame["period"])
        problems += [
            Problem(source, int(i) + 1, "period", f"not the first day of a month: {frame['period'].iloc[i]}")
            for i in (months.dt.day != 1).to_numpy().nonzero()[0]
        ]
        over = (values["breaches"] > values["attendances"]).nonzero()[0]
        problems += [Problem(source, int(i) + 1, "breaches", "more breaches than attendances") for i in over]
    problems.raise_if_any()

    codes = frame["org_code"].astype(str).str.strip()
    periods = to_dates(frame["period"])
    suffix = frame["type"].astype(str).str.strip().map(DEPARTMENT_TYPES)
    observations = pd.concat(
        [
            pd.DataFrame(
                {
                    "indicator_id": (prefix + suffix).astype(object),
                    "org_code": codes.astype(object),
                    "period": periods,
                    "numerator": values[numerator],
                    "denominator": values["attendances"],
                    "expected": None,
                    "value": values[numerator] / values["attendances"],
                }
            )
            for prefix, numerator in (("ae_4hr_breach_", "breaches"), ("ae_admissions_", "admissions"))
        ],
        ignore_index=True,
    )[list(OBSERVATION_COLUMNS)]
    distinct = sorted(codes.unique())
    kinds = [kind_from_ods_code(c) for c in distinct]
    organisations = pd.DataFrame(
        {
            "code": distinct,
            "name": None,
            "kind": [k.value for k in kinds],
            "subtype": None,
            "sector": [DEFAULT_SECTOR[k].value for k in kinds],
        }
    )
    return Batch(source, len(frame), organisations=organisations, observations=observations)


SOURCE = Source("ae", "A&E attendances, 4-hour breaches and admissions by month and department type", read)
