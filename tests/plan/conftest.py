"""Fixtures for the planning tests: the demo store (loaded once, SQLite) and small synthetic inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> str:
    """A SQLite store with every packaged demo data set loaded (once per test session)."""
    from carelens.demo.store import load_demo_store
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    url = f"sqlite:///{tmp_path_factory.mktemp('plan-demo') / 'demo.db'}"
    engine = create_engine(url)
    ensure_schema(engine)
    load_demo_store(engine)
    engine.dispose()
    return url


AS_OF = dt.date(2024, 1, 1)  # a Monday


def synthetic_demand(n: int, seed: int = 3, regions=("R1",), sector="adult_social_care") -> pd.DataFrame:
    """``n`` care-home inspections (team 2 x 1 day) with mixed risk and some deadlines in the horizon."""
    rng = np.random.default_rng(seed)
    deadline = pd.Timestamp(AS_OF) + pd.to_timedelta(rng.integers(-30, 400, n), unit="D")
    risk = rng.choice([1, 3, 5, 8, 14], size=n).astype(float)
    team = rng.choice([1, 2, 3], size=n)
    days = rng.choice([1, 2, 3], size=n)
    return pd.DataFrame(
        {
            "org_code": [f"L{i:05d}" for i in range(n)],
            "kind": "care_home",
            "sector": sector,
            "region": rng.choice(list(regions), size=n),
            "inspection_type": "care_home",
            "rating": None,
            "deadline": deadline,
            "due_date": deadline,
            "overdue": deadline < pd.Timestamp(AS_OF),
            "risk": risk,
            "high_risk": risk >= 8,
            "reasons": "synthetic",
            "team": team,
            "days": days,
            "skill": np.where(rng.random(n) < 0.3, "nursing", ""),
            "unannounced": True,
        }
    )


def synthetic_staff(n: int, seed: int = 4, regions=("R1",), sector="adult_social_care"):
    """``n`` inspectors (some with the 'nursing' skill, some part time) and some weeks of leave."""
    rng = np.random.default_rng(seed)
    inspectors = pd.DataFrame(
        {
            "inspector_id": [f"S{i:04d}" for i in range(n)],
            "sector": sector,
            "region": [regions[i % len(regions)] for i in range(n)],
            "skills": np.where(rng.random(n) < 0.4, "nursing", ""),
            "days_per_week": rng.choice([5, 4, 3], size=n, p=[0.7, 0.15, 0.15]),
        }
    )
    who = rng.integers(0, n, size=n)
    week = rng.integers(0, 10, size=n)
    start = pd.Timestamp(AS_OF) + pd.to_timedelta(week * 7, unit="D")
    leave = pd.DataFrame(
        {
            "inspector_id": inspectors["inspector_id"].to_numpy()[who],
            "start": start,
            "end": start + pd.Timedelta(days=4),
        }
    )
    return inspectors, leave
