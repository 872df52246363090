"""Delegated/pooled budgets and commissioner interventions in the store (SQLite and PostgreSQL), and
the commissioner assessment on a hand-made example: verdicts from the one comparison specification,
and no rating without evidence."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.errors import InputError
from carelens.fund.assessment import (
    NOT_ASSESSED,
    assess,
    compare_outcomes,
    interventions,
    load_rules,
    record_intervention,
)
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


def test_outcome_verdicts_are_the_comparison_specifications(worked_example):
    """No levels in the definition: the verdict level is the monitoring settings' risk_z (1.96), and
    the judgement columns are the monitoring kernel's."""
    from carelens.monitor.kernel import JUDGEMENT_COLUMNS

    _, observations, definitions, _, _ = worked_example
    judged = compare_outcomes(observations, definitions).set_index("org_code")
    assert list(judged.columns) == ["domain", *(c for c in JUDGEMENT_COLUMNS if c != "org_code")]
    assert judged.loc["C00", "verdict"] == "worse" and judged.loc["C01", "verdict"] == "better"
    assert set(judged.drop(index=["C00", "C01"])["verdict"]) == {"as expected"}
    assert (judged["peer_group"] == "commissioners").all() and (judged["peers"] == 20).all()
    assert judged.loc["C00", "z_adjusted"] > 1.96 > -1.96 > judged.loc["C01", "z_adjusted"]


def test_no_evidence_no_rating(worked_example):
    """C05 sent no finance return and C06 has no observation: neither is rated, and neither is proposed
    for an intervention; with nothing at all (the demo store's case) nobody is rated good."""
    commissioners, observations, definitions, finance, leadership = worked_example
    fin = finance[finance["commissioner_code"] != "C05"]
    obs = observations[observations["org_code"] != "C06"]
    card = assess(commissioners, obs, definitions, load_rules(), fin, leadership, year=2024).scorecard
    card = card.set_index("commissioner_code")
    c05 = card.loc["C05"]
    assert (c05["outcomes_rating"], c05["finance_rating"], c05["overall"], c05["not_assessed"]) == (
        "good",
        NOT_ASSESSED,
        NOT_ASSESSED,
        "finance",
    )
    assert "finance: not assessed: no finance return for 2024-25" in c05["reasons"]
    assert c05["reasons"][-1].startswith("overall: not assessed: finance not assessed")
    c06 = card.loc["C06"]
    assert (c06["outcomes_rating"], c06["overall"], c06["assessed"]) == (NOT_ASSESSED, NOT_ASSESSED, 0)
    assert c06["reasons"][0] == (
        "outcomes: not assessed: no observation of any indicator compared (emergency_readmissions)"
    )
    assert card.loc["C00", "overall"] == "inadequate" and card.loc["C04", "overall"] == "good"
    assert not card.loc[["C05", "C06"], "intervene"].any()

    nothing = assess(commissioners, obs.iloc[0:0], definitions, load_rules(), year=2024).scorecard
    assert set(nothing["overall"]) == {NOT_ASSESSED} and not nothing["intervene"].any()
    assert set(nothing["outcomes_rating"]) == {NOT_ASSESSED} == set(nothing["finance_rating"])
    assert set(nothing["not_assessed"]) == {"outcomes and finance"}


def test_too_few_peers_is_not_assessed_and_says_why(worked_example):
    """Five commissioners are fewer than the funnel's minimum (monitoring settings min_units = 10)."""
    commissioners, observations, definitions, finance, _ = worked_example
    few = commissioners.head(5)
    card = assess(few, observations, definitions, load_rules(), finance).scorecard
    assert set(card["outcomes_rating"]) == {NOT_ASSESSED}
    assert card.iloc[0]["reasons"][0] == (
        "outcomes: not assessed: no indicator could be compared with peers: "
        "emergency_readmissions (too few comparable peers in the funnel)"
    )
    assert set(card["overall"]) == {NOT_ASSESSED} and set(card["not_assessed"]) == {"outcomes"}


def test_leadership_can_be_required(worked_example, tmp_path):
    from carelens.config import packaged

    commissioners, observations, definitions, finance, leadership = worked_example
    text = packaged("fund", "assessment.yaml").read_text()
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        text.replace("required: [outcomes, finance]", "required: [outcomes, finance, leadership]")
    )
    card = assess(commissioners, observations, definitions, load_rules(rules), finance, leadership).scorecard
    card = card.set_index("commissioner_code")
    assert card.loc["C03", "overall"] == "inadequate"  # the one panel rating given
    assert set(card.drop(index="C03")["not_assessed"]) == {"leadership"}


@pytest.mark.parametrize(
    ("replace", "field", "reason"),
    [
        ("  outstanding_if", "  level: 99.8\n  outstanding_if", "is no longer a setting"),
        ("  outstanding_if", "  overdispersion: additive\n  outstanding_if", "is no longer a setting"),
        ("required: [outcomes, finance]", "required: [outcomes, money]", "must list one or more of"),
    ],
)
def test_retired_or_bad_rules_name_the_field(tmp_path, replace, field, reason):
    from carelens.config import packaged

    text = packaged("fund", "assessment.yaml").read_text()
    assert replace in text
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace(replace, field, 1))
    with pytest.raises(InputError) as caught:
        load_rules(bad)
    [problem] = caught.value.problems
    name = field.strip().split(":")[0].split("\n")[0]
    assert problem.source == str(bad) and reason in problem.reason
    assert problem.field == {"level": "outcomes.level", "overdispersion": "outcomes.overdispersion"}.get(
        name, "overall.required"
    )


def test_an_intervention_on_a_commissioner_not_assessed_is_refused_and_nothing_is_written(engine):
    with pytest.raises(InputError, match="not assessed"):
        record_intervention(
            engine, "QOP", 2024, "directions", ["no finance return"], "carol", {"overall": NOT_ASSESSED}
        )
    assert interventions(engine).empty and audit_actions(engine) == []
