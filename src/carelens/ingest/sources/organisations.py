"""A curated list of organisations, for those no published file provides (places, ACOs, new bodies).

Columns: ``code``, ``name``, ``kind`` (an :class:`~carelens.model.organisations.OrgKind` value),
optional ``subtype``, ``sector`` (blank: the kind's default), ``valid_from``, ``valid_to`` (dates).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from carelens.errors import Problem
from carelens.ingest.sources.base import Batch, ProblemList, Source, to_dates
from carelens.model.organisations import DEFAULT_SECTOR, OrgKind, Sector
from carelens.tables import NAME_MAX_LENGTH, Column, check_unique, read_text_table, validate

COLUMNS = [
    Column("code", "code"),
    Column("name", "text", max_length=NAME_MAX_LENGTH),
    Column("kind", "text", allowed=tuple(OrgKind)),
    Column("subtype", "text", required=False, allow_missing=True, max_length=40),
    Column("sector", "text", required=False, allow_missing=True),
]
OPTIONAL = ("subtype", "sector", "valid_from", "valid_to")


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate an organisations file (``period`` is not used)."""
    source = str(path)
    frame = read_text_table(path)
    problems = ProblemList()
    problems.attempt(validate, frame, COLUMNS, source)
    problems.attempt(check_unique, frame, ["code"], source)
    for column in OPTIONAL:
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), dtype=object)
    sectors = frame["sector"].astype("string").str.strip()
    bad = sectors.notna() & ~sectors.isin(list(Sector))
    problems += [
        Problem(source, int(i) + 1, "sector", f"{sectors.iloc[i]!r} is not one of: {', '.join(Sector)}")
        for i in bad.to_numpy().nonzero()[0]
    ]
    dates = {}
    for column in ("valid_from", "valid_to"):
        raw = frame[column].astype("string")
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        wrong = parsed.isna() & raw.notna()
        problems += [
            Problem(source, int(i) + 1, column, f"not a date: {raw.iloc[i]!r}")
            for i in wrong.to_numpy().nonzero()[0]
        ]
        dates[column] = parsed
    backwards = (dates["valid_to"] < dates["valid_from"]).fillna(False)
    problems += [
        Problem(source, int(i) + 1, "valid_to", "ends before it starts")
        for i in backwards.to_numpy().nonzero()[0]
    ]
    problems.raise_if_any()
    kinds = frame["kind"].str.strip()
    organisations = pd.DataFrame(
        {
            "code": frame["code"].str.strip().astype(object),
            "name": frame["name"].str.strip().astype(object),
            "kind": kinds.astype(object),
            "subtype": frame["subtype"].astype(object).where(frame["subtype"].notna(), None),
            "sector": sectors.fillna(kinds.map(lambda k: DEFAULT_SECTOR[OrgKind(k)].value)).astype(object),
            "valid_from": to_dates(dates["valid_from"]),
            "valid_to": to_dates(dates["valid_to"]),
        }
    )
    return Batch(source, len(frame), organisations=organisations)


SOURCE = Source(
    "organisations",
    "A curated list of organisations (places, ACOs, new bodies)",
    read,
    authoritative_names=True,
)
