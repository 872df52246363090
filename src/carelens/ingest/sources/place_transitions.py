"""Place-level transition indicators for local system reviews (issue 9;
docs/methods/local-system-reviews.md).

One row per organisation (a place, or an ACO, or a local authority) and period, with the counts behind
the transition indicators of ``config/indicators/transitions.yaml``. Columns:

* ``org_code``, ``period`` (first day of the period, e.g. 2017-04-01 for 2017/18); optional
  ``org_name`` and ``org_kind`` (``place`` by default; ``aco`` or ``local_authority``): organisations
  not yet in the store are added;
* ``population_18plus``, ``population_65plus``;
* ``dtoc_days_nhs``, ``dtoc_days_social_care``, ``dtoc_days_both``: delayed transfer of care days by
  attribution (their sum is stored as ``dtoc_total``);
* ``emergency_admissions_65plus``; ``discharges_65plus``, ``readmissions_30d_65plus``,
  ``discharges_usual_residence_65plus``; ``reablement_discharges_65plus``, ``reablement_at_home_91d``.

Cells may be blank (real publications cover different indicators): an observation is written only when
its numerator and denominator are both present. The synthetic data set in ``data/systems`` and
real data (reshaped to these columns) load through this same importer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.errors import Problem
from carelens.ingest.sources.base import Batch, ProblemList, Source, to_dates
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.model.organisations import DEFAULT_SECTOR, OrgKind
from carelens.tables import NAME_MAX_LENGTH, Column, check_unique, read_text_table, validate

KINDS = (OrgKind.PLACE.value, OrgKind.ACO.value, OrgKind.LOCAL_AUTHORITY.value)
COUNTS = (
    "population_18plus",
    "population_65plus",
    "dtoc_days_nhs",
    "dtoc_days_social_care",
    "dtoc_days_both",
    "emergency_admissions_65plus",
    "discharges_65plus",
    "readmissions_30d_65plus",
    "discharges_usual_residence_65plus",
    "reablement_discharges_65plus",
    "reablement_at_home_91d",
)
INDICATORS = {
    # indicator id: (numerator column, denominator column, numerator may not exceed denominator)
    "dtoc_nhs": ("dtoc_days_nhs", "population_18plus", False),
    "dtoc_social_care": ("dtoc_days_social_care", "population_18plus", False),
    "dtoc_both": ("dtoc_days_both", "population_18plus", False),
    "dtoc_total": ("dtoc_days_total", "population_18plus", False),
    "readmission_30d_65plus": ("readmissions_30d_65plus", "discharges_65plus", True),
    "discharge_usual_residence": ("discharges_usual_residence_65plus", "discharges_65plus", True),
    "reablement_at_home_91d": ("reablement_at_home_91d", "reablement_discharges_65plus", True),
    "emergency_admissions_65plus": ("emergency_admissions_65plus", "population_65plus", False),
}
"""Observation written per indicator: numerator / denominator (the store's convention)."""


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate a place transitions file (``period`` fills a missing ``period`` column)."""
    source = str(path)
    frame = read_text_table(path)
    if "period" not in frame.columns and period is not None:
        frame["period"] = period.isoformat()
    for optional in ("org_name", "org_kind"):
        if optional not in frame.columns:
            frame[optional] = pd.Series([None] * len(frame), dtype=object)
    frame["org_kind"] = frame["org_kind"].astype("string").fillna(OrgKind.PLACE.value)
    identity = [
        Column("org_code", "code"),
        Column("period", "date"),
        Column("org_kind", "text", allowed=KINDS),
        Column("org_name", "text", allow_missing=True, max_length=NAME_MAX_LENGTH),
    ]
    problems = ProblemList()
    problems.attempt(validate, frame, identity, source)
    values = problems.attempt(
        validate, frame, [Column(c, "count", allow_missing=True) for c in COUNTS], source
    )
    problems.attempt(check_unique, frame, ["org_code", "period"], source)
    if values is not None:
        for population in ("population_18plus", "population_65plus"):
            for i in np.flatnonzero(values[population] == 0):
                problems.append(Problem(source, int(i) + 1, population, "must be greater than zero"))
        parts = np.column_stack(
            [values[c] for c in ("dtoc_days_nhs", "dtoc_days_social_care", "dtoc_days_both")]
        )
        values["dtoc_days_total"] = np.where(np.isnan(parts).any(axis=1), np.nan, parts.sum(axis=1))
        for indicator, (numerator, denominator, bounded) in INDICATORS.items():
            if bounded:
                for i in np.flatnonzero(values[numerator] > values[denominator]):
                    problems.append(
                        Problem(source, int(i) + 1, numerator, f"exceeds {denominator} ({indicator})")
                    )
            for i in np.flatnonzero(np.isnan(values[denominator]) & ~np.isnan(values[numerator])):
                problems.append(
                    Problem(
                        source, int(i) + 1, denominator, f"missing, but {numerator} is given ({indicator})"
                    )
                )
    problems.raise_if_any()

    codes = frame["org_code"].astype(str).str.strip().astype(object)
    periods = to_dates(pd.to_datetime(frame["period"]))
    pieces = []
    for indicator, (numerator, denominator, _) in INDICATORS.items():
        o, n = values[numerator], values[denominator]
        present = ~np.isnan(o) & ~np.isnan(n) & (n > 0)
        pieces.append(
            pd.DataFrame(
                {
                    "indicator_id": indicator,
                    "org_code": codes[present],
                    "period": periods[present],
                    "numerator": o[present],
                    "denominator": n[present],
                    "expected": None,
                    "value": o[present] / n[present],
                }
            )
        )
    observations = pd.concat(pieces, ignore_index=True)[list(OBSERVATION_COLUMNS)]
    names = frame["org_name"].astype("string").str.strip()
    organisations = pd.DataFrame(
        {
            "code": codes,
            "name": names.astype(object).where(names.notna(), None),
            "kind": frame["org_kind"].astype(str).str.strip().astype(object),
        }
    ).drop_duplicates("code")
    organisations["subtype"] = None
    organisations["sector"] = organisations["kind"].map(lambda k: DEFAULT_SECTOR[OrgKind(k)].value)
    return Batch(source, len(frame), organisations=organisations, observations=observations)


SOURCE = Source(
    "place-transitions",
    "Place-level transition indicators: delayed transfers of care, readmissions, reablement, discharges",
    read,
)
