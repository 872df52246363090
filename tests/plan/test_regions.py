"""The plan reaches NHS trusts: their regions come from the ODS trust file in the store, ``--regions`` adds to
and overrides the packaged regions per organisation, and the capacity what-if counts the high-risk trusts
(issue 14, item 6)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from carelens.cli import app
from carelens.plan.demand import NO_REGION
from carelens.plan.programme import load_inputs, region_overrides, schedule
from carelens.plan.whatif import why_flat
from carelens.store.engine import create_engine


@pytest.fixture(scope="module")
def demo_plan(demo_db):
    inputs = load_inputs(create_engine(demo_db), 26)
    return inputs, schedule(inputs, "milp")


def test_trusts_in_the_ods_file_are_scheduled_and_the_rest_say_why(demo_plan):
    _, plan = demo_plan
    trusts = plan.inspections[plan.inspections["inspection_type"] == "trust_well_led"]
    placed = trusts[trusts["region"].notna()]
    assert set(placed["region"]) == {"Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63"}
    assert len(placed) > 150 and placed["status"].eq("planned").mean() > 0.9
    assert placed.loc[placed["org_code"] == "RK9", "region"].item() == "Y58"
    missing = trusts[trusts["region"].isna()]
    # the 59 fictional trusts of the synthetic local-systems data, 4 bodies the ODS trust file does not
    # list (TAD, a care trust, reports waiting times) and the 3 Welsh trusts it gives no NHS England region
    assert len(missing) == 66
    assert missing["org_code"].str.match(r"^RX\d{3}$").sum() == 59
    assert {"5QQ", "5QT", "TAL", "TAD", "RQF", "RT4", "RYT"} <= set(missing["org_code"])
    assert set(missing["unscheduled_reason"]) == {NO_REGION["nhs_trust"]}
    assert "ODS trust file" in NO_REGION["nhs_trust"]


def test_trusts_closed_before_the_plan_date_are_not_planned(demo_plan):
    inputs, _ = demo_plan
    planned = set(inputs.demand["org_code"])
    assert "RJD" not in planned  # Mid Staffordshire NHS FT, closed 2017-10-31
    assert "RBZ" in planned  # Northern Devon Healthcare, closed 2022-03-31, after the plan date 2021-01-25


def test_regions_file_adds_to_and_overrides_the_packaged_regions(demo_db, tmp_path):
    packaged = region_overrides()
    kept, moved = packaged["org_code"].iloc[0], packaged["org_code"].iloc[1]
    mine = tmp_path / "regions.csv"
    pd.DataFrame({"org_code": [moved, "RX001", "RK9"], "region": ["Y56", "Y60", "Y61"]}).to_csv(
        mine, index=False
    )
    both = region_overrides(mine).set_index("org_code")["region"]
    assert len(both) == len(packaged) + 2  # RX001 and RK9 added, one location overridden
    assert (both[kept], both[moved], both["RX001"]) == ("Y58", "Y56", "Y60")
    demand = load_inputs(create_engine(demo_db), 26, regions=mine).demand.set_index("org_code")["region"]
    # the packaged location keeps its region, the file's ones win, the store's trust region is overridden
    assert (demand[kept], demand[moved], demand["RX001"], demand["RK9"]) == ("Y58", "Y56", "Y60", "Y61")


def test_cli_plan_names_why_trusts_are_not_scheduled(demo_db, tmp_path):
    result = CliRunner().invoke(
        app, ["plan", "inspections", "--db", demo_db, "--weeks", "26", "-o", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(tmp_path / "p.csv")
    trusts = plan[plan["inspection_type"] == "trust_well_led"]
    assert trusts["status"].eq("planned").sum() > 150
    assert "no hospitals inspectors based in region" not in result.output  # every region has some


def test_capacity_what_if_counts_high_risk_trusts_and_says_why_it_is_flat(demo_db):
    result = CliRunner().invoke(app, ["plan", "capacity", "--db", demo_db, "--extra", "0,230"])
    assert result.exit_code == 0, result.output
    inputs = load_inputs(create_engine(demo_db), 26)
    from carelens.plan.programme import capacity

    curve = capacity(inputs, [0, 230])
    high = inputs.demand[inputs.demand["high_risk"]]
    blocked = curve.attrs["high_risk_unschedulable"]
    assert sum(blocked.values()) == high["region"].isna().sum()
    assert NO_REGION["nhs_trust"] not in blocked  # every high-risk trust has a region
    at_0, at_230 = curve["high_risk_within"].tolist()
    said = " ".join(result.output.split())
    if at_230 > at_0:
        assert why_flat(curve) == []
    else:  # say truthfully why not: every schedulable high-risk inspection already fits
        assert at_0 == len(high) - sum(blocked.values())
        assert "Capacity is not what holds back high-risk inspections" in said
        for reason in blocked:
            assert reason in said


def test_why_flat_is_silent_when_extra_inspectors_help_and_names_what_blocks():
    helps = pd.DataFrame({"extra_inspectors": [0, 5], "high_risk_within": [3, 7]})
    helps.attrs = {"high_risk_total": 9, "within_weeks": 13, "high_risk_unschedulable": {}, "added_to": {}}
    assert why_flat(helps) == []
    flat = pd.DataFrame({"extra_inspectors": [0, 5], "high_risk_within": [3, 3]})
    flat.attrs = {
        "high_risk_total": 9,
        "within_weeks": 13,
        "high_risk_unschedulable": {"no region on record": 2},
        "added_to": {"primary_care / Y56": 5},
    }
    lines = why_flat(flat)
    assert (
        lines[0].startswith("High-risk inspections within 13 weeks do not change")
        and "3 of the 7" in lines[0]
    )
    assert "2 cannot be scheduled however many inspectors are added: no region on record." in lines
    assert "5 to primary_care / Y56" in lines[-1]
