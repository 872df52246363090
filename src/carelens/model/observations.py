"""The canonical shape of an observation: one indicator value for one organisation and period.

This is the single place that names the observation columns and their types. The database table
(``carelens.store.schema``), the Parquet store and the synthetic generator all follow it.

``period`` is the first day of the period the value describes (a month, quarter or year start, or a
release date for rolling indicators). ``numerator``, ``denominator`` and ``expected`` may be null when
an indicator does not have them (e.g. a mean has no numerator); ``value`` is always present.
"""

from __future__ import annotations

import pyarrow as pa

OBSERVATION_COLUMNS: tuple[str, ...] = (
    "indicator_id",
    "org_code",
    "period",
    "numerator",
    "denominator",
    "expected",
    "value",
)
"""Column order for every observation table, file and frame."""

OBSERVATION_DTYPES: dict[str, str] = {
    "indicator_id": "string",
    "org_code": "string",
    "period": "datetime64[s]",
    "numerator": "float64",
    "denominator": "float64",
    "expected": "float64",
    "value": "float64",
}
"""pandas dtypes of the columns (``period`` holds midnight of the period's first day)."""

OBSERVATION_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("indicator_id", pa.string(), nullable=False),
        pa.field("org_code", pa.string(), nullable=False),
        pa.field("period", pa.date32(), nullable=False),
        pa.field("numerator", pa.float64(), nullable=True),
        pa.field("denominator", pa.float64(), nullable=True),
        pa.field("expected", pa.float64(), nullable=True),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
"""Arrow schema of the columns, as written to Parquet (``period`` is a calendar date)."""

OBSERVATION_KEY: tuple[str, ...] = ("indicator_id", "org_code", "period")
"""One current value per key; a later import of the same key supersedes the earlier one."""
