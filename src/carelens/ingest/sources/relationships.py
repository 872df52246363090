"""Curated dated relationships between stored organisations: contracts, place and ACO membership,
successions (mergers, splits), or any other :class:`~carelens.model.organisations.RelationshipKind`.

Columns: ``kind``, ``subject_code``, ``object_code``, ``valid_from`` (date, may be blank). Both codes
must already be in the store (load organisations first); an unknown code rejects the whole file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from carelens.errors import Problem
from carelens.ingest.sources.base import RELATIONSHIP_COLUMNS, Batch, ProblemList, Source, to_dates
from carelens.model.organisations import RelationshipKind
from carelens.tables import Column, check_unique, read_text_table, validate

COLUMNS = [
    Column("kind", "text", allowed=tuple(RelationshipKind)),
    Column("subject_code", "code"),
    Column("object_code", "code"),
]


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate a relationships file (``period`` is not used)."""
    source = str(path)
    frame = read_text_table(path)  # all columns: valid_from is optional
    if "valid_from" not in frame.columns:
        frame["valid_from"] = pd.Series([None] * len(frame), dtype=object)
    problems = ProblemList()
    problems.attempt(validate, frame, COLUMNS, source)
    problems.attempt(check_unique, frame, ["kind", "subject_code", "object_code"], source)
    raw = frame["valid_from"].astype("string")
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    problems += [
        Problem(source, int(i) + 1, "valid_from", f"not a date: {raw.iloc[i][:40]!r}")
        for i in (parsed.isna() & raw.notna()).to_numpy().nonzero()[0]
    ]
    problems.raise_if_any()
    links = pd.DataFrame(
        {
            "kind": frame["kind"].str.strip().astype(object),
            "subject_code": frame["subject_code"].str.strip().astype(object),
            "object_code": frame["object_code"].str.strip().astype(object),
            "valid_from": to_dates(parsed),
            "row": range(1, len(frame) + 1),
        }
    )[list(RELATIONSHIP_COLUMNS)]
    return Batch(source, len(frame), relationships=links)


SOURCE = Source("relationships", "Curated dated links: contracts, place/ACO membership, successions", read)
