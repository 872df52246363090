"""CQC ratings, the long tidy layout: one row per location × level × service × key question.

Columns: ``source`` (hospitals | care_homes), ``location_id``, ``provider_id``, ``location_name``,
``location_type``, ``care_home`` (Y/N), ``level`` (location | service), ``service`` (``Overall`` or a
core-service id), ``key_question`` (``Overall`` or one of the five), ``rating``, ``report_date``
(may be blank), ``report_link_id`` (may be blank); other columns are ignored.

Writes locations (care homes when ``care_home`` is Y) with their names, providers (NHS trusts when the
location type is an NHS healthcare organisation, otherwise independent providers; the file has no
provider names), the provider -> location link dated from the snapshot month (file name, e.g.
``…_2021-04.csv``, or ``--period``), and the published ratings (method ``published``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from carelens.errors import Problem
from carelens.ingest.sources.base import (
    RATING_COLUMNS,
    Batch,
    ProblemList,
    Source,
    links_from,
    month_from_name,
    organisations_from,
    to_dates,
)
from carelens.model.organisations import OrgKind, RelationshipKind
from carelens.tables import NAME_MAX_LENGTH, Column, check_unique, read_text_table, validate

RATINGS = (
    "Outstanding",
    "Good",
    "Requires improvement",
    "Inadequate",
    "No published rating",
    "Inspected but not rated",
    "Insufficient evidence to rate",
    "No action",
)
"""Every rating value CQC publishes, including the not-rated ones."""
KEY_QUESTIONS = ("Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led")
NHS_LOCATION_TYPE = "NHS Healthcare Organisation"
"""CQC location type whose provider is an NHS trust."""
METHOD = "published"
"""Rating method recorded for ratings read from the regulator's publication."""

COLUMNS = [
    Column("location_id", "code"),
    Column("provider_id", "code"),
    Column("location_name", "text", max_length=NAME_MAX_LENGTH),
    Column("location_type", "text"),
    Column("care_home", "text", allowed=("Y", "N")),
    Column("level", "text", allowed=("location", "service")),
    Column("service", "text", max_length=60),
    Column("key_question", "text", allowed=KEY_QUESTIONS),
    Column("rating", "text", allowed=RATINGS),
    Column("report_link_id", "text", allow_missing=True, max_length=60),
]
OPTIONAL = ["report_date", "report_link_id"]


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate a CQC ratings file."""
    source = str(path)
    frame = read_text_table(path, [c.name for c in COLUMNS if c.name not in OPTIONAL] + OPTIONAL)
    problems = ProblemList()
    problems.attempt(validate, frame, COLUMNS, source)
    problems.attempt(check_unique, frame, ["location_id", "level", "service", "key_question"], source)
    raw_dates = frame["report_date"].astype("string")
    parsed = pd.to_datetime(raw_dates, errors="coerce", format="ISO8601")
    bad = parsed.isna() & raw_dates.notna() & (raw_dates.str.strip() != "")
    problems += [
        Problem(source, int(i) + 1, "report_date", f"not a date: {raw_dates.iloc[i][:40]!r}")
        for i in bad.to_numpy().nonzero()[0]
    ]
    links = links_from(frame, RelationshipKind.PROVIDER_LOCATION.value, "provider_id", "location_id", None)
    for row, code in links.loc[links.duplicated("object_code"), ["row", "object_code"]].itertuples(
        index=False
    ):
        problems.append(
            Problem(source, int(row), "provider_id", f"location {code} has more than one provider")
        )
    problems.raise_if_any()

    links["valid_from"] = period or month_from_name(path)
    is_care_home = frame["care_home"].str.strip() == "Y"
    homes = organisations_from(frame[is_care_home], "location_id", "location_name", OrgKind.CARE_HOME)
    sites = organisations_from(frame[~is_care_home], "location_id", "location_name", OrgKind.LOCATION)
    is_nhs = frame["location_type"].str.strip() == NHS_LOCATION_TYPE
    trusts = organisations_from(frame[is_nhs], "provider_id", None, OrgKind.NHS_TRUST)
    others = organisations_from(frame[~is_nhs], "provider_id", None, OrgKind.INDEPENDENT_PROVIDER)
    both_kinds = set(homes["code"]) & set(sites["code"])
    problems += [
        Problem(source, None, "care_home", f"location {c} is marked both Y and N") for c in sorted(both_kinds)
    ]
    both = set(trusts["code"]) & set(others["code"])
    problems += [
        Problem(source, None, "provider_id", f"provider {c} runs both NHS and non-NHS locations")
        for c in sorted(both)
    ]
    problems.raise_if_any()

    ratings = pd.DataFrame(
        {
            "org_code": frame["location_id"].str.strip().astype(object),
            "level": frame["level"].str.strip().astype(object),
            "service": frame["service"].str.strip().astype(object),
            "key_question": frame["key_question"].str.strip().astype(object),
            "rating": frame["rating"].str.strip().astype(object),
            "report_date": to_dates(parsed),
            "report_link_id": frame["report_link_id"]
            .astype(object)
            .where(frame["report_link_id"].notna(), None),
            "method": METHOD,
        }
    )[list(RATING_COLUMNS)]
    organisations = pd.concat([homes, sites, trusts, others], ignore_index=True)
    return Batch(source, len(frame), organisations=organisations, relationships=links, ratings=ratings)


SOURCE = Source("cqc-ratings", "CQC locations, providers and published ratings (long tidy file)", read)
