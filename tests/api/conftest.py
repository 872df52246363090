"""A small store with known organisations, ratings (published and proposed) and users for every role.

Organisations: trust P1 runs location L1; trust P2 runs location L2; commissioner C1 has practice G1 and a
contract with L1; G1 lies in the council "Plymouth". Ratings: a published and a proposed one for each of
L1 and L2. Indicator ``ind_p`` (lower is better) has a small count for P1 and P2; ``ind_n`` is neutral.
Users: one per signed-in role, password ``<role>-pw``; the provider owns P1, the inspector is assigned P1,
the commissioner is C1, the chief inspector heads hospitals.
Monitoring: two runs; in run 2 P1 is flagged 'risk' on ``ind_p`` and moved from band 3 to band 1, P2 has
no risk, G1 is in insufficient data. Assessed ratings: a published one for L1 and a proposal for L2.
Allocations: one saved run (2024) with commissioners C1 and C2 (C2 is not in the store's directory).
Inspections (two saved schedules, see :data:`INSPECTIONS`): a completed unannounced one to L1 (its
window stays secret); then an unannounced planned visit to L1 led by the inspector, an announced one to
L2 and an unannounced one to G1. Every planned date is in 2030 (:data:`SECRET_YEAR`). Failure regime: a
provider case each for L1, L2 and G1, with deadlines long past for L1 and L2, and the national board's
intervention in commissioner C1 (deadline past, one recovery action open).
Local system reviews and ACOs: see :mod:`tests.api.systems_seed` (places PL1-PL5, ACO1 and ACO2).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from carelens.app import create_app
from carelens.model.access import Role
from carelens.services.auth import NewUser, create_users, login, password_hasher
from carelens.store import schema
from carelens.store.testing import seed_import, seed_organisations, seed_ratings

from .systems_seed import fill_systems

TEST_HASH = dict(memory_kib=1024, time_cost=1)
"""Cheap password hashing to create the users (the default cost is a setting; a hash is re-made at that
cost when its user first signs in)."""

ORGS = [
    ("P1", "Alpha Hospitals NHS Trust", "nhs_trust", "hospitals"),
    ("L1", "Alpha General Hospital", "location", "hospitals"),
    ("P2", "Beta Hospitals NHS Trust", "nhs_trust", "hospitals"),
    ("L2", "Beta Community Hospital", "location", "hospitals"),
    ("C1", "Gamma Commissioning Group", "commissioner", "commissioning"),
    ("G1", "Delta Surgery", "gp_practice", "primary_care"),
    ("LA1", "Plymouth", "local_authority", "local_government"),
]
ORG_NAMES = {code: name for code, name, _, _ in ORGS}
LINKS = [
    ("provider_location", "P1", "L1"),
    ("provider_location", "P2", "L2"),
    ("practice_commissioner", "G1", "C1"),
    ("contract", "C1", "L1"),
    ("local_authority_area", "G1", "LA1"),
]
USERS = {
    Role.PROVIDER: dict(organisations=frozenset({"P1"})),
    Role.COMMISSIONER: dict(organisations=frozenset({"C1"})),
    Role.INSPECTOR: dict(organisations=frozenset({"P1"}), inspector_id="insp-1"),
    Role.ANALYST: {},
    Role.CHIEF_INSPECTOR: dict(sector="hospitals"),
    Role.NATIONAL_BOARD: {},
    Role.ADMIN: {},
    Role.POLICY_MAKER: {},
}
RATING_IDS = {"L1_published": 1, "L1_proposed": 2, "L2_published": 3, "L2_proposed": 4}


def fill(engine: sa.Engine) -> None:
    """Write the fixture data set and users."""
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as c:
        import_id = seed_import(c, "test", "test")
        seed_organisations(c, [dict(code=a, name=b, kind=k, sector=s) for a, b, k, s in ORGS], import_id)
        c.execute(
            schema.org_relationship.insert(),
            [dict(kind=k, subject_code=s, object_code=o, import_id=import_id) for k, s, o in LINKS],
        )
        for ident, polarity in (("ind_p", "lower_is_better"), ("ind_n", "neutral")):
            c.execute(
                schema.indicator.insert().values(
                    id=ident,
                    version=1,
                    title=f"Indicator {ident}",
                    definition={"id": ident, "polarity": polarity, "value_type": "proportion"},
                )
            )
        period = dt.date(2024, 1, 1)
        c.execute(
            schema.observation.insert(),
            [
                dict(
                    indicator_id=i,
                    org_code=o,
                    period=period,
                    numerator=n,
                    denominator=d,
                    value=n / d,
                    import_id=import_id,
                )
                for i in ("ind_p", "ind_n")
                for o, n, d in (("P1", 3, 100), ("P2", 5, 100), ("G1", 40, 1000), ("L2", 30, 200))
            ],
        )
        ratings = [
            dict(id=RATING_IDS[f"{o}_{m}"], org_code=o, rating=r, method=m)
            for o in ("L1", "L2")
            for m, r in (("published", "Good"), ("proposed", "Inadequate"))
        ]
        seed_ratings(c, ratings, import_id, dt.date(2023, 5, 1))
        fill_areas(c, now)
        fill_plan(c)
        create_users(
            c,
            [NewUser(role.value, role, f"{role.value}-pw", **extra) for role, extra in USERS.items()],
            by="test",
            hasher=password_hasher(**TEST_HASH),
        )
    fill_systems(engine)  # places, reviews and ACOs (tests/api/systems_seed.py), through the domain functions
    fill_intel(engine)


INTEL_IDS = {"P1_concern": 1, "P2_experience": 2, "G1_concern": 3}
"""Submissions in the fixture (ids as a fresh store numbers them): a staff concern about P1 (hospitals,
the inspector's own), a negative experience of P2 (hospitals) and a public concern about G1 (primary care)."""


def fill_intel(engine: sa.Engine) -> None:
    """The fixture's experiences and concerns, written straight into the table in :data:`INTEL_IDS` order."""
    from carelens.store.schema_intel import intel_submission

    received = dt.datetime(2024, 2, 10, tzinfo=dt.UTC)
    rows = [
        dict(kind="concern", org_code="P1", submitter="staff", sentiment=None, status="new"),
        dict(kind="experience", org_code="P2", submitter="public", sentiment="negative", status="recorded"),
        dict(kind="concern", org_code="G1", submitter="public", sentiment=None, status="new"),
    ]
    with engine.begin() as c:
        for row in rows:
            c.execute(
                intel_submission.insert().values(
                    **row, text=f"about {row['org_code']}", received_at=received, submitted_by="anonymous"
                )
            )


MONITOR_RUN = 2
ASSESSED_IDS = {"L1_published": 1, "L2_proposed": 2}
ALLOCATION_RUN = 1


def _flag(run_id: int, org: str, flag: str, previous: str | None) -> dict:
    return dict(
        run_id=run_id,
        indicator_id="ind_p",
        org_code=org,
        period=dt.date(2024, 1, 1),
        peer_group="nhs_trust",
        numerator=3,
        denominator=100,
        value=0.03,
        target=0.04,
        z_adjusted=2.5,
        risk_lower=0.01,
        risk_upper=0.02,
        peer_units=2,
        od_adjusted=False,
        od_note="none",
        method="test",
        benchmark="worse",
        flag=flag,
        flag_code=1,
        reason="above the upper limit",
        spc_points=1,
        spc_variation="none",
        spc_alert=False,
        spc_rule="",
        previous_flag=previous,
    )


JUDGED = {"P1": ("worse", "higher"), "P2": ("as expected", "within"), "G1": ("as expected", "within")}
"""Run 2's verdicts on ``ind_p`` (L2 is "better"): P1 is the one flagged 'risk'."""


def _judgements(run_id: int) -> list[dict]:
    """The stored judgements of both indicators in one run, for the four organisations with figures."""
    rows = []
    for indicator_id in ("ind_p", "ind_n"):
        for org, n, d in (("P1", 3, 100), ("P2", 5, 100), ("G1", 40, 1000), ("L2", 30, 200)):
            verdict, direction = JUDGED.get(org, ("better", "lower"))
            if indicator_id == "ind_n":
                verdict = {"worse": "higher", "better": "lower"}.get(verdict, verdict)
            rows.append(
                dict(
                    run_id=run_id,
                    indicator_id=indicator_id,
                    org_code=org,
                    period=dt.date(2024, 1, 1),
                    peer_group="nhs_trust",
                    numerator=n,
                    denominator=d,
                    value=n / d,
                    target=0.04,
                    z=2.0,
                    z_adjusted=2.5,
                    lower=0.01,
                    upper=0.02,
                    peers=4,
                    od_adjusted=False,
                    od_note="none",
                    direction=direction,
                    verdict=verdict,
                    reason="",
                )
            )
    return rows


def _indicator_rows(run_id: int) -> list[dict]:
    return [
        dict(
            run_id=run_id,
            indicator_id=indicator_id,
            latest_period=dt.date(2024, 1, 1),
            first_judged=dt.date(2024, 1, 1),
            judged_periods=1,
            value_type="proportion",
            polarity=polarity,
            peer_group="org_kind",
            verdict_level=95.0,
            elevated_level=99.8,
            method="test",
            out_of_date_kinds="",
        )
        for indicator_id, polarity in (("ind_p", "lower_is_better"), ("ind_n", "neutral"))
    ]


def _band(run_id: int, org: str, band: int | None, previous: int | None, change: str) -> dict:
    return dict(
        run_id=run_id,
        org_code=org,
        kind="nhs_trust",
        indicators=1,
        applicable=1,
        risks=int(band == 1),
        elevated=0,
        spc_alerts=0,
        insufficient=0,
        score=0.5 if band == 1 else 0.0,
        band=band,
        status="banded" if band else "insufficient data",
        previous_band=previous,
        change=change,
    )


def fill_areas(c: sa.Connection, now: dt.datetime) -> None:
    """Monitoring runs, assessed ratings and an allocation run (see the module docstring)."""
    from carelens.monitor.service import store_flags
    from carelens.store.schema_assess import assessed_rating
    from carelens.store.schema_fund import fund_allocation, fund_allocation_run
    from carelens.store.schema_monitor import (
        monitor_indicator,
        monitor_judgement,
        monitor_org,
        monitor_run,
    )

    for run_id in (1, MONITOR_RUN):
        c.execute(
            monitor_run.insert().values(
                id=run_id,
                started_at=now,
                user_name="test",
                source="test",
                settings="{}",
                special_measures="[]",
                recently_inspected="[]",
                indicators=1,
                organisations=3,
                flags=2,
                inputs_digest="x",
                results_digest="y",
                previous_run_id=run_id - 1 or None,
            )
        )
    flags = {
        1: [_flag(1, "P1", "no evidence of risk", None), _flag(1, "P2", "no evidence of risk", None)],
        2: [
            _flag(2, "P1", "risk", "no evidence of risk"),
            _flag(2, "P2", "no evidence of risk", "no evidence of risk"),
        ],
    }
    for run_id, rows in flags.items():  # as a run is stored: with its listing's places and its counts
        store_flags(c, run_id, pd.DataFrame(rows))
    c.execute(monitor_indicator.insert(), _indicator_rows(1) + _indicator_rows(MONITOR_RUN))
    c.execute(monitor_judgement.insert(), _judgements(1) + _judgements(MONITOR_RUN))
    c.execute(
        monitor_org.insert(),
        [
            _band(1, "P1", 3, None, "new"),
            _band(1, "P2", 6, None, "new"),
            _band(2, "P1", 1, 3, "higher risk"),
            _band(2, "P2", 6, 6, "same"),
            _band(2, "G1", None, None, "new"),
        ],
    )
    c.execute(
        assessed_rating.insert(),
        [
            dict(
                id=ASSESSED_IDS[f"{o}_{'published' if published else 'proposed'}"],
                org_code=o,
                level="location",
                service="Overall",
                key_question="Overall",
                rating=r,
                rule_rating=r,
                method="rules:adult-social-care",
                effective_date=dt.date(2024, 2, 1),
                departure=False,
                published=published,
                recorded_by="test",
                recorded_at=now,
                detail={"explanation": "Because."},
            )
            for o, r, published in (("L1", "Good", True), ("L2", "Inadequate", False))
        ],
    )
    c.execute(
        fund_allocation_run.insert().values(
            id=ALLOCATION_RUN,
            year=2024,
            scenario_name="test",
            scenario_version=1,
            scenario_sha256="x",
            scenario={},
            inputs="store",
            quantum_gbp=3e9,
            user_name="test",
            created_at=now,
        )
    )
    c.execute(
        fund_allocation.insert(),
        [
            dict(
                run_id=ALLOCATION_RUN,
                commissioner_code=code,
                population=pop,
                wp_core=pop,
                wp_primary_medical_care=pop,
                need_index_core=1.0,
                market_forces_factor=1.0,
                target_share=0.5,
                target_gbp=1.5e9,
                baseline_gbp=None,
                allocation_gbp=alloc,
                distance_from_target=alloc / 1.5e9 - 1,
            )
            for code, pop, alloc in (("C1", 1e6, 1.45e9), ("C2", 9e5, 1.55e9))
        ],
    )


@pytest.fixture(scope="module")
def api_engine(stores):
    """One filled store per backend, shared by a module's tests (they only read, or write new rows)."""
    engine = stores.new()
    fill(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def tokens(api_engine) -> dict[Role, str | None]:
    """A bearer token per role (None for the public)."""
    out: dict[Role, str | None] = {Role.PUBLIC: None}
    for role in USERS:
        out[role] = login(api_engine, role.value, f"{role.value}-pw", kind="api")[0]
    return out


@pytest.fixture(scope="module")
def client(api_engine):
    with TestClient(create_app(api_engine)) as test_client:
        yield test_client


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


SECRET_YEAR = "2030-"
"""Every planned inspection date and window in the fixture is in this year: no provider or public
response may contain it."""
INSPECTOR_ID = "insp-1"
INSPECTIONS = {"L1_completed": 1, "L1_unannounced": 2, "L2_announced": 3, "G1_unannounced": 4}
"""Ids: schedule 1 holds the completed inspection; schedule 2 (the latest) the three planned ones."""
COMPLETED_WINDOW = ("2023-05-22", "2023-06-20")
"""The window of the completed unannounced inspection: past, but never published."""
REGIME_CASES = {"L1": 1, "L2": 2, "G1": 3, "C1": 4}
RECOVERY_ACTIONS = {"C1": 1}


def _visit(org, sector, unannounced, start, days, window_days=14):
    start = dt.date.fromisoformat(start)
    end = start + dt.timedelta(days=days - 1)
    pad = dt.timedelta(days=window_days)
    return dict(
        org_code=org,
        sector=sector,
        region="R1",
        inspection_type="test",
        unannounced=unannounced,
        start_date=start,
        end_date=end,
        window_start=start - pad if unannounced else None,
        window_end=end + pad if unannounced else None,
        team=2,
        days=days,
        risk=5.0,
        due_date=start,
        deadline=start + dt.timedelta(days=90),
        reasons="test",
        unscheduled_reason=None,
        status="planned",
    )


def fill_plan(c: sa.Connection) -> None:
    """One saved schedule (through carelens.plan.service), an inspection recorded as completed, and
    failure-regime cases (through carelens.plan.regime)."""
    import pandas as pd

    from carelens.plan import regime
    from carelens.plan import service as plan_service
    from carelens.plan.schedule import Schedule
    from carelens.store.schema_plan import plan_inspection

    past = [_visit("L1", "hospitals", True, "2023-06-05", 2)]
    planned = [
        _visit("L1", "hospitals", True, "2030-03-11", 2),
        _visit("L2", "hospitals", False, "2030-04-08", 1),
        _visit("G1", "primary_care", True, "2030-05-06", 1),
    ]
    inspectors = pd.DataFrame({"inspector_id": [INSPECTOR_ID, "insp-2", "insp-3"]})
    # save_schedule matches teams to inspections by org code: one inspection per organisation a schedule
    teams = (
        [(0, 1, True)],
        [(0, 0, True), (0, 1, False), (1, 1, True), (2, 2, True)],
    )
    for as_of, visits, team in zip(
        (dt.date(2023, 5, 1), dt.date(2030, 3, 4)), (past, planned), teams, strict=True
    ):
        assignments = pd.DataFrame(team, columns=["row", "inspector_index", "lead"])
        summary = {"method": "greedy", "weeks": 12, "inspections_scheduled": len(visits)}
        schedule = Schedule(pd.DataFrame(visits), assignments, summary)
        plan_service.save_schedule(c, schedule, inspectors, "planner", as_of)
    stored = dict(
        c.execute(
            sa.select(plan_inspection.c.id, plan_inspection.c.org_code).order_by(plan_inspection.c.id)
        ).all()
    )
    assert stored == {i: key.split("_")[0] for key, i in INSPECTIONS.items()}
    done = INSPECTIONS["L1_completed"]
    plan_service.record_inspection(c, done, "insp-2", status="in_progress")
    plan_service.record_inspection(c, done, "insp-2", status="completed", findings="Safe care seen.")
    for org in ("L1", "L2", "G1"):
        case = regime.open_case(c, "provider", org, "chief", "concerns", dt.date(2023, 1, 2))
        assert case == REGIME_CASES[org]
    regime.transition(c, REGIME_CASES["L1"], "requirement_notice", "chief", "breach", dt.date(2023, 1, 2))
    regime.transition(c, REGIME_CASES["L2"], "warning_notice", "chief", "breach", dt.date(2024, 1, 1))
    case = regime.open_case(c, "commissioner", "C1", "board", "assessment inadequate", dt.date(2023, 1, 2))
    assert case == REGIME_CASES["C1"]
    regime.transition(c, case, "intervene", "board", "assessment inadequate", dt.date(2023, 1, 2))
    action = regime.add_action(
        c, case, "agree a financial recovery plan", "C1 finance director", dt.date(2023, 4, 1), "board"
    )
    assert action == RECOVERY_ACTIONS["C1"]
