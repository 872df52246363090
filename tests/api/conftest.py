"""A small store with known organisations, ratings (published and proposed) and users for every role.

Organisations: trust P1 runs location L1; trust P2 runs location L2; commissioner C1 has practice G1 and a
contract with L1; G1 lies in the council "Plymouth". Ratings: a published and a proposed one for each of
L1 and L2. Indicator ``ind_p`` (lower is better) has a small count for P1 and P2; ``ind_n`` is neutral.
Users: one per signed-in role, password ``<role>-pw``; the provider owns P1, the inspector is assigned P1,
the commissioner is C1, the chief inspector heads hospitals.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from carelens.api.app import create_app
from carelens.model.access import Role
from carelens.services.auth import NewUser, create_users, login
from carelens.store import schema

TEST_SCRYPT_N = 2**10
"""Cheap password hashing for tests (the default cost is a setting)."""

ORGS = [
    ("P1", "Alpha Hospitals NHS Trust", "nhs_trust", "hospitals"),
    ("L1", "Alpha General Hospital", "location", "hospitals"),
    ("P2", "Beta Hospitals NHS Trust", "nhs_trust", "hospitals"),
    ("L2", "Beta Community Hospital", "location", "hospitals"),
    ("C1", "Gamma Commissioning Group", "commissioner", "commissioning"),
    ("G1", "Delta Surgery", "gp_practice", "primary_care"),
    ("LA1", "Plymouth", "local_authority", "local_government"),
]
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
        c.execute(
            schema.import_record.insert().values(
                id=1,
                source="test",
                file_name="f",
                sha256="x",
                rows=0,
                inserted=0,
                superseded=0,
                unchanged=0,
                user_name="test",
                imported_at=now,
                status="loaded",
            )
        )
        c.execute(
            schema.organisation.insert(),
            [dict(code=a, name=b, kind=k, sector=s) for a, b, k, s in ORGS],
        )
        c.execute(
            schema.org_relationship.insert(),
            [dict(kind=k, subject_code=s, object_code=o, import_id=1) for k, s, o in LINKS],
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
                    import_id=1,
                )
                for i in ("ind_p", "ind_n")
                for o, n, d in (("P1", 3, 100), ("P2", 5, 100), ("G1", 40, 1000), ("L2", 30, 200))
            ],
        )
        c.execute(
            schema.rating.insert(),
            [
                dict(
                    id=RATING_IDS[f"{o}_{m}"],
                    org_code=o,
                    level="location",
                    service="Overall",
                    key_question="Overall",
                    rating=r,
                    report_date=dt.date(2023, 5, 1),
                    method="published" if m == "published" else "proposed",
                    import_id=1,
                )
                for o in ("L1", "L2")
                for m, r in (("published", "Good"), ("proposed", "Inadequate"))
            ],
        )
        create_users(
            c,
            [NewUser(role.value, role, f"{role.value}-pw", **extra) for role, extra in USERS.items()],
            by="test",
            n=TEST_SCRYPT_N,
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
