"""Observations of any defined indicator, in carelens's own tidy layout: how an analyst brings an
indicator carelens has no publisher's reader for.

Columns: ``indicator_id`` (an id defined in the indicator files), ``org_code`` (an organisation already
in the store: load the organisations first), ``period`` (the period's first day), ``numerator``, and
``denominator`` and/or ``expected`` as the indicator's value type needs them: ``expected`` for an
indirectly standardised ratio (value = numerator / expected), ``denominator`` otherwise (value =
numerator / denominator; a proportion's numerator may not exceed it). A cell an indicator does not use
may be left empty. Every problem is named by file, row and column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.errors import Problem
from carelens.ingest.sources.base import Batch, ProblemList, Source, not_month_starts, to_dates
from carelens.model.indicators import ValueType, load_indicators
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.tables import Column, check_unique, read_text_table, validate

COLUMNS = [
    Column("indicator_id", "text"),
    Column("org_code", "code"),
    Column("period", "date"),
    Column("numerator", "number", min_value=0),
    Column("denominator", "number", positive=True, allow_missing=True),
    Column("expected", "number", positive=True, allow_missing=True),
]
KEY = ["indicator_id", "org_code", "period"]


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and check an observations file (``period`` is ignored: every row has its own)."""
    source = str(path)
    problems = ProblemList()
    frame = problems.attempt(read_text_table, path, [c.name for c in COLUMNS])
    problems.raise_if_any()
    values = problems.attempt(validate, frame, COLUMNS, source)
    problems.attempt(check_unique, frame, KEY, source)
    problems.raise_if_any()

    definitions = load_indicators()
    ids = frame["indicator_id"].astype(object)
    value_types = ids.map({k: d.value_type for k, d in definitions.items()})
    for i in np.flatnonzero(value_types.isna().to_numpy()):
        problems.append(
            Problem(source, int(i) + 1, "indicator_id", f"no indicator definition for {ids.iloc[i]!r}")
        )
    ratio = (value_types == ValueType.INDIRECTLY_STANDARDISED_RATIO).to_numpy()
    known = value_types.notna().to_numpy()
    numerator, denominator, expected = values["numerator"], values["denominator"], values["expected"]
    for i in np.flatnonzero(known & ratio & np.isnan(expected)):
        problems.append(
            Problem(source, int(i) + 1, "expected", "required for an indirectly standardised ratio")
        )
    for i in np.flatnonzero(known & ~ratio & np.isnan(denominator)):
        problems.append(
            Problem(source, int(i) + 1, "denominator", f"required for {value_types.iloc[i]} indicators")
        )
    proportion = (value_types == ValueType.PROPORTION).to_numpy()
    for i in np.flatnonzero(proportion & (numerator > denominator)):
        problems.append(
            Problem(
                source,
                int(i) + 1,
                "numerator",
                f"{numerator[i]:g} exceeds the denominator {denominator[i]:g}",
            )
        )
    problems += not_month_starts(source, pd.DatetimeIndex(values["period"]), frame["period"], 1)
    problems.raise_if_any()

    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(ratio, numerator / expected, numerator / denominator)
    observations = pd.DataFrame(
        {
            "indicator_id": ids,
            "org_code": frame["org_code"].astype(object),
            "period": to_dates(values["period"]),
            "numerator": numerator,
            "denominator": denominator,
            "expected": expected,
            "value": value,
        }
    )[list(OBSERVATION_COLUMNS)]
    rows = np.arange(1, len(frame) + 1)
    return Batch(source, len(frame), observations=observations, observation_rows=rows)


SOURCE = Source(
    "observations", "Observations of any defined indicator (indicator_id, org_code, period, counts)", read
)
