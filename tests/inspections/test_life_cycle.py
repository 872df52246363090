"""An unannounced inspection from plan to publication through the services, on SQLite and PostgreSQL:
each step by the role it belongs to, refused to others, secret from the provider and the public until
the draft is sent (provider) or published (everyone), and every step in the audit log with its actor."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from carelens.model.access import Actor, Role
from carelens.services import Forbidden, Invalid, NotFound
from carelens.services import inspections as life
from carelens.services.assessment import assessed_ratings
from carelens.services.planning import inspection
from carelens.store import schema

from .seed import CHIEF, FINDINGS, HOME, INSPECTOR, OTHER_CHIEF, PROVIDER_STAFF, PUBLIC, SECOND, SECTOR, seed


def audit(engine) -> list[tuple[str, str]]:
    event = schema.audit_event
    with engine.connect() as connection:
        rows = connection.execute(sa.select(event.c.user_name, event.c.action).order_by(event.c.id))
        return [tuple(r) for r in rows]


def test_an_unannounced_inspection_from_plan_to_publication(engine):
    inspection_id = seed(engine)
    with pytest.raises(Invalid, match="not been approved"):
        life.start(engine, INSPECTOR, inspection_id)
    with pytest.raises(Forbidden):
        life.approve_plan(engine, INSPECTOR, 1)
    life.approve_plan(engine, CHIEF, 1)
    for outsider in (PROVIDER_STAFF, OTHER_CHIEF):
        with pytest.raises(NotFound):
            life.start(engine, outsider, inspection_id)
    with pytest.raises(Forbidden, match="sign in"):
        life.start(engine, PUBLIC, inspection_id)
    life.start(engine, INSPECTOR, inspection_id)
    for question, rating in FINDINGS.items():
        by = INSPECTOR if question in ("Safe", "Effective") else SECOND
        life.record_finding(
            engine, by, inspection_id, question, rating, f"{question}: what we saw", ["notes"]
        )
    with pytest.raises(Invalid, match="a different rating needs a rationale"):
        life.propose(engine, INSPECTOR, inspection_id, overall="Outstanding")
    life.propose(engine, INSPECTOR, inspection_id, summary="A good home with medicines to improve")
    with pytest.raises(Forbidden):
        life.approve(engine, SECOND, inspection_id)
    life.approve(engine, CHIEF, inspection_id)
    for outsider in (PROVIDER_STAFF, PUBLIC):
        with pytest.raises(NotFound):
            life.report(engine, outsider, inspection_id)
        with pytest.raises(NotFound):
            inspection(engine, outsider, inspection_id)
    life.send_draft(engine, INSPECTOR, inspection_id)
    draft = life.report(engine, PROVIDER_STAFF, inspection_id)
    assert draft["stage"] == "sent" and "window_start" not in draft
    with pytest.raises(NotFound):
        life.report(engine, PUBLIC, inspection_id)
    assert assessed_ratings(engine, PUBLIC, HOME).items == []
    assert assessed_ratings(engine, PROVIDER_STAFF, HOME).items == []
    with pytest.raises(Invalid, match="may challenge the draft until"):
        life.publish(engine, CHIEF, inspection_id)
    life.challenge(engine, PROVIDER_STAFF, inspection_id, "The medicines audit was done on the day", "Safe")
    with pytest.raises(Invalid, match="still to be decided"):
        life.publish(engine, CHIEF, inspection_id)
    challenge_id = life.report(engine, INSPECTOR, inspection_id)["challenges"][0]["id"]
    with pytest.raises(Invalid, match="reasons"):
        life.decide_challenge(engine, INSPECTOR, inspection_id, challenge_id, "rejected", " ")
    life.decide_challenge(
        engine, INSPECTOR, inspection_id, challenge_id, "rejected", "The audit was incomplete"
    )
    life.publish(engine, CHIEF, inspection_id)

    public = life.report(engine, PUBLIC, inspection_id)
    assert public["stage"] == "published" and public["challenges"] == [] and len(public["findings"]) == 5
    assert {r["key_question"]: r["rating"] for r in public["ratings"]} == {**FINDINGS, "Overall": "Good"}
    assert inspection(engine, PUBLIC, inspection_id)["status"] == "completed"
    shown = {r["key_question"]: r for r in assessed_ratings(engine, PUBLIC, HOME).items}
    assert shown["Overall"]["rating"] == "Good" and shown["Overall"]["approved_by"] == "chief"
    assert {r["proposed_by"] for r in shown.values()} == {"ann"}
    assert audit(engine) == [
        ("chief", "plan.schedule_approved"),
        ("ann", "inspection.recorded"),
        ("ann", "inspection.finding"),
        ("ann", "inspection.finding"),
        ("bea", "inspection.finding"),
        ("bea", "inspection.finding"),
        ("bea", "inspection.finding"),
        *[("ann", "rating.proposed")] * 6,
        ("ann", "inspection.proposed"),
        ("chief", "inspection.approved"),
        ("ann", "inspection.draft_sent"),
        ("owner", "inspection.challenged"),
        ("ann", "inspection.challenge_rejected"),
        *[("chief", "rating.published")] * 6,
        ("chief", "inspection.published"),
    ]


def test_an_accepted_challenge_reopens_the_findings_for_a_new_proposal_and_approval(engine):
    inspection_id = seed(engine)
    life.approve_plan(engine, CHIEF, 1)
    life.start(engine, INSPECTOR, inspection_id)
    for question, rating in FINDINGS.items():
        life.record_finding(engine, INSPECTOR, inspection_id, question, rating, "seen")
    life.propose(engine, INSPECTOR, inspection_id)
    with pytest.raises(Forbidden, match="second person: 'ann' cannot approve their own"):
        life.approve(engine, Actor("ann", Role.CHIEF_INSPECTOR, sector=SECTOR), inspection_id)
    life.approve(engine, CHIEF, inspection_id)
    life.send_draft(engine, CHIEF, inspection_id)
    life.challenge(engine, PROVIDER_STAFF, inspection_id, "Safe: the audit was done")
    challenge_id = life.report(engine, CHIEF, inspection_id)["challenges"][0]["id"]
    life.decide_challenge(engine, CHIEF, inspection_id, challenge_id, "accepted", "The audit was on file")
    assert life.report(engine, INSPECTOR, inspection_id)["stage"] == "open"
    with pytest.raises(Invalid, match="needs it sent"):
        life.publish(engine, CHIEF, inspection_id)
    life.record_finding(engine, INSPECTOR, inspection_id, "Safe", "Good", "The audit was on file")
    life.propose(engine, SECOND, inspection_id)
    life.approve(engine, CHIEF, inspection_id)
    life.send_draft(engine, INSPECTOR, inspection_id)
    with pytest.raises(Invalid, match="may challenge the draft until"):
        life.publish(engine, CHIEF, inspection_id)
