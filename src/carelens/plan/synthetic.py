"""A synthetic national inspection landscape for benchmarks: organisations with ratings, bands and
concerns, and an inspectorate of a given size shared across sectors and regions by their workload."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from carelens.plan.inspectorate import synthetic_inspectorate

REGIONS = ("Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63")
KINDS = {"care_home": 0.60, "gp_practice": 0.25, "location": 0.14, "nhs_trust": 0.01}
SECTORS = {
    "care_home": "adult_social_care",
    "gp_practice": "primary_care",
    "location": "hospitals",
    "nhs_trust": "hospitals",
}
RATINGS = {"Outstanding": 0.05, "Good": 0.70, "Requires improvement": 0.18, "Inadequate": 0.02, "none": 0.05}
"""Shares roughly as CQC's published ratings (about 3/4 Good or Outstanding) [M]."""


def synthetic_organisations(n: int, as_of: dt.date, seed: int = 1) -> pd.DataFrame:
    """``n`` inspectable organisations in the frame :func:`carelens.plan.demand.compute_demand` reads."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(list(KINDS), size=n, p=list(KINDS.values()))
    rating = rng.choice(list(RATINGS), size=n, p=list(RATINGS.values()))
    rated_days_ago = rng.integers(30, 4 * 365, size=n)
    band = np.where(rng.random(n) < 0.3, rng.integers(1, 7, size=n), np.nan)
    return pd.DataFrame(
        {
            "org_code": [f"S{i:06d}" for i in range(n)],
            "kind": kind,
            "sector": pd.Series(kind).map(SECTORS).to_numpy(),
            "region": rng.choice(REGIONS, size=n),
            "registered": pd.Timestamp(as_of) - pd.to_timedelta(rng.integers(60, 3650, size=n), unit="D"),
            "rating": np.where(rating == "none", None, rating),
            "rating_date": np.where(
                rating == "none", pd.NaT, pd.Timestamp(as_of) - pd.to_timedelta(rated_days_ago, unit="D")
            ),
            "band": band,
            "spc_alerts": (rng.random(n) < 0.05).astype(int),
            "concerns": (rng.random(n) < 0.02).astype(int),
            "size": rng.integers(2000, 25000, size=n),
        }
    )


def inspectorate_of_size(demand: pd.DataFrame, total: int, as_of: dt.date, weeks: int, seed: int = 2):
    """``total`` inspectors shared across sector x region in proportion to the inspector-days demanded."""
    load = (
        demand.assign(load=demand["team"] * demand["days"])
        .groupby(["sector", "region"], as_index=False)["load"]
        .sum()
    )
    share = load["load"] / load["load"].sum() * total
    counts = np.floor(share).astype(int)
    counts[np.argsort(-(share - counts))[: total - counts.sum()]] += 1
    table = load.assign(inspectors=counts)[["sector", "region", "inspectors"]]
    return synthetic_inspectorate(table, as_of, weeks, seed)
