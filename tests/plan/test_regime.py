"""The failure regime state machines, table-tested on SQLite and PostgreSQL: legal paths end in the
expected state with every transition recorded (who, when, why) and audited; illegal transitions are
refused with a clear error and write nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from carelens.errors import InputError
from carelens.plan import regime
from carelens.store import schema

from .regime_store import assess, publish, reinspect

ORG = "1-000000001"
D0 = dt.date(2024, 1, 1)


def _org(engine, code=ORG, kind="care_home"):
    with engine.begin() as connection:
        connection.execute(
            schema.organisation.insert().values(code=code, name=code, kind=kind, sector="adult_social_care")
        )


def _rate(engine, rating, on, code=ORG):
    publish(engine, code, on, rating)


def _step(engine, step, day):
    """A step that is not an event: ("rate", rating) publishes an overall rating, ("inspect",) completes
    a re-inspection, ("assess", overall) records a commissioner assessment, ("action", "open"|"done")
    adds a recovery action to case 1 (and completes it)."""
    if step[0] == "rate":
        _rate(engine, step[1], day)
    elif step[0] == "inspect":
        reinspect(engine, ORG, day, days=1)
    elif step[0] == "assess":
        assess(engine, ORG, day.year, step[1])
    else:
        action = regime.add_action(engine, 1, "recovery plan", "the board", day, "chief-1")
        if step[1] == "done":
            regime.complete_action(engine, action, "chief-1", "plan agreed", day)


# (regime, steps, expected final state or the error text of the last step). A step is an event, or a
# tuple (see _step) done before the next event.
CASES = [
    ("provider", ["requirement_notice", "warning_notice", "impose_conditions", "complied"], "closed"),
    ("provider", ["warning_notice", "complied"], "closed"),
    ("provider", [("rate", "Inadequate"), "enter_special_measures"], "special_measures"),
    (
        "provider",
        [
            ("rate", "Inadequate"),
            "enter_special_measures",
            ("inspect",),
            ("rate", "Requires improvement"),
            "exit_special_measures",
        ],
        "closed",
    ),
    (
        "provider",
        [("rate", "Inadequate"), "enter_special_measures", "propose_cancellation", "cancel_registration"],
        "registration_cancelled",
    ),
    (
        "provider",
        [("rate", "Inadequate"), "enter_special_measures", "propose_cancellation", "withdraw_proposal"],
        "special_measures",
    ),
    (
        "provider",
        [("rate", "Inadequate"), "requirement_notice", "enter_special_measures"],
        "special_measures",
    ),
    (
        "nhs_trust",
        [
            "to_segment_3",
            "enter_recovery_support",
            "review_recovery_support",
            "exit_recovery_support",
            "to_segment_1",
        ],
        "segment_1",
    ),
    ("nhs_trust", ["to_segment_2", "to_segment_3"], "segment_3"),
    (
        "commissioner",
        [
            "intervene",
            ("action", "done"),
            "give_directions",
            "review_directions",
            ("assess", "requires_improvement"),
            "exit_intervention",
        ],
        "closed",
    ),
    # illegal
    ("provider", ["exit_special_measures"], "is not allowed from 'open'"),
    ("provider", ["cancel_registration"], "is not allowed from 'open'"),
    ("provider", ["impose_conditions"], "is not allowed from 'open'"),
    ("provider", [("rate", "Good"), "enter_special_measures"], "needs an overall rating in ['Inadequate']"),
    ("provider", ["enter_special_measures"], "rating on 2 January 2024 is none"),
    (
        "provider",
        [("rate", "Inadequate"), "enter_special_measures", "exit_special_measures"],
        "no completed re-inspection of 1-000000001 since it entered special measures on 3 January 2024",
    ),
    (
        "provider",
        [("rate", "Inadequate"), "enter_special_measures", ("inspect",), "exit_special_measures"],
        "1-000000001 is still rated Inadequate on Overall (published 2 January 2024)",
    ),
    (
        "provider",
        [
            ("rate", "Inadequate"),
            "enter_special_measures",
            ("inspect",),
            ("rate", "Inadequate"),
            "exit_special_measures",
        ],
        "1-000000001 is still rated Inadequate on Overall (published 5 January 2024)",
    ),
    ("commissioner", ["intervene", "exit_intervention"], "no assessment of 1-000000001 recorded since"),
    (
        "commissioner",
        ["intervene", ("assess", "inadequate"), "exit_intervention"],
        "1-000000001's latest assessment (2024/25) is still inadequate",
    ),
    (
        "commissioner",
        ["intervene", ("action", "open"), ("assess", "good"), "exit_intervention"],
        "1 recovery action(s) still open: #1 recovery plan (the board, due 3 January 2024)",
    ),
    (
        "provider",
        [("rate", "Inadequate"), "enter_special_measures", "complied"],
        "is not allowed from 'special_measures'",
    ),
    ("provider", ["requirement_notice", "complied", "warning_notice"], "is closed"),
    ("provider", ["revoke_everything"], "unknown event 'revoke_everything'"),
    ("nhs_trust", ["enter_recovery_support"], "is not allowed from 'segment_1'"),
    ("nhs_trust", ["to_segment_1"], "is not allowed from 'segment_1'"),
    ("commissioner", ["give_directions"], "is not allowed from 'open'"),
    ("commissioner", ["intervene", ("assess", "good"), "exit_intervention", "intervene"], "is closed"),
]


@pytest.mark.parametrize(
    ("name", "steps", "expected"),
    CASES,
    ids=[f"{c[0]}:{'>'.join(s if isinstance(s, str) else '-'.join(s) for s in c[1])}" for c in CASES],
)
def test_regime_transitions(engine, name, steps, expected):
    _org(engine)
    case_id = regime.open_case(engine, name, ORG, "chief-1", "opened for the test", at=D0)
    day = D0
    events = [s for s in steps if isinstance(s, str)]
    for n, step in enumerate(steps):
        day += dt.timedelta(days=1)
        if not isinstance(step, str):
            _step(engine, step, day)
            continue
        if n == len(steps) - 1 and " " in expected:  # an error message: the last step must be refused
            before = regime.transitions(engine, case_id)
            with pytest.raises(InputError, match=re.escape(expected)):
                regime.transition(engine, case_id, step, "chief-1", f"step {n}", at=day)
            assert len(regime.transitions(engine, case_id)) == len(before)  # nothing written
            return
        regime.transition(engine, case_id, step, "chief-1", f"step {n}", at=day)
    case = regime.cases(engine, ORG).iloc[0]
    assert case["state"] == expected
    history = regime.transitions(engine, case_id)
    assert list(history["event"]) == ["open", *events]
    assert set(history["user_name"]) == {"chief-1"} and history["reason"].str.len().min() > 0
    with engine.connect() as connection:
        audited = connection.execute(
            sa.select(sa.func.count())
            .select_from(schema.audit_event)
            .where(schema.audit_event.c.action.like("regime.%"))
        ).scalar()
    actions = regime.actions(engine, case_id)
    assert audited == len(history) + len(actions) + int((actions["status"] == "done").sum())


def test_deadlines_and_overdue_report(engine):
    _org(engine)
    case_id = regime.open_case(engine, "provider", ORG, "chief-1", "concerns", at=D0)
    _rate(engine, "Inadequate", D0)
    case = regime.transition(engine, case_id, "enter_special_measures", "chief-1", "rated Inadequate", at=D0)
    assert case["deadline"] == D0 + dt.timedelta(days=182)
    assert case["deadline_action"] == "re-inspect within 6 months"
    assert regime.overdue(engine, D0 + dt.timedelta(days=182)).empty
    late = regime.overdue(engine, D0 + dt.timedelta(days=200))
    assert list(late["org_code"]) == [ORG] and list(late["days_overdue"]) == [18]
    assert regime.special_measures(engine) == [ORG]
    assert regime.inadequate_without_special_measures(engine, D0).empty


def test_inadequate_rating_without_special_measures_is_reported(engine):
    _org(engine)
    _rate(engine, "Inadequate", D0)
    due = regime.inadequate_without_special_measures(engine, D0)
    assert list(due["org_code"]) == [ORG]


def test_refusals_need_who_and_why_and_no_backdating(engine):
    _org(engine)
    with pytest.raises(InputError, match="why must be given"):
        regime.open_case(engine, "provider", ORG, "chief-1", " ")
    case_id = regime.open_case(engine, "provider", ORG, "chief-1", "concerns", at=D0)
    with pytest.raises(InputError, match="already has open provider case"):
        regime.open_case(engine, "provider", ORG, "chief-1", "again", at=D0)
    with pytest.raises(InputError, match="who makes the change"):
        regime.transition(engine, case_id, "requirement_notice", "", "x", at=D0)
    with pytest.raises(InputError, match="before the case's last transition"):
        regime.transition(engine, case_id, "requirement_notice", "chief-1", "x", at=D0 - dt.timedelta(days=1))
    with pytest.raises(InputError, match="unknown regime"):
        regime.open_case(engine, "hospital", ORG, "chief-1", "x")


def test_commissioner_interventions_decided_by_fund_are_taken_over(engine):
    from carelens.fund.assessment import interventions, record_intervention

    _org(engine, "QHM", "commissioner")
    decision = record_intervention(engine, "QHM", 2024, "directions", ["assessment Inadequate"], "board-1")
    adopted = regime.adopt_fund_interventions(engine, "board-1", at=D0)
    assert len(adopted) == 1
    case = regime.cases(engine, "QHM").iloc[0]
    assert case["state"] == "intervention" and case["fund_intervention_id"] == decision
    assert interventions(engine)["status"].tolist() == ["regime"]
    assert regime.adopt_fund_interventions(engine, "board-1", at=D0) == []  # nothing left open
