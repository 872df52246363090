"""Delegated/pooled budgets and commissioner interventions in the store (SQLite and PostgreSQL), and
the commissioner assessment on a hand-made example."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.errors import InputError
from carelens.fund.assessment import assess, interventions, load_rules, record_intervention
from carelens.fund.budgets import Budget, budget_summary, budgets, read_budgets, record_budgets
from carelens.store import schema


def audit_actions(engine) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(schema.audit_event.c.action).order_by(schema.audit_event.c.id)
            ).scalars()
        )


def test_budgets_are_versioned_and_audited(engine):
    nhse = Budget("QHM", 2024, "delegated", "NHS England", "primary medical care", 28.9e9)
    pool = Budget("QHM", 2024, "pooled", "Newcastle City Council", "Better Care Fund", 60e6, 35e6)
    assert record_budgets(engine, [nhse, pool], "alice") == {"inserted": 2, "superseded": 0, "unchanged": 0}
    assert record_budgets(engine, [nhse], "alice")["unchanged"] == 1
    changed = Budget("QHM", 2024, "delegated", "NHS England", "primary medical care", 29.1e9)
    assert record_budgets(engine, [changed], "bob") == {"inserted": 1, "superseded": 1, "unchanged": 0}
    current = budgets(engine, 2024)
    assert sorted(current["amount_gbp"]) == [60e6, 29.1e9]
    assert len(budgets(engine, history=True)) == 3
    summary = budget_summary(engine, 2024).iloc[0]
    assert (summary["delegated_gbp"], summary["pooled_gbp"], summary["contribution_gbp"]) == (
        29.1e9,
        60e6,
        35e6,
    )
    assert audit_actions(engine) == ["budget.recorded"] * 3


def test_bad_budget_file_writes_nothing(engine, tmp_path):
    path = tmp_path / "budgets.csv"
    path.write_text(
        "commissioner_code,year,kind,counterparty,name,amount_gbp,contribution_gbp\n"
        "QHM,2024-25,pooled,Newcastle,BCF,100,50\n"
        "QHM,2024,shared,Newcastle,BCF,100,\n"
        "QHM,2024-25,delegated,NHSE,PMC,100,20\n"
    )
    with pytest.raises(InputError) as caught:
        record_budgets(engine, read_budgets(path), "alice", str(path))
    found = {(p.row, p.field) for p in caught.value.problems}
    assert {(2, "kind"), (2, "year"), (3, "contribution_gbp")} <= found
    assert budgets(engine).empty and audit_actions(engine) == []


def test_intervention_is_recorded_with_reasons_and_audited(engine):
    new_id = record_intervention(engine, "QXX", 2024, "directions", ["deficit of 3% of allocation"], "carol")
    row = interventions(engine).iloc[0]
    assert (row["id"], row["commissioner_code"], row["status"], row["reasons"]) == (
        new_id,
        "QXX",
        "open",
        ["deficit of 3% of allocation"],
    )
    assert audit_actions(engine) == ["intervention.decided"]
    with pytest.raises(InputError, match="reason"):
        record_intervention(engine, "QXX", 2024, "directions", [], "carol")


@pytest.fixture
def worked_example():
    """20 commissioners, one proportion indicator (lower is better), 10% everywhere except C00 (20%)
    and C01 (5%); C02 overspends by 3%; C03's leadership is rated inadequate by a panel."""
    codes = [f"C{i:02d}" for i in range(20)]
    population = np.linspace(150_000, 2_050_000, 20)
    denominator = np.full(20, 10_000.0)
    numerator = np.full(20, 1_000.0)
    numerator[0], numerator[1] = 2_000.0, 500.0
    observations = pd.DataFrame(
        {
            "indicator_id": "emergency_readmissions",
            "org_code": codes,
            "period": pd.Timestamp("2024-04-01"),
            "numerator": numerator,
            "denominator": denominator,
            "expected": np.nan,
            "value": numerator / denominator,
        }
    )
    definitions = {
        "emergency_readmissions": SimpleNamespace(
            domain="recovery", value_type="proportion", polarity="lower_is_better"
        )
    }
    commissioners = pd.DataFrame({"commissioner_code": codes, "population": population})
    allocation = population * 1500
    spend = allocation * np.where(np.arange(20) == 2, 1.03, 0.999)
    finance = pd.DataFrame({"commissioner_code": codes, "allocation_gbp": allocation, "spend_gbp": spend})
    leadership = pd.DataFrame({"commissioner_code": ["C03"], "leadership": ["inadequate"]})
    return commissioners, observations, definitions, finance, leadership


def test_commissioner_assessment_worked_example(worked_example):
    commissioners, observations, definitions, finance, leadership = worked_example
    result = assess(commissioners, observations, definitions, load_rules(), finance, leadership)
    card = result.scorecard.set_index("commissioner_code")
    assert card.loc["C00", ["worse", "better", "outcomes_rating", "overall"]].tolist() == [
        1,
        0,
        "inadequate",
        "inadequate",
    ]
    assert card.loc["C01", ["better", "outcomes_rating", "overall"]].tolist() == [
        1,
        "outstanding",
        "outstanding",
    ]
    assert card.loc["C02", ["finance_rating", "overall"]].tolist() == ["inadequate", "inadequate"]
    assert (
        "deficit of £" in card.loc["C02", "reasons"][1]
        and "-3.0% of allocation" in card.loc["C02", "reasons"][1]
    )
    assert (
        card.loc["C03", "overall"] == "inadequate"
        and "panel rated inadequate" in card.loc["C03", "reasons"][-1]
    )
    assert card.loc["C04", "overall"] == "good"
    assert sorted(card.index[card["intervene"]]) == ["C00", "C02", "C03"]
    # size analysis: 1 commissioner under 200,000 (C00, the worst) and 19 above.
    size = result.size.set_index("band")
    assert size["commissioners"].tolist() == [1, 3, 5, 11]
    assert size.iloc[0]["worse"] == 1
    assert -1 <= result.size_correlation < 0


def test_bad_rating_in_assessment_rules_names_the_yaml_field(tmp_path):
    from carelens.config import packaged

    text = packaged("fund", "assessment.yaml").read_text()
    assert "intervene_at:" in text
    bad = tmp_path / "rules.yaml"
    lines = [
        line.split(":")[0] + ": Terrible" if line.strip().startswith("intervene_at:") else line
        for line in text.splitlines()
    ]
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as caught:
        load_rules(bad)
    message = str(caught.value)
    assert "overall.intervene_at" in message and str(bad) in message
