"""The inspector-capacity what-if: monotone in the number of extra inspectors, printed by the CLI."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from carelens.cli import app
from carelens.plan.whatif import capacity_curve, curve_svg, extra_inspectors

from .conftest import AS_OF, synthetic_demand, synthetic_staff


@pytest.mark.parametrize("seed", [1, 2])
def test_curve_is_monotone_and_extra_inspectors_help(seed):
    demand = synthetic_demand(500, seed=seed, regions=("R1", "R2"))
    demand["high_risk"] = demand["risk"] >= 5
    inspectors, leave = synthetic_staff(6, seed=seed, regions=("R1", "R2"))
    curve = capacity_curve(demand, inspectors, leave, AS_OF, 13, [0, 1, 2, 3, 5, 8, 13, 21])
    assert curve["high_risk_within"].is_monotonic_increasing
    assert curve["overdue_remaining"].is_monotonic_decreasing
    assert curve["high_risk_within"].iloc[-1] > curve["high_risk_within"].iloc[0]
    assert curve["overdue_remaining"].iloc[-1] < curve["overdue_remaining"].iloc[0]
    assert (curve["high_risk_per_extra_inspector"].dropna() >= 0).all()
    assert (curve["overdue_cleared_per_extra_inspector"].dropna() >= 0).all()
    assert curve["high_risk_within"].max() <= curve.attrs["high_risk_total"]
    assert curve_svg(curve).lstrip().startswith("<svg")


def test_extra_inspectors_are_nested():
    demand = synthetic_demand(200, seed=4, regions=("R1", "R2"))
    inspectors, _ = synthetic_staff(4, seed=4, regions=("R1", "R2"))
    five = extra_inspectors(demand, inspectors, 26, 5)
    nine = extra_inspectors(demand, inspectors, 26, 9)
    assert nine.iloc[:5].equals(five)
    assert set(nine["skills"]) == {"nursing"}


def test_cli_capacity_on_demo(demo_db, tmp_path):
    svg = tmp_path / "curve.svg"
    result = CliRunner().invoke(
        app, ["plan", "capacity", "--db", demo_db, "--extra", "0,10,40", "--svg", str(svg)]
    )
    assert result.exit_code == 0, result.output
    assert "high_risk_within" in result.output and "overdue_remaining" in result.output
    assert svg.read_text().lstrip().startswith("<svg")
    bad = CliRunner().invoke(app, ["plan", "capacity", "--db", demo_db, "--extra", "ten"])
    assert bad.exit_code == 2 and "not a list of whole numbers" in bad.output


def test_no_schedulable_demand_adds_no_inspectors():
    """A store with nothing due in any region (e.g. only A&E data) gives a flat curve, not a crash."""
    demand = pd.DataFrame({"sector": ["asc"], "region": [None], "team": [2], "days": [1.0], "skill": [""]})
    inspectors = pd.DataFrame(
        {"inspector_id": ["I1"], "sector": ["asc"], "region": ["SW"], "days_per_week": [5]}
    )
    assert extra_inspectors(demand, inspectors, weeks=26, n=5).empty
