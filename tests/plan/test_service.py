"""Planning services on SQLite and PostgreSQL: saved schedules, recording inspections (status table,
proposed ratings handed to carelens.assess), and the access checks that keep unannounced windows from
providers and the public (404, never 403)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from carelens.assess.history import history
from carelens.errors import InputError
from carelens.model.access import Actor, Role
from carelens.plan import service
from carelens.plan.schedule import make_schedule
from carelens.services import NotFound, planning
from carelens.store import schema
from carelens.store.schema_plan import plan_assignment, plan_inspection

from .conftest import AS_OF, synthetic_demand, synthetic_staff


@pytest.fixture
def saved(engine):
    demand = synthetic_demand(20, seed=11)
    inspectors, leave = synthetic_staff(6, seed=11)
    schedule = make_schedule(demand, inspectors, leave, AS_OF, 4)
    schedule_id = service.save_schedule(engine, schedule, inspectors, "planner-1", AS_OF)
    with engine.connect() as connection:
        rows = (
            connection.execute(sa.select(plan_inspection).where(plan_inspection.c.start_date.is_not(None)))
            .mappings()
            .all()
        )
        team = connection.execute(sa.select(plan_assignment)).mappings().all()
    visit = next(r for r in rows if r["unannounced"])
    member = next(a["inspector_id"] for a in team if a["inspection_id"] == visit["id"])
    return schedule_id, visit, member, schedule


def _audits(engine, action):
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count())
            .select_from(schema.audit_event)
            .where(schema.audit_event.c.action == action)
        ).scalar()


def test_schedule_saved_and_approved_with_audit(engine, saved):
    schedule_id, _, _, schedule = saved
    with engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(plan_inspection)).scalar()
        members = connection.execute(sa.select(sa.func.count()).select_from(plan_assignment)).scalar()
    assert stored == len(schedule.inspections)
    assert members == len(schedule.assignments)
    with pytest.raises(InputError, match="someone other than its author"):
        service.approve_schedule(engine, schedule_id, "planner-1")
    service.approve_schedule(engine, schedule_id, "chief-1")
    with pytest.raises(InputError, match="already approved"):
        service.approve_schedule(engine, schedule_id, "chief-2")
    assert _audits(engine, "plan.schedule_saved") == 1 and _audits(engine, "plan.schedule_approved") == 1


def _actors(visit, member):
    org = visit["org_code"]
    return {
        "public": Actor("anon", Role.PUBLIC),
        "provider": Actor("p", Role.PROVIDER, frozenset({org})),
        "commissioner": Actor("c", Role.COMMISSIONER, frozenset({"QHM"})),
        "national_board": Actor("n", Role.NATIONAL_BOARD),
        "policy_maker": Actor("pm", Role.POLICY_MAKER),
        "other_inspector": Actor("i2", Role.INSPECTOR, inspector_id="nobody"),
        "other_sector_chief": Actor("c2", Role.CHIEF_INSPECTOR, sector="hospitals"),
        "inspector": Actor("i1", Role.INSPECTOR, inspector_id=member),
        "chief": Actor("c1", Role.CHIEF_INSPECTOR, sector="adult_social_care"),
        "analyst": Actor("a", Role.ANALYST),
        "admin": Actor("ad", Role.ADMIN),
    }


HIDDEN = [
    "public",
    "provider",
    "commissioner",
    "national_board",
    "policy_maker",
    "other_inspector",
    "other_sector_chief",
]
SEES = ["inspector", "chief", "analyst", "admin"]


def _seen(engine, actor, org):
    """An organisation's inspections as a profile shows them to ``actor`` (the planning service)."""
    with engine.connect() as connection:
        return planning.profile_inspections(connection, actor, org)


@pytest.mark.parametrize("who", HIDDEN + SEES)
def test_unannounced_windows_only_for_those_who_may_see_plans(engine, saved, who):
    schedule_id, visit, member, _ = saved
    actor = _actors(visit, member)[who]
    window = str(visit["window_start"])
    if who in HIDDEN:
        with pytest.raises(NotFound):
            planning.inspection_plan(engine, actor, schedule_id)
        with pytest.raises(NotFound):
            planning.inspection(engine, actor, visit["id"])
        seen = _seen(engine, actor, visit["org_code"])
        assert seen == [] and window not in str(seen)
    else:
        plan = planning.inspection_plan(engine, actor, schedule_id, page_size=1000).items
        assert visit["id"] in {r["id"] for r in plan} and any(r["window_start"] for r in plan)
        assert planning.inspection(engine, actor, visit["id"])["window_start"] == str(visit["window_start"])
        if who == "inspector":
            with engine.connect() as connection:
                mine = set(
                    connection.execute(
                        sa.select(plan_assignment.c.inspection_id).where(
                            plan_assignment.c.inspector_id == member
                        )
                    ).scalars()
                )
            assert {r["id"] for r in plan} == mine


# (status changes in order, the error of the last one or None)
STATUS_CASES = [
    (["in_progress", "completed"], None),
    (["cancelled"], None),
    (["in_progress", "cancelled"], None),
    (["completed"], "cannot go from 'planned' to 'completed'"),
    (["in_progress", "completed", "in_progress"], "allowed: none (final)"),
    (["cancelled", "in_progress"], "allowed: none (final)"),
    (["in_progress", "planned"], "cannot go from 'in_progress' to 'planned'"),
]


@pytest.mark.parametrize(("steps", "error"), STATUS_CASES)
def test_inspection_status_changes(engine, saved, steps, error):
    _, visit, _, _ = saved
    for n, status in enumerate(steps):
        if error and n == len(steps) - 1:
            with pytest.raises(InputError, match=re.escape(error)):
                service.record_inspection(engine, visit["id"], "i1", status=status)
            return
        service.record_inspection(engine, visit["id"], "i1", status=status)
    assert _audits(engine, "inspection.recorded") == len(steps)


def test_findings_and_proposed_ratings_go_to_assess_and_completed_is_public(engine, saved):
    _, visit, _, _ = saved
    org = visit["org_code"]
    with engine.begin() as connection:
        connection.execute(
            schema.organisation.insert().values(
                code=org, name="Home", kind="care_home", sector="adult_social_care"
            )
        )
    with pytest.raises(InputError, match="ratings are proposed by an inspection in progress"):
        service.record_inspection(engine, visit["id"], "i1", proposed_ratings={"Overall": "Good"})
    service.record_inspection(
        engine,
        visit["id"],
        "i1",
        status="in_progress",
        evidence=[{"kind": "observation", "note": "medicines"}],
    )
    with pytest.raises(InputError):  # a bad rating is refused by carelens.assess; nothing written
        service.record_inspection(
            engine, visit["id"], "i1", status="completed", proposed_ratings={"Safe": "Excellent"}
        )
    done = service.record_inspection(
        engine,
        visit["id"],
        "i1",
        status="completed",
        findings="Unsafe medicines",
        proposed_ratings={"Safe": "Inadequate", "Overall": "Requires improvement"},
    )
    assert done["status"] == "completed" and done["proposed_ratings"]["Safe"] == "Inadequate"
    rated = history(engine, org)
    assert set(rated["key_question"]) == {"Safe", "Overall"} and not rated["published"].any()
    assert set(rated["method"]) == {"inspection:proposed"}
    provider = Actor("p", Role.PROVIDER, frozenset({org}))
    public = planning.inspection(engine, provider, visit["id"])
    assert set(public) == set(service.PUBLIC_COLUMNS)
    seen = _seen(engine, Actor("anon", Role.PUBLIC), org)
    assert [row["status"] for row in seen] == ["completed"] and "window_start" not in seen[0]


def test_profiles_show_the_latest_schedule_and_visits_that_took_place(engine, saved):
    """Re-planning saves a new schedule with the same organisations: a planner sees each organisation's
    inspections of the latest schedule once, plus earlier schedules' visits that took place."""
    schedule_id, visit, _, schedule = saved
    org = visit["org_code"]
    chief = Actor("c1", Role.CHIEF_INSPECTOR, sector="adult_social_care")
    before = _seen(engine, chief, org)
    assert [row["schedule_id"] for row in before] == [schedule_id] * len(before) and before
    inspectors, _ = synthetic_staff(6, seed=11)
    service.record_inspection(engine, visit["id"], "i1", status="in_progress")
    replanned = service.save_schedule(engine, schedule, inspectors, "planner-1", AS_OF)
    after = _seen(engine, chief, org)
    assert sorted((row["schedule_id"], row["status"]) for row in after) == sorted(
        [(schedule_id, "in_progress")] + [(replanned, row["status"]) for row in before]
    )
