"""Issue 18's reproductions of a failure regime that could be ducked, each a regression test: special
measures left while still Inadequate on Safe and Well-led, an intervention closed while the commissioner
is still inadequate, a case opened for an organisation that does not exist, and a 24th system review on
a 23-review budget. Small stores are built on SQLite and PostgreSQL; the demo store (SQLite) replays the
issue's own commands."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from carelens.cli import app
from carelens.errors import InputError, Refused
from carelens.model.access import Actor, Role
from carelens.model.dates import date_in_words
from carelens.plan import regime
from carelens.services import NotFound, planning
from carelens.store import schema

from .regime_store import add_org, assess, publish, reinspect

ORG = "1-000000009"
D0 = dt.date(2024, 1, 1)
BOARD = Actor("board-1", Role.NATIONAL_BOARD)
CHIEF = Actor("chief-1", Role.CHIEF_INSPECTOR, sector="adult_social_care")


def _in_special_measures(engine) -> int:
    add_org(engine, ORG)
    publish(engine, ORG, D0, "Inadequate", Safe="Inadequate", Well_led="Inadequate", Caring="Good")
    case_id = planning.open_case(engine, CHIEF, "provider", ORG, "rated Inadequate", D0)
    planning.move_case(engine, CHIEF, case_id, "enter_special_measures", "rated Inadequate", D0)
    return case_id


def _refusal(error: pytest.ExceptionInfo) -> str:
    return " | ".join(p.reason for p in error.value.problems)


def test_special_measures_are_not_left_while_inadequate_on_a_key_question_that_put_it_there(engine):
    case_id = _in_special_measures(engine)
    reinspect(engine, ORG, D0 + dt.timedelta(days=60))
    publish(engine, ORG, D0 + dt.timedelta(days=70), "Good")  # overall only, as `rate record` did
    publish(engine, ORG, D0 + dt.timedelta(days=70), "Good", published=False, Safe="Good")  # a draft
    later = D0 + dt.timedelta(days=71)
    with pytest.raises(Refused) as refused:
        planning.move_case(engine, CHIEF, case_id, "exit_special_measures", "improved", later)
    reasons = _refusal(refused)
    assert f"{ORG} is still rated Inadequate on Safe (published {date_in_words(D0)})" in reasons
    assert f"{ORG} is still rated Inadequate on Well-led (published {date_in_words(D0)})" in reasons
    assert "Overall" not in reasons and "Caring" not in reasons
    assert regime.cases(engine, ORG).iloc[0]["state"] == "special_measures"
    publish(engine, ORG, later, "Good", Safe="Requires improvement", Well_led="Good")
    case = planning.move_case(engine, CHIEF, case_id, "exit_special_measures", "improved", later)
    assert case["state"] == "closed" and case["closed"]


def test_special_measures_are_not_left_without_a_re_inspection_since_entry(engine):
    case_id = _in_special_measures(engine)
    reinspect(engine, ORG, D0 - dt.timedelta(days=30))  # before entry: not a re-inspection
    publish(engine, ORG, D0 + dt.timedelta(days=10), "Good", Safe="Good", Well_led="Good")
    with pytest.raises(Refused, match=f"no completed re-inspection of {ORG} since it entered special"):
        planning.move_case(engine, CHIEF, case_id, "exit_special_measures", "improved", D0 + dt.timedelta(11))


def test_an_intervention_is_not_closed_while_the_commissioner_is_still_inadequate(engine):
    from carelens.fund.assessment import record_intervention

    add_org(engine, "QOP", "commissioner", "commissioning")
    record_intervention(engine, "QOP", 2024, "directions", ["assessment inadequate"], "board-1")
    [case_id] = planning.adopt_interventions(engine, BOARD)
    with pytest.raises(Refused, match="no assessment of QOP recorded since the case opened"):
        planning.move_case(engine, BOARD, case_id, "exit_intervention", "improved")
    assess(engine, "QOP", 2025, "inadequate")
    with pytest.raises(Refused, match=r"QOP's latest assessment \(2025/26\) is still inadequate"):
        planning.move_case(engine, BOARD, case_id, "exit_intervention", "improved")
    action = planning.add_recovery_action(engine, BOARD, case_id, "recovery plan", "QOP chief executive", D0)
    assess(engine, "QOP", 2025, "good")
    with pytest.raises(Refused, match=r"1 recovery action\(s\) still open: #\d+ recovery plan"):
        planning.move_case(engine, BOARD, case_id, "exit_intervention", "improved")
    planning.complete_recovery_action(engine, BOARD, action["id"], "plan agreed by the board")
    assert planning.move_case(engine, BOARD, case_id, "exit_intervention", "improved")["state"] == "closed"
    # the chief inspector neither sees nor changes the national board's cases
    with pytest.raises(NotFound, match=f"no regime case {case_id}"):
        planning.regime_case(engine, CHIEF, case_id)


def test_a_case_is_opened_only_for_an_organisation_in_the_store(engine):
    with pytest.raises(InputError, match="no organisation 'NOPE' in the store"):
        regime.open_case(engine, "provider", "NOPE", "chief-1", "concerns", D0)
    assert regime.cases(engine).empty


def test_an_overdue_case_escalates_step_by_step_to_cancellation(engine):
    case_id = _in_special_measures(engine)
    due = D0 + dt.timedelta(days=182)
    with pytest.raises(
        Refused, match=f"case {case_id} is not overdue on {date_in_words(due)}: its next action is due by {date_in_words(due)}"
    ):
        planning.escalate_case(engine, CHIEF, case_id, "no re-inspection", due)
    late = planning.overdue_cases(engine, BOARD, due + dt.timedelta(days=1))  # on the board's list too
    assert list(late["escalate_to"]) == ["propose_cancellation"]
    case = planning.escalate_case(engine, CHIEF, case_id, "no improvement", due + dt.timedelta(days=1))
    assert case["state"] == "cancellation_proposed"
    case = planning.escalate_case(
        engine, CHIEF, case_id, "representations heard", due + dt.timedelta(days=40)
    )
    assert case["state"] == "registration_cancelled" and case["closed"]
    with pytest.raises(Refused, match="is closed"):
        planning.escalate_case(engine, CHIEF, case_id, "again", due + dt.timedelta(days=41))


# --- the commands on the demo store ---------------------------------------------------------


@pytest.fixture
def demo_copy(demo_db, tmp_path) -> str:
    """A copy of the demo store with what ``carelens demo`` does for these reproductions: 1-112104377
    (rated Inadequate overall on 2019-03-23) in special measures as case 1, and the review programme
    LSR-DEMO directed and selected (23 reviews)."""
    from carelens.demo.systems import run_systems_demo

    path = tmp_path / "demo.db"
    shutil.copy(demo_db.removeprefix("sqlite:///"), path)
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    why = "rated Inadequate overall on 2019-03-23 (published rating)"
    case_id = regime.open_case(engine, "provider", "1-112104377", "carelens-demo", why, dt.date(2019, 3, 23))
    regime.transition(engine, case_id, "enter_special_measures", "carelens-demo", why, dt.date(2019, 3, 23))
    run_systems_demo(engine, "carelens-demo")
    engine.dispose()
    return url


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_the_demo_special_measures_case_is_not_closed_on_a_new_overall_rating(demo_copy):
    """Before: `rate record ... --published` then `regime move 1 exit_special_measures` closed the case of a
    location still rated Inadequate on Safe and Well-led. A rating is now proposed (published only by a
    second person) and the exit needs a completed re-inspection with published ratings no longer
    Inadequate (tests below, on small stores)."""
    case = regime.cases(sa.create_engine(demo_copy), "1-112104377")
    assert list(case["id"]) == [1] and case.iloc[0]["state"] == "special_measures"
    rated = _run(
        "rate",
        "record",
        "1-112104377",
        "--rating",
        "Good",
        "--date",
        "2021-01-26",
        "--rationale",
        "improved",
        "--db",
        demo_copy,
    )
    assert rated.exit_code == 0, rated.output
    moved = _run(
        "regime",
        "move",
        "1",
        "exit_special_measures",
        "--at",
        "2021-01-27",
        "--reason",
        "improved",
        "--db",
        demo_copy,
    )
    assert moved.exit_code == 2, moved.output
    assert "no completed re-inspection of 1-112104377 since it entered special measures" in " ".join(
        moved.output.split()
    )
    assert regime.cases(sa.create_engine(demo_copy), "1-112104377").iloc[0]["state"] == "special_measures"


def test_regime_open_for_an_organisation_that_does_not_exist(demo_copy):
    opened = _run("regime", "open", "provider", "NOPE", "--reason", "x", "--db", demo_copy)
    assert opened.exit_code == 2
    assert "no organisation 'NOPE' in the store: no case opened" in " ".join(opened.output.split())
    assert regime.cases(sa.create_engine(demo_copy), "NOPE").empty


def test_no_24th_review_of_an_unselected_place_on_a_23_review_budget(demo_copy, tmp_path):
    from carelens.store.schema_systems import systems_review

    engine = sa.create_engine(demo_copy)
    with engine.connect() as connection:
        before = connection.execute(sa.select(sa.func.count()).select_from(systems_review)).scalar()
    assert before == 23
    findings = tmp_path / "findings.csv"
    pd.DataFrame({"stage": ["crisis_and_step_up"], "finding": ["seen"]}).to_csv(findings, index=False)
    stages = _run(
        "systems", "review", "record", "LSR-DEMO", "PL040", "--findings", str(findings), "--db", demo_copy
    )
    text = " ".join(stages.output.split())
    assert stages.exit_code == 2, stages.output
    assert "'PL040' was not selected for review under LSR-DEMO" in text
    assert "LSR-DEMO's budget buys 23 review(s) and 23 are planned or recorded" in text
    with engine.connect() as connection:
        after = connection.execute(sa.select(sa.func.count()).select_from(systems_review)).scalar()
        audited = connection.execute(
            sa.select(sa.func.count())
            .select_from(schema.audit_event)
            .where(schema.audit_event.c.entity_key == "LSR-DEMO/PL040")
        ).scalar()
    assert after == 23 and audited == 0
