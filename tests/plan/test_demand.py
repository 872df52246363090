"""Inspection demand: deadlines from rating and date, brought forward by risk, vectorised."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from carelens.errors import InputError
from carelens.plan.config import load_settings
from carelens.plan.demand import add_months, compute_demand, due_within

AS_OF = dt.date(2024, 1, 1)


def _org(**kw):
    row = dict(
        org_code="X",
        kind="care_home",
        sector="adult_social_care",
        region="R",
        registered=None,
        rating="Good",
        rating_date="2023-01-15",
        band=np.nan,
        spc_alerts=0,
        concerns=0,
        size=np.nan,
    )
    return row | kw


# (organisation, expected deadline, expected due date, text in reasons)
CASES = [
    (_org(rating="Inadequate", rating_date="2023-10-01"), "2024-04-01", "2024-04-01", "rated Inadequate"),
    (_org(rating="Requires improvement", rating_date="2023-03-31"), "2024-03-31", "2024-03-31", ""),
    (_org(rating="Good", rating_date="2022-01-15"), "2024-07-15", "2024-07-15", ""),
    (_org(rating="Outstanding", rating_date="2022-01-15"), "2024-07-15", "2024-07-15", ""),
    (
        _org(kind="gp_practice", sector="primary_care", rating="Good", rating_date="2020-01-15"),
        "2025-01-15",
        "2025-01-15",
        "",
    ),
    (
        _org(kind="gp_practice", sector="primary_care", rating="Inadequate", rating_date="2023-11-30"),
        "2024-05-30",
        "2024-05-30",
        "",
    ),
    (
        _org(kind="nhs_trust", sector="hospitals", rating="Good", rating_date="2023-06-01"),
        "2024-06-01",
        "2024-06-01",
        "",
    ),
    # new registration: 12 months from registration; never rated brings it forward to 3 months
    (_org(rating=None, rating_date=None, registered="2023-09-01"), "2024-09-01", "2024-04-01", "never rated"),
    (_org(rating="No published rating", rating_date=None), "2025-01-01", "2024-04-01", "no rating on record"),
    # brought forward by monitoring band, SPC alert, concerns; stale ratings now
    (_org(band=1), "2025-07-15", "2024-02-01", "band 1"),
    (_org(band=2), "2025-07-15", "2024-04-01", "band 2"),
    (_org(spc_alerts=2), "2025-07-15", "2024-04-01", "spc alert"),
    (_org(concerns=1), "2025-07-15", "2024-02-01", "concern"),
    (_org(rating="Good", rating_date="2017-06-01"), "2019-12-01", "2019-12-01", "stale rating; overdue"),
    (_org(rating="Good", rating_date="2023-08-31", band=1), "2026-02-28", "2024-02-01", "band 1"),
]


@pytest.mark.parametrize(("org", "deadline", "due", "reason"), CASES)
def test_deadline_and_due_date(org, deadline, due, reason):
    out = compute_demand(pd.DataFrame([org]), AS_OF).iloc[0]
    assert out["deadline"] == pd.Timestamp(deadline)
    assert out["due_date"] == pd.Timestamp(due)
    assert reason in out["reasons"]


def test_risk_team_and_notice():
    frame = pd.DataFrame(
        [
            _org(org_code="A", rating="Inadequate", rating_date="2023-10-01", concerns=1),
            _org(org_code="B", rating="Good"),
            _org(org_code="C", kind="gp_practice", sector="primary_care", size=20000),
            _org(org_code="D", kind="gp_practice", sector="primary_care", size=4000),
            _org(org_code="E", kind="location", sector="hospitals"),
            _org(org_code="F", kind="independent_provider"),
        ]
    )
    out = compute_demand(frame, AS_OF).set_index("org_code")
    assert "F" not in out.index  # providers are not inspected themselves
    assert out.loc["A", "risk"] == 8 + 6 and out.loc["A", "high_risk"]
    assert out.loc["B", "risk"] == 1 and not out.loc["B", "high_risk"]
    assert (out.loc["C", "team"], out.loc["D", "team"]) == (3, 2)
    assert out.loc["E", "skill"] == "acute" and out.loc["E", "unannounced"]
    assert not out.loc["C", "unannounced"]


def test_due_within_horizon_and_month_arithmetic():
    dates = np.array(["2024-01-31", "2023-08-31", "2024-02-29"], dtype="datetime64[D]")
    assert list(add_months(dates, np.array([1, 6, 12])).astype(str)) == [
        "2024-02-29",
        "2024-02-29",
        "2025-02-28",
    ]
    frame = pd.DataFrame([_org(org_code="soon", band=1), _org(org_code="later")])
    assert list(due_within(compute_demand(frame, AS_OF), AS_OF, 26)["org_code"]) == ["soon"]


def test_missing_columns_and_bad_settings(tmp_path):
    with pytest.raises(InputError, match="rating_date"):
        compute_demand(pd.DataFrame([{"org_code": "X", "kind": "care_home"}]), AS_OF)
    bad = tmp_path / "planning.yaml"
    text = (load_settings().source and open(load_settings().source).read()).replace(
        "team: 6, days: 3", "team: 6, days: 9"
    )
    bad.write_text(text)
    with pytest.raises(InputError, match=r"hospital_location\.sizes\.default"):
        load_settings(bad)


def test_vectorised_over_many_organisations():
    n = 30_000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "org_code": [f"O{i}" for i in range(n)],
            "kind": "care_home",
            "sector": "adult_social_care",
            "region": "R",
            "registered": None,
            "rating": rng.choice(["Good", "Inadequate", "Requires improvement", "none"], n),
            "rating_date": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
            "band": rng.integers(1, 7, n),
        }
    )
    out = compute_demand(frame, AS_OF)
    assert len(out) == n and out["due_date"].le(out["deadline"]).all()


def test_store_inputs_ratings_regions_and_monitoring(engine):
    """Demand read from the store: rating in effect (carelens.assess), region via commissioner links,
    the latest monitoring run's band bringing the due date forward, a given regions table."""
    import json

    import sqlalchemy as sa

    from carelens.assess.history import record_rating
    from carelens.plan.demand import organisations_from_store
    from carelens.store import schema
    from carelens.store.schema_monitor import monitor_org, monitor_run
    from carelens.store.testing import seed_import, seed_organisations

    now = pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime()
    with engine.begin() as c:
        import_id = seed_import(c, "t", "u")
        seed_organisations(
            c,
            [
                dict(code="H1", name="Home", kind="care_home"),
                dict(code="A12345", name="Practice", kind="gp_practice"),
                dict(code="QHM", name="ICB", kind="commissioner"),
                dict(code="Y63", name="NEY", kind="region"),
            ],
            import_id,
        )
        c.execute(
            schema.org_relationship.insert(),
            [
                dict(
                    kind="practice_commissioner",
                    subject_code="A12345",
                    object_code="QHM",
                    import_id=import_id,
                ),
                dict(kind="commissioner_region", subject_code="QHM", object_code="Y63", import_id=import_id),
            ],
        )
        run_id = c.execute(
            monitor_run.insert().values(
                started_at=now,
                user_name="u",
                source="db",
                settings="{}",
                special_measures=json.dumps([]),
                recently_inspected="[]",
                indicators=1,
                organisations=1,
                flags=0,
                inputs_digest="0",
                results_digest="0",
            )
        ).inserted_primary_key[0]
        c.execute(
            monitor_org.insert().values(
                run_id=run_id,
                org_code="H1",
                kind="care_home",
                indicators=1,
                applicable=1,
                risks=1,
                elevated=1,
                spc_alerts=0,
                insufficient=0,
                score=1.0,
                band=1,
                status="banded",
                change="new",
            )
        )
        assert c.execute(sa.select(sa.func.count()).select_from(monitor_org)).scalar() == 1
    record_rating(
        engine,
        org_code="H1",
        key_question="Overall",
        rating="Good",
        rule_rating=None,
        method="t",
        effective_date=dt.date(2023, 6, 1),
        user="u",
    )
    orgs = organisations_from_store(
        engine, AS_OF, regions=pd.DataFrame({"org_code": ["H1"], "region": ["Y58"]})
    )
    demand = compute_demand(orgs, AS_OF).set_index("org_code")
    assert demand.loc["A12345", "region"] == "Y63" and demand.loc["H1", "region"] == "Y58"
    assert demand.loc["H1", "rating"] == "Good" and demand.loc["H1", "deadline"] == pd.Timestamp("2025-12-01")
    assert (
        demand.loc["H1", "due_date"] == pd.Timestamp("2024-02-01") and "band 1" in demand.loc["H1", "reasons"]
    )
    assert "no rating on record" in demand.loc["A12345", "reasons"]
