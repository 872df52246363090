"""NHS England A&E attendances and emergency admissions, monthly, by provider and department type.

Columns (the tidy NHSRdatasets ``ae_attendances`` layout): ``period`` (month start), ``org_code``
(ODS code), ``type`` (``1``, ``2`` or ``other``), ``attendances``, ``breaches`` (over 4 hours),
``admissions`` (emergency admissions via A&E). Each row gives two observations: the 4-hour breach
proportion ``ae_4hr_breach_<type>`` and the admission proportion ``ae_admissions_<type>``, both over
attendances (admissions may exceed attendances: a handful of real rows do, e.g. RTX type 2 in
October 2018, so that is not treated as an error). Providers are recorded by code only: a stored kind is
kept, else the kind comes from the packaged ODS files (:mod:`carelens.ingest.reference`, e.g. walk-in
centres such as Y03082 are sites, not GP practices), and only a code ODS does not list (a provider that
closed before the packaged snapshots) falls back to the shape of its code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.reference import kind_of
from carelens.ingest.sources.base import Batch, ProblemList, SeenKeys, Source, not_month_starts, to_dates
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.model.organisations import DEFAULT_SECTOR, kind_from_ods_code
from carelens.tables import Column, check_unique, iter_text_table, validate

DEPARTMENT_TYPES = {"1": "type1", "2": "type2", "other": "other"}
"""A&E department types (1 major consultant-led, 2 single-specialty, other: MIU, walk-in, UTC) and the
suffix of their indicator ids."""

COLUMNS = [
    Column("period", "date"),
    Column("org_code", "code"),
    Column("type", "text", allowed=tuple(DEPARTMENT_TYPES)),
    Column("attendances", "count", positive=True),
    Column("breaches", "count"),
    Column("admissions", "count"),
]
KEY = ["org_code", "period", "type"]


def stream(path: Path, period: dt.date | None, problems: ProblemList) -> Iterator[Batch]:
    """Read and validate an A&E file batch by batch (``period`` is ignored: every row has its own).

    A key repeated within a batch or across batches is reported with the row it was first seen on.
    """
    source = str(path)
    chunks = problems.attempt(iter_text_table, path, [c.name for c in COLUMNS])
    if chunks is None:
        return
    seen = SeenKeys()
    try:
        for frame in chunks:
            batch = _batch(frame, source, problems, seen)
            if batch is not None:
                yield batch
    except InputError as error:
        problems.extend(error.problems)


def _batch(frame: pd.DataFrame, source: str, problems: ProblemList, seen: SeenKeys) -> Batch | None:
    first = int(frame.attrs["first_row"])
    found = ProblemList()
    values = found.attempt(validate, frame, COLUMNS, source)
    found.attempt(check_unique, frame, KEY, source)
    if values is not None:
        months = pd.DatetimeIndex(values["period"])
        types = pd.Categorical(frame["type"], categories=list(DEPARTMENT_TYPES)).codes.astype(np.uint64)
        keys = seen.pack((months.year * 12 + months.month - 1).to_numpy(), frame["org_code"], types)
        found += [
            Problem(
                source,
                row,
                "org_code",
                f"duplicate key period={frame['period'].iloc[row - first]}, org_code="
                f"{frame['org_code'].iloc[row - first]}, type={frame['type'].iloc[row - first]} "
                f"(first seen on row {earlier})",
            )
            for row, earlier in seen.repeats(keys, np.arange(first, first + len(frame)))
        ]
        found += not_month_starts(source, months, frame["period"], first)
        over = np.flatnonzero(values["breaches"] > values["attendances"])
        found += [Problem(source, int(i) + first, "breaches", "more breaches than attendances") for i in over]
    problems.extend(found)
    if found or problems:
        return None

    # Rows in the order of the observation table's unique index (indicator, code, month), sorted here on
    # the reading thread: the store builds or updates that index fastest from sorted rows.
    types = pd.Categorical(frame["type"], categories=list(DEPARTMENT_TYPES)).codes  # all valid here
    suffix_rank = np.argsort(np.argsort(list(DEPARTMENT_TYPES.values())))  # the ids' text order
    code_rank, _ = pd.factorize(frame["org_code"], sort=True)
    order = np.lexsort((values["period"], code_rank, suffix_rank[types]))
    codes = frame["org_code"].astype(object).to_numpy()[order]
    periods = to_dates(values["period"][order])
    types = types[order]
    observations = pd.concat(
        [
            pd.DataFrame(
                {
                    "indicator_id": np.array([prefix + s for s in DEPARTMENT_TYPES.values()], dtype=object)[
                        types
                    ],
                    "org_code": codes,
                    "period": periods.to_numpy(),
                    "numerator": values[numerator][order],
                    "denominator": values["attendances"][order],
                    "expected": np.nan,
                    "value": values[numerator][order] / values["attendances"][order],
                }
            )
            for prefix, numerator in (("ae_4hr_breach_", "breaches"), ("ae_admissions_", "admissions"))
        ],
        ignore_index=True,
    )[list(OBSERVATION_COLUMNS)]
    distinct = sorted(set(codes))
    kinds = [kind_of(c, kind_from_ods_code) for c in distinct]
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


def read(path: Path, period: dt.date | None = None) -> Batch:
    """The whole file as one batch (for callers that want it in memory; imports use :func:`stream`)."""
    problems = ProblemList()
    batches = list(stream(path, period, problems))
    problems.raise_if_any()
    if len(batches) == 1:
        return batches[0]
    return Batch(
        str(path),
        sum(b.rows for b in batches),
        organisations=pd.concat([b.organisations for b in batches]).drop_duplicates("code"),
        observations=pd.concat([b.observations for b in batches], ignore_index=True),
    )


SOURCE = Source(
    "ae",
    "A&E attendances, 4-hour breaches and admissions by month and department type",
    read,
    stream,
    stored_kinds=True,
)
