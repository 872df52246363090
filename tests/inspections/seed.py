"""A small store for the inspection and rating tests: a care home with a published Good rating, its
provider, a draft schedule (made by the planner) with one unannounced inspection assigned to two
inspectors, and the actors of its life."""

from __future__ import annotations

import datetime as dt

from carelens.model.access import Actor, Role
from carelens.store.schema_plan import plan_assignment, plan_inspection, plan_schedule
from carelens.store.testing import seed_import, seed_organisations

HOME, PROVIDER, OTHER = "1-HOME", "1-PROV", "1-OTHER"
SECTOR = "adult_social_care"
INSPECTOR = Actor("ann", Role.INSPECTOR, frozenset({"1-HOME"}), inspector_id="I1")
SECOND = Actor("bea", Role.INSPECTOR, frozenset({"1-HOME"}), inspector_id="I2")
CHIEF = Actor("chief", Role.CHIEF_INSPECTOR, sector=SECTOR)
OTHER_CHIEF = Actor("chief.hosp", Role.CHIEF_INSPECTOR, sector="hospitals")
PROVIDER_STAFF = Actor("owner", Role.PROVIDER, organisations=frozenset({PROVIDER}))
PUBLIC = Actor("anonymous", Role.PUBLIC)
ADMIN = Actor("admin", Role.ADMIN)
FINDINGS = {
    "Safe": "Requires improvement",
    "Effective": "Good",
    "Caring": "Good",
    "Responsive": "Good",
    "Well-led": "Good",
}


def seed(engine) -> int:
    """The store above; returns the inspection's id."""
    from carelens.model.organisations import RelationshipKind
    from carelens.store import schema

    with engine.begin() as connection:
        import_id = seed_import(connection, "seed", "loader")
        seed_organisations(
            connection,
            [
                dict(code=HOME, kind="care_home", name="Home", sector=SECTOR),
                dict(code=PROVIDER, kind="independent_provider", name="Provider", sector=SECTOR),
                dict(code=OTHER, kind="care_home", name="Other home", sector=SECTOR),
            ],
            import_id,
        )
        connection.execute(
            schema.org_relationship.insert().values(
                subject_code=PROVIDER,
                object_code=HOME,
                kind=RelationshipKind.PROVIDER_LOCATION,
                valid_from=dt.date(2015, 1, 1),
                import_id=import_id,
            )
        )
        schedule_id = connection.execute(
            plan_schedule.insert().values(
                as_of=dt.date.today(),
                weeks=4,
                method="greedy",
                summary={},
                status="draft",
                created_by="planner",
                created_at=dt.datetime.now(dt.UTC),
            )
        ).inserted_primary_key[0]
        today = dt.date.today()
        inspection_id = connection.execute(
            plan_inspection.insert().values(
                schedule_id=schedule_id,
                org_code=HOME,
                sector=SECTOR,
                region="R1",
                inspection_type="care_home",
                unannounced=True,
                start_date=today,
                end_date=today,
                window_start=today - dt.timedelta(days=7),
                window_end=today + dt.timedelta(days=7),
                team_size=2,
                days=1,
                risk=5.0,
                reasons="due",
                status="planned",
            )
        ).inserted_primary_key[0]
        for inspector, lead in (("I1", True), ("I2", False)):
            connection.execute(
                plan_assignment.insert().values(
                    inspection_id=inspection_id, inspector_id=inspector, lead=lead
                )
            )
    return int(inspection_id)
