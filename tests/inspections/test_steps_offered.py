"""The steps the pages offer (services.inspections.steps) at each stage of an inspection's life, for
each of its actors: exactly those the step services accept, and 404 where the inspection is secret."""

from __future__ import annotations

import pytest

from carelens.services import NotFound
from carelens.services import inspections as life

from .seed import CHIEF, FINDINGS, INSPECTOR, OTHER_CHIEF, PROVIDER_STAFF, PUBLIC, SECOND, seed

ACTORS = {
    "ann": INSPECTOR,
    "bea": SECOND,
    "chief": CHIEF,
    "chief.hosp": OTHER_CHIEF,
    "owner": PROVIDER_STAFF,
    "public": PUBLIC,
}
SECRET = "404"


def offered(engine, inspection_id: int) -> dict[str, list[str] | str]:
    out: dict[str, list[str] | str] = {}
    for name, actor in ACTORS.items():
        try:
            out[name] = life.steps(engine, actor, inspection_id)["steps"]
        except NotFound:
            out[name] = SECRET
    return out


def expected(**steps) -> dict[str, list[str] | str]:
    """Nothing offered to anyone but those named; the hospitals' chief, the provider and the public
    find nothing unless named."""
    base = {"ann": [], "bea": [], "chief": [], "chief.hosp": SECRET, "owner": SECRET, "public": SECRET}
    return base | steps


def test_each_actor_is_offered_the_steps_it_may_take_at_each_stage(engine):
    number = seed(engine)
    assert offered(engine, number) == expected(chief=["approve_plan"])
    life.approve_plan(engine, CHIEF, 1)
    assert offered(engine, number) == expected(ann=["start"], bea=["start"])
    life.start(engine, INSPECTOR, number)
    assert offered(engine, number) == expected(ann=["finding", "propose"], bea=["finding", "propose"])
    for question, rating in FINDINGS.items():
        life.record_finding(engine, SECOND, number, question, rating, "seen")
    life.propose(engine, INSPECTOR, number)
    assert offered(engine, number) == expected(chief=["approve"])
    life.approve(engine, CHIEF, number)
    assert offered(engine, number) == expected(ann=["send"], bea=["send"], chief=["send"])
    life.send_draft(engine, CHIEF, number)
    assert offered(engine, number) == expected(chief=["publish"], owner=["challenge"])
    life.challenge(engine, PROVIDER_STAFF, number, "Safe: the audit was done")
    decide = ["decide"]
    assert offered(engine, number) == expected(
        ann=decide, bea=decide, chief=["decide", "publish"], owner=["challenge"]
    )
    challenge_id = life.report(engine, CHIEF, number)["challenges"][0]["id"]
    life.decide_challenge(engine, CHIEF, number, challenge_id, "rejected", "Not on file")
    assert offered(engine, number) == expected(chief=["publish"], owner=["challenge"])
    life.publish(engine, CHIEF, number)
    assert offered(engine, number) == {name: [] for name in ACTORS}


@pytest.mark.parametrize("actor", [PROVIDER_STAFF, PUBLIC], ids=["provider", "public"])
def test_no_steps_of_an_inspection_that_does_not_exist(engine, actor):
    seed(engine)
    with pytest.raises(NotFound):
        life.steps(engine, actor, 999)
