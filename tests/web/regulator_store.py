"""A small store for the regulator's pages (concerns and the failure regime), built through the
product's own functions: the people tests' twelve NHS trusts (hospitals) and their monitored indicator;
T03 rated Inadequate and in special measures since :data:`ENTERED`, so its re-inspection is overdue;
a commissioner, C01, under the national board's intervention; and one account each for a chief
inspector of hospitals, the national board and an analyst (password :data:`PASSWORD`)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from carelens.model.access import Actor, Role
from carelens.store import schema
from carelens.store.schema_monitor import monitor_org
from tests.intel.test_people import seed_observations, seed_trusts
from tests.plan.regime_store import add_org, publish

PASSWORD = "a regulator password"
SET_UP = "regulator-set-up"
"""Who the store's set-up is recorded as (the accounts below make every change after it)."""
IN_SPECIAL_MEASURES, COMMISSIONER, CONCERNED = "T03", "C01", "T05"
ENTERED = dt.date.today() - dt.timedelta(days=300)
"""When T03 entered special measures: its re-inspection was due within 182 days, so it is overdue."""
INTERVENED = dt.date.today() - dt.timedelta(days=30)
ACCOUNTS = {
    "chief": Actor("chief", Role.CHIEF_INSPECTOR, sector="hospitals"),
    "board": Actor("board", Role.NATIONAL_BOARD),
    "analyst": Actor("analyst", Role.ANALYST),
}


def seed(engine) -> dict[str, int]:
    """The store above; the ids of the provider case (T03) and the commissioner case (C01)."""
    from carelens.plan.regime import open_case, transition
    from carelens.services.auth import NewUser, create_users, password_hasher

    from .conftest import TEST_HASH

    seed_trusts(engine)
    seed_observations(engine)
    add_org(engine, COMMISSIONER, kind="commissioner", sector="commissioning")
    publish(engine, IN_SPECIAL_MEASURES, ENTERED, "Inadequate", Safe="Inadequate")
    why = "rated Inadequate overall and on Safe"
    provider_case = open_case(engine, "provider", IN_SPECIAL_MEASURES, SET_UP, why, ENTERED)
    transition(engine, provider_case, "enter_special_measures", SET_UP, why, ENTERED)
    why = "the commissioner's assessment is inadequate"
    commissioner_case = open_case(engine, "commissioner", COMMISSIONER, SET_UP, why, INTERVENED)
    transition(engine, commissioner_case, "intervene", SET_UP, why, INTERVENED)
    with engine.begin() as connection:
        create_users(
            connection,
            [NewUser(a.user_name, a.role, PASSWORD, a.organisations, a.sector) for a in ACCOUNTS.values()],
            by=SET_UP,
            hasher=password_hasher(**TEST_HASH),
        )
    return {"provider": provider_case, "commissioner": commissioner_case}


def monitor(engine) -> int:
    """A monitoring pass by the analyst, as ``carelens monitor`` run by it does (the indicator's small
    trusts compared from five units); the run's id."""
    from carelens.monitor.settings import load_settings
    from carelens.services.monitoring import run_pass

    settings = dataclasses.replace(load_settings(), min_units=5)
    return run_pass(engine, ACCOUNTS["analyst"], settings=settings).run_id


def elevated(engine, run_id: int, code: str) -> int:
    """How many elevated risks ``code`` has in monitoring run ``run_id``."""
    m = monitor_org
    with engine.connect() as connection:
        query = sa.select(m.c.elevated).where(m.c.run_id == run_id, m.c.org_code == code)
        return int(connection.execute(query).scalar_one())


def audit_trail(engine, after: int, *prefixes: str) -> list[tuple[str, str]]:
    """(user, action) of the audit events after id ``after`` whose action starts with a prefix."""
    event = schema.audit_event
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(event.c.user_name, event.c.action)
            .where(event.c.id > after, sa.or_(*(event.c.action.like(f"{p}%") for p in prefixes)))
            .order_by(event.c.id)
        )
        return [tuple(row) for row in rows]


def last_event(engine) -> int:
    """The id of the latest audit event (0: none)."""
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.max(schema.audit_event.c.id))).scalar() or 0)
