"""The review programme in the store: direction, selection and plan, review records with findings by
stage (no rating), action plans tracked with overdue actions; every change audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.errors import InputError, Refused
from carelens.ingest.service import ingest
from carelens.model.access import Actor, Role
from carelens.services import systems as systems_service
from carelens.store import schema
from carelens.store.schema_systems import systems_review, systems_selection
from carelens.systems.reviews import (
    Direction,
    action_plan,
    read_actions,
    record_actions,
    record_direction,
    record_review,
    reviews,
    select_places,
)


def audit_actions(engine) -> list[str]:
    with engine.connect() as connection:
        query = sa.select(schema.audit_event.c.action).order_by(schema.audit_event.c.id)
        return [a for a in connection.execute(query).scalars() if not a.startswith("import")]


def load_transitions(engine, tmp_path, transitions) -> None:
    """The hand-made places' transition counts, imported as the command line does."""
    path = tmp_path / "transitions.csv"
    transitions.to_csv(path, index=False)
    ingest(engine, "place-transitions", [path], user="tester")


def lsr_2017(config) -> Direction:
    """The Secretaries of State's 2017 direction (older people moving between health and social care),
    on a £300,000 budget: three reviews at the configured cost."""
    return Direction(
        "LSR-2017",
        "Secretaries of State",
        config.power,
        "people aged 65+ moving between health and social care",
        dt.date(2017, 8, 1),
        budget_gbp=300_000,
        cost_per_review_gbp=config.cost_per_review_gbp,
    )


def test_programme_from_direction_to_overdue_actions(
    engine, tmp_path, config, definitions, hand_made_transitions
):
    load_transitions(engine, tmp_path, hand_made_transitions)
    newcomer = tmp_path / "newcomer.csv"  # a place with no indicator in the period: not assessed
    newcomer.write_text("code,name,kind\nP11,Hand-made place P11,place\n")
    ingest(engine, "organisations", [newcomer], user="tester")
    direction = lsr_2017(config)
    record_direction(engine, direction, "minister")
    with pytest.raises(InputError):
        record_direction(engine, direction, "minister")  # the reference is taken
    plan = select_places(engine, "LSR-2017", config, definitions, "analyst")
    # £300,000 at £86,956.52 buys 3 reviews (£260,869.56, £39,130.44 left): the worst places first
    assert (plan.reviews, plan.total_cost_gbp, plan.remaining_gbp) == (3, 260_869.56, 39_130.44)
    # P10 is worse on readmissions and admissions (both z capped at 3; other indicators z = 0): score 6 / 6;
    # then the sums of the two adverse z-scores (readmissions + admissions): P02 -0.30 + 0.21 = -0.09,
    # P07 +0.24 - 0.43 = -0.19 (P04 -0.12 - 0.11 = -0.23 is next)
    assert plan.as_dict()["selected"] == ["P10", "P02", "P07"]
    assert plan.places.loc[0, "score"] == pytest.approx(1.0)
    with engine.connect() as connection:
        chosen = (
            connection.execute(
                sa.select(systems_selection.c.place_code)
                .where(systems_selection.c.selected)
                .order_by(systems_selection.c.rank)
            )
            .scalars()
            .all()
        )
        planned = connection.execute(sa.select(systems_review.c.place_code, systems_review.c.status)).all()
    assert chosen == plan.as_dict()["selected"]
    assert sorted(planned) == sorted((c, "planned") for c in chosen)
    with engine.connect() as connection:
        p11 = connection.execute(
            sa.select(systems_selection).where(systems_selection.c.place_code == "P11")
        ).one()
    assert (p11.rank, p11.score, p11.indicators_scored, p11.selected) == (None, None, 0, False)
    analyst = Actor("analyst", Role.ANALYST)
    ranked = systems_service.place_ranking(engine, analyst).items
    assert [r["rank"] for r in ranked] == [*range(1, 11), None] and ranked[-1]["place_code"] == "P11"
    assert ranked[-1]["assessed"] is False and ranked[-1]["score"] is None
    assert ranked[-1]["why"].startswith("Not assessed: no weighted transition indicator was compared")
    (listed,) = systems_service.directions(engine, analyst).items
    assert (listed["places_ranked"], listed["places_not_assessed"]) == (10, 1)
    recorded = systems_service.direction(engine, analyst, "LSR-2017")["selection"]
    assert [r["place_code"] for r in recorded][-1] == "P11" and recorded[-1]["rank"] is None
    assert "rating" not in systems_review.c  # system reviews are never rated

    findings = pd.DataFrame(
        {
            "stage": ["maintaining_wellbeing_at_home", "crisis_and_step_up", "step_down_and_return_home"],
            "finding": [
                "Falls prevention is patchy",
                "No shared crisis response",
                "Reablement capacity is short",
            ],
        }
    )
    bad = findings.assign(stage=["maintaining_wellbeing_at_home", "rating", "step_down_and_return_home"])
    with pytest.raises(InputError) as caught:
        record_review(
            engine,
            "LSR-2017",
            "P10",
            bad,
            config,
            "inspector",
            board="P10 HWB",
            reported_on=dt.date(2018, 1, 5),
        )
    assert [(p.row, p.field) for p in caught.value.problems] == [(2, "stage")]
    record_review(
        engine,
        "LSR-2017",
        "P10",
        findings,
        config,
        "inspector",
        board="P10 Health and Wellbeing Board",
        reported_on=dt.date(2018, 1, 5),
        summit_on=dt.date(2018, 2, 1),
    )
    listed = reviews(engine, "LSR-2017").set_index("place_code")
    assert listed.loc["P10", "status"] == "reported" and listed.loc["P10", "findings"] == 3

    actions = tmp_path / "actions.csv"
    actions.write_text(
        "number,stage,action,owner,deadline,status,completed_on\n"
        "1,crisis_and_step_up,Joint crisis team,Director of adult social care,2018-06-30,open,\n"
        "2,step_down_and_return_home,Commission reablement,CCG accountable officer,2018-09-30,open,\n"
        "3,,Trusted assessor scheme,Trust chief executive,2018-04-30,done,2018-04-20\n"
    )
    assert record_actions(engine, "LSR-2017", "P10", read_actions(actions), "council") == {
        "added": 3,
        "updated": 0,
        "unchanged": 0,
    }
    tracked = action_plan(engine, dt.date(2018, 7, 15), "LSR-2017").set_index("number")
    assert list(tracked["overdue"]) == [True, False, False]  # 1 is open past 30 June; 3 was done on time
    assert tracked.loc[1, "days_overdue"] == 15
    actions.write_text(
        "number,stage,action,owner,deadline,status,completed_on\n"
        "1,crisis_and_step_up,Joint crisis team,Director of adult social care,2018-06-30,done,2018-07-20\n"
    )
    assert record_actions(engine, "LSR-2017", "P10", read_actions(actions), "council")["updated"] == 1
    assert not action_plan(engine, dt.date(2018, 8, 1))["overdue"].any()
    with pytest.raises(InputError):
        record_actions(engine, "LSR-2017", "P09", read_actions(actions), "council")  # P09 was not reviewed

    assert audit_actions(engine) == [
        "systems.direction.recorded",
        "systems.selection.recorded",
        "systems.review.recorded",
        "systems.action.added",
        "systems.action.added",
        "systems.action.added",
        "systems.action.updated",
    ]


def test_action_file_problems_are_all_reported(tmp_path):
    path = tmp_path / "actions.csv"
    path.write_text(
        "number,action,owner,deadline,status,completed_on\n"
        "1,Do it,,2018-06-30,open,\n"
        "1,Again,Someone,not a date,done,\n"
        "3,Third,Someone,2018-06-30,closed,\n"
    )
    with pytest.raises(InputError) as caught:
        read_actions(path)
    found = {(p.row, p.field) for p in caught.value.problems}
    assert {(1, "owner"), (2, "deadline"), (2, "number"), (2, "completed_on"), (3, "status")} <= found


def test_no_review_beyond_the_budget_or_of_an_unselected_place(
    engine, tmp_path, config, definitions, hand_made_transitions
):
    """Issue 18's reproduction on SQLite and PostgreSQL: `systems review record LSR-DEMO PL040` recorded a
    24th review of an unselected place on a 23-review budget. Here £300,000 buys 3 reviews (P10, P02,
    P07 selected); a 4th, of P04 (ranked 4th), is refused with both reasons, through the service the
    command line calls, and nothing is written or audited."""
    load_transitions(engine, tmp_path, hand_made_transitions)
    direction = lsr_2017(config)
    record_direction(engine, direction, "minister")
    assert select_places(engine, "LSR-2017", config, definitions, "analyst").reviews == 3
    findings = tmp_path / "findings.csv"
    findings.write_text("stage,finding\ncrisis_and_step_up,seen\n")
    before = audit_actions(engine)
    with pytest.raises(Refused) as refused:
        systems_service.record_review(
            engine, Actor("analyst", Role.ANALYST), "LSR-2017", "P04", findings, config
        )
    reasons = [p.reason for p in refused.value.problems]
    assert reasons == [
        "'P04' was not selected for review under LSR-2017 (it ranked 4)",
        "LSR-2017's budget buys 3 review(s) and 3 are planned or recorded",
    ]
    with engine.connect() as connection:
        held = connection.execute(sa.select(systems_review.c.place_code)).scalars().all()
    assert sorted(held) == ["P02", "P07", "P10"] and audit_actions(engine) == before
