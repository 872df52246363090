"""The failure regime state machines, table-tested on SQLite and PostgreSQL: legal paths end in the
expected state with every transition recorded (who, when, why) and audited; illegal transitions are
refused with a clear error and write nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from carelens.assess.history import record_rating
from carelens.errors import InputError
from carelens.plan import regime
from carelens.store import schema

ORG = "1-000000001"
D0 = dt.date(2024, 1, 1)


def _org(engine, code=ORG, kind="care_home"):
    with engine.begin() as connection:
        connection.execute(
            schema.organisation.insert().values(code=code, name=code, kind=kind, sector="adult_social_care")
        )


def _rate(engine, rating, on, code=ORG):
    record_rating(
        engine,
        org_code=code,
        key_question="Overall",
        rating=rating,
        rule_rating=None,
        method="test",
        effective_date=on,
        user="inspector-a",
    )


# (regime, steps, expected final state or the error text of the last step). A step is an event, or
# ("rate", rating) to record an overall rating before the next event.
CASES = [
    ("provider", ["requirement_notice", "warning_notice", "impose_conditions", "complied"], "closed"),
    ("provider", ["warning_notice", "complied"], "closed"),
    ("provider", [("rate", "Inadequate"), "enter_special_measures"], "special_measures"),
    (
        "provider",
        [
            ("rate", "Inadequate"),
            "enter_special_measures",
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
    ("commissioner", ["intervene", "give_directions", "review_directions", "exit_intervention"], "closed"),
    # illegal
    ("provider", ["exit_special_measures"], "is not allowed from 'open'"),
    ("provider", ["cancel_registration"], "is not allowed from 'open'"),
    ("provider", ["impose_conditions"], "is not allowed from 'open'"),
    ("provider", [("rate", "Good"), "enter_special_measures"], "needs an overall rating in ['Inadequate']"),
    ("provider", ["enter_special_measures"], "rating on 2024-01-02 is none"),
    (
        "provider",
        [("rate", "Inadequate"), "enter_special_measures", "exit_special_measures"],
        "needs an overall rating not in ['Inadequate']",
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
    ("commissioner", ["intervene", "exit_intervention", "intervene"], "is closed"),
]


@pytest.mark.parametrize(
    ("name", "steps", "expected"),
    CASES,
    ids=[f"{c[0]}:{'>'.join(s if isinstance(s, str) else s[1] for s in c[1])}" for c in CASES],
)
def test_regime_transitions(engine, name, steps, expected):
    _org(engine)
    case_id = regime.open_case(engine, name, ORG, "chief-1", "opened for the test", at=D0)
    day = D0
    events = [s for s in steps if isinstance(s, str)]
    for n, step in enumerate(steps):
        day += dt.timedelta(days=1)
        if not isinstance(step, str):
            _rate(engine, step[1], day)
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
    assert audited == len(history)


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
