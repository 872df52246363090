"""Hand-made places for the systems tests: ten places with stated counts, written as the importer's files."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from carelens.model.indicators import load_indicators
from carelens.systems.config import load_config

PERIOD = dt.date(2017, 4, 1)
PLACES = [f"P{i:02d}" for i in range(1, 11)]
READMISSIONS = [340, 335, 345, 338, 342, 336, 344, 340, 200, 480]
"""Emergency readmissions within 30 days of 2,000 discharges of people aged 65+ in each place: 3,400 of
20,000 = 17.0% overall; P09 (10%) is far better and P10 (24%) far worse."""
ADMISSIONS = [5000, 5050, 4950, 5020, 4980, 5010, 4990, 5000, 3800, 6500]
"""Emergency admissions among 20,000 people aged 65+ in each place: 50,300 of 200,000 = 251.5 per 1,000."""


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture(scope="session")
def definitions():
    return load_indicators()


@pytest.fixture
def hand_made_transitions() -> pd.DataFrame:
    """The importer's wide layout for the hand-made places (every place: 100,000 adults, 20,000 aged 65+)."""
    n = len(PLACES)
    return pd.DataFrame(
        {
            "org_code": PLACES,
            "org_name": [f"Hand-made place {c}" for c in PLACES],
            "period": PERIOD.isoformat(),
            "population_18plus": [100_000] * n,
            "population_65plus": [20_000] * n,
            "dtoc_days_nhs": [2000] * n,
            "dtoc_days_social_care": [1200] * n,
            "dtoc_days_both": [300] * n,
            "emergency_admissions_65plus": ADMISSIONS,
            "discharges_65plus": [2000] * n,
            "readmissions_30d_65plus": READMISSIONS,
            "discharges_usual_residence_65plus": [1800] * n,
            "reablement_discharges_65plus": [500] * n,
            "reablement_at_home_91d": [450] * n,
        }
    )


@pytest.fixture
def long_observations() -> pd.DataFrame:
    """The same places as observations (readmissions and admissions only)."""
    rows = [
        ("readmission_30d_65plus", c, PERIOD, r, 2000.0) for c, r in zip(PLACES, READMISSIONS, strict=True)
    ]
    rows += [
        ("emergency_admissions_65plus", c, PERIOD, a, 20000.0)
        for c, a in zip(PLACES, ADMISSIONS, strict=True)
    ]
    return pd.DataFrame(rows, columns=["indicator_id", "org_code", "period", "numerator", "denominator"])
