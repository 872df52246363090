"""The scheduler: feasible (checked independently of the scheduler), meets every statutory deadline
capacity allows with the rest listed, and beats the greedy baseline on risk covered at equal capacity."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from carelens.cli import app
from carelens.plan.inspectorate import PACKAGED_INSPECTORATE, monday, read_inspectorate
from carelens.plan.schedule import make_schedule, with_inspector_ids

from .conftest import AS_OF, synthetic_demand, synthetic_staff
from .feasibility import violations


@pytest.fixture(scope="module")
def demo_plans(demo_db):
    from carelens.plan.programme import load_inputs, schedule
    from carelens.store.engine import create_engine

    inputs = load_inputs(create_engine(demo_db), 26)
    return inputs, schedule(inputs, "milp"), schedule(inputs, "greedy")


def _teams(schedule, inspectors):
    return with_inspector_ids(schedule, inspectors)


def test_cli_plan_on_demo_data_is_feasible_and_meets_deadlines(demo_db, tmp_path):
    out, teams = tmp_path / "plan.csv", tmp_path / "teams.csv"
    result = CliRunner().invoke(
        app,
        [
            "plan",
            "inspections",
            "--weeks",
            "26",
            "--db",
            demo_db,
            "-o",
            str(out),
            "--teams",
            str(teams),
            "--save",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "saved as draft schedule" in result.output
    assert "statutory deadlines in horizon met: 78 of 78" in result.output
    assert "Not scheduled, by reason:" in result.output
    plan = pd.read_csv(out, parse_dates=["deadline", "start_date", "end_date"])
    team = pd.read_csv(teams, parse_dates=["start_date", "end_date"])
    inspectors, leave = read_inspectorate(
        PACKAGED_INSPECTORATE / "inspectors.csv", PACKAGED_INSPECTORATE / "leave.csv"
    )
    start = monday(plan["start_date"].min().date())
    assert violations(plan, team, inspectors, leave, start, 26) == []
    assert plan["start_date"].notna().sum() > 5000
    # every inspection not scheduled says why; every deadline in the horizon is met
    assert plan.loc[plan["start_date"].isna(), "unscheduled_reason"].notna().all()
    end = pd.Timestamp(start) + pd.Timedelta(weeks=26)
    due = plan[(plan["deadline"] >= pd.Timestamp(start)) & (plan["deadline"] < end - pd.Timedelta(days=6))]
    assert len(due) >= 70 and (due["end_date"] <= due["deadline"]).all()


def test_optimiser_beats_greedy_on_demo(demo_plans):
    inputs, best, greedy = demo_plans
    for schedule in (best, greedy):
        teams = _teams(schedule, inputs.inspectors)
        assert (
            violations(schedule.inspections, teams, inputs.inspectors, inputs.leave, inputs.as_of, 26) == []
        )
    assert best.summary["risk_covered"] > greedy.summary["risk_covered"]
    assert best.summary["deadlines_met"] >= greedy.summary["deadlines_met"]
    assert best.summary["gap"] <= 0.02  # the schedule itself, not just the model, is within 2% of the bound
    # unannounced inspections have a confidential window around the visit; announced ones none
    planned = best.inspections[best.inspections["start_date"].notna()]
    unannounced = planned[planned["unannounced"]]
    assert (unannounced["window_start"] < unannounced["start_date"]).all()
    assert (unannounced["window_end"] > unannounced["end_date"]).all()
    assert planned.loc[~planned["unannounced"], "window_start"].isna().all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_tight_capacity(seed):
    demand = synthetic_demand(120, seed=seed, regions=("R1", "R2"))
    inspectors, leave = synthetic_staff(8, seed=seed, regions=("R1", "R2"))
    best = make_schedule(demand, inspectors, leave, AS_OF, 8, method="milp")
    greedy = make_schedule(demand, inspectors, leave, AS_OF, 8, method="greedy")
    for schedule in (best, greedy):
        assert (
            violations(schedule.inspections, _teams(schedule, inspectors), inspectors, leave, AS_OF, 8) == []
        )
        assert (
            schedule.inspections.loc[schedule.inspections["start_date"].isna(), "unscheduled_reason"]
            .notna()
            .all()
        )
    assert best.summary["inspections_scheduled"] < len(demand)  # capacity binds
    assert best.summary["deadlines_met"] >= greedy.summary["deadlines_met"]
    assert best.summary["risk_covered"] >= greedy.summary["risk_covered"]


def test_what_cannot_be_scheduled_says_why():
    demand = synthetic_demand(4, seed=5)
    demand.loc[0, "region"] = None
    demand.loc[1, "skill"] = "midwifery"
    demand.loc[2, "team"] = 50
    demand.loc[3, "region"] = "R9"
    inspectors, leave = synthetic_staff(4)
    plan = make_schedule(demand, inspectors, leave, AS_OF, 4).inspections.set_index("org_code")
    reasons = plan["unscheduled_reason"]
    assert "no region on record" in reasons["L00000"]
    assert "skill 'midwifery'" in reasons["L00001"]
    assert "team of more inspectors" in reasons["L00002"]
    assert "no adult_social_care inspectors based in region R9" in reasons["L00003"]


def test_bad_inspectors_file_names_file_row_and_column(tmp_path):
    from carelens.errors import InputError

    path = tmp_path / "inspectors.csv"
    path.write_text(
        "inspector_id,sector,region,skills,days_per_week\nA1,hospitals,Y58,acute,5\nA2,hospitals,Y58,,7\n"
    )
    with pytest.raises(InputError, match=r"inspectors.csv, row 2, column 'days_per_week': at most 5"):
        read_inspectorate(path)
    leave = tmp_path / "leave.csv"
    path.write_text("inspector_id,sector,region,skills,days_per_week\nA1,hospitals,Y58,acute,5\n")
    leave.write_text("inspector_id,start,end\nA9,2024-01-01,2024-01-05\n")
    with pytest.raises(InputError, match=r"leave.csv, row 1, column 'inspector_id': unknown inspector 'A9'"):
        read_inspectorate(path, leave)


def test_feasibility_check_can_fail():
    """The independent checker catches a double-booked inspector, a missing skill and a short team."""
    demand = synthetic_demand(40, seed=7)
    inspectors, leave = synthetic_staff(6, seed=7)
    schedule = make_schedule(demand, inspectors, leave, AS_OF, 4)
    teams = _teams(schedule, inspectors)
    assert violations(schedule.inspections, teams, inspectors, leave, AS_OF, 4) == []
    clash = teams.copy()
    first, other = clash.iloc[0], clash[clash["start_date"] == clash.iloc[0]["start_date"]]
    other = other[other["org_code"] != first["org_code"]]
    if len(other):
        clash.loc[other.index[0], "inspector_id"] = first["inspector_id"]
        assert any(
            "double-booked" in p for p in violations(schedule.inspections, clash, inspectors, leave, AS_OF, 4)
        )
    short = teams.drop(index=teams.index[0])
    assert any("needs" in p for p in violations(schedule.inspections, short, inspectors, leave, AS_OF, 4))
    unskilled = inspectors.assign(skills="")
    assert any("skill" in p for p in violations(schedule.inspections, teams, unskilled, leave, AS_OF, 4))


def test_packaged_inspectorate_is_what_the_documented_generator_makes(demo_plans):
    from carelens.demo.inspectorate import DEMO_COVERAGE, DEMO_SEED, DEMO_WEEKS
    from carelens.plan.inspectorate import counts_for, synthetic_inspectorate

    inputs, _, _ = demo_plans
    inspectors, leave = synthetic_inspectorate(
        counts_for(inputs.demand, DEMO_WEEKS, DEMO_COVERAGE), inputs.as_of, DEMO_WEEKS, DEMO_SEED
    )
    packaged = pd.read_csv(PACKAGED_INSPECTORATE / "inspectors.csv", dtype={"skills": str}).fillna(
        {"skills": ""}
    )
    assert inspectors.astype(str).equals(packaged.astype(str))
    assert len(leave) == len(pd.read_csv(PACKAGED_INSPECTORATE / "leave.csv"))
