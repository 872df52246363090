"""ACO settlement worked examples (savings, losses, minimum savings rate by size band, failed quality
gate, caps), HHI thresholds, the quality gate and bundled payments; the stored settlement is audited."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.errors import InputError
from carelens.fund.budgets import Budget, record_budgets
from carelens.ingest.service import ingest
from carelens.store import schema
from carelens.systems.aco import (
    bundle_prices,
    hhi,
    minimum_savings_rate,
    quality_gate,
    read_finance,
    settle,
    settle_year,
    settlements,
)


@pytest.mark.parametrize(
    ("population", "msr"),
    [
        (4_999, np.nan),
        (5_000, 0.039),
        (5_999, 0.039),
        (6_000, 0.036),
        (9_500, 0.031),
        (10_000, 0.030),
        (18_000, 0.027),
        (20_000, 0.025),
        (49_999, 0.025),
        (55_000, 0.022),
        (60_000, 0.020),
        (2_000_000, 0.020),
    ],
)
def test_minimum_savings_rate_by_size_band(config, population, msr):
    np.testing.assert_equal(minimum_savings_rate([population], config)[0], msr)


# population, benchmark per head, risk score, expenditure, model, quality passed ->
# benchmark, savings, minimum rate, outcome, payment (+ paid to the ACO, - repaid)
WORKED = [
    # savings of 5% beyond the 2.5% MSR (20,000 people): half of £1m is paid
    (
        20_000,
        1_000,
        1.0,
        19_000_000,
        "one_sided",
        True,
        20_000_000,
        1_000_000,
        0.025,
        "shared savings paid",
        500_000,
    ),
    # savings of 2% are below the 2.5% MSR: noise, nothing paid
    (
        20_000,
        1_000,
        1.0,
        19_600_000,
        "one_sided",
        True,
        20_000_000,
        400_000,
        0.025,
        "savings below minimum savings rate",
        0,
    ),
    # the same 3.64% saving: below the 3.9% MSR of 5,500 people, above the 2.7% MSR of 15,000
    (
        5_500,
        1_000,
        1.0,
        5_300_000,
        "one_sided",
        True,
        5_500_000,
        200_000,
        0.039,
        "savings below minimum savings rate",
        0,
    ),
    (
        15_000,
        1_000,
        1.0,
        15_000_000 * (1 - 0.2 / 5.5),
        "one_sided",
        True,
        15_000_000,
        15_000_000 * 0.2 / 5.5,
        0.027,
        "shared savings paid",
        15_000_000 * 0.2 / 5.5 / 2,
    ),
    # quality gate failed: savings are real but nothing is paid
    (
        20_000,
        1_000,
        1.0,
        19_000_000,
        "one_sided",
        False,
        20_000_000,
        1_000_000,
        0.025,
        "savings not paid: quality gate failed",
        0,
    ),
    # risk adjustment: a population 10% costlier than average has a 10% higher benchmark
    (
        20_000,
        1_000,
        1.1,
        21_000_000,
        "one_sided",
        True,
        22_000_000,
        1_000_000,
        0.025,
        "shared savings paid",
        500_000,
    ),
    # savings capped at 10% of the benchmark: 50% of a 30% saving would be 15%
    (
        60_000,
        1_000,
        1.0,
        42_000_000,
        "one_sided",
        True,
        60_000_000,
        18_000_000,
        0.020,
        "shared savings paid",
        6_000_000,
    ),
    # two-sided loss of 5% beyond the 2% minimum loss rate: half of £3m is repaid
    (
        60_000,
        1_000,
        1.0,
        63_000_000,
        "two_sided",
        True,
        60_000_000,
        -3_000_000,
        0.020,
        "shared losses repaid",
        -1_500_000,
    ),
    # repayment capped at 5% of the benchmark: half of a 20% loss would be 10%
    (
        60_000,
        1_000,
        1.0,
        72_000_000,
        "two_sided",
        True,
        60_000_000,
        -12_000_000,
        0.020,
        "shared losses repaid",
        -3_000_000,
    ),
    # a loss inside the minimum loss rate is not owed
    (
        60_000,
        1_000,
        1.0,
        60_600_000,
        "two_sided",
        True,
        60_000_000,
        -600_000,
        0.020,
        "loss within minimum loss rate",
        0,
    ),
    # a one-sided model never repays
    (
        60_000,
        1_000,
        1.0,
        63_000_000,
        "one_sided",
        True,
        60_000_000,
        -3_000_000,
        0.020,
        "loss not shared: one-sided model",
        0,
    ),
    # too small to settle
    (
        4_000,
        1_000,
        1.0,
        3_000_000,
        "one_sided",
        True,
        4_000_000,
        1_000_000,
        np.nan,
        "not settled: population below minimum",
        0,
    ),
]


@pytest.mark.parametrize(
    (
        "population",
        "per_head",
        "risk",
        "spend",
        "model",
        "quality",
        "bench",
        "savings",
        "rate",
        "outcome",
        "payment",
    ),
    WORKED,
)
def test_settlement_worked_examples(
    config, population, per_head, risk, spend, model, quality, bench, savings, rate, outcome, payment
):
    frame = pd.DataFrame(
        {
            "aco_code": ["A"],
            "population": [population],
            "benchmark_per_capita_gbp": [per_head],
            "risk_score": [risk],
            "expenditure_gbp": [spend],
            "risk_model": [model],
            "quality_passed": [quality],
        }
    )
    row = settle(frame, config).iloc[0]
    assert row["benchmark_gbp"] == pytest.approx(bench)
    assert row["savings_gbp"] == pytest.approx(savings)
    assert row["savings_rate"] == pytest.approx(savings / bench)
    np.testing.assert_allclose(row["minimum_rate"], rate)
    assert row["outcome"] == outcome
    assert row["payment_gbp"] == pytest.approx(payment, abs=0.01)


def test_settlement_is_one_vectorised_pass_over_many_acos(config):
    frame = pd.DataFrame(
        [
            dict(
                zip(
                    (
                        "population",
                        "benchmark_per_capita_gbp",
                        "risk_score",
                        "expenditure_gbp",
                        "risk_model",
                        "quality_passed",
                    ),
                    w[:6],
                    strict=True,
                )
            )
            for w in WORKED
        ]
    ).assign(aco_code=[f"A{i}" for i in range(len(WORKED))])
    result = settle(frame, config)
    assert list(result["outcome"]) == [w[9] for w in WORKED]
    np.testing.assert_allclose(result["payment_gbp"], [w[10] for w in WORKED], atol=0.01)


@pytest.mark.parametrize(
    ("shares", "index", "concentration", "flagged"),
    [
        ([100], 10_000, "highly concentrated", True),  # a monopoly
        ([50, 50], 5_000, "highly concentrated", True),
        ([40, 30, 20, 10], 3_000, "highly concentrated", True),
        ([30, 30, 20, 20], 2_600, "highly concentrated", True),
        ([25, 25, 25, 25], 2_500, "moderately concentrated", False),  # flagged only above 2,500
        ([20] * 5, 2_000, "moderately concentrated", False),
        ([10] * 10, 1_000, "unconcentrated", False),
    ],
)
def test_hhi_thresholds(config, shares, index, concentration, flagged):
    market = pd.DataFrame(
        {
            "aco_code": "A",
            "service_line": "community",
            "provider_code": [f"X{i}" for i in range(len(shares))],
            "activity": [s * 7.0 for s in shares],
        }
    )
    row = hhi(market, config).iloc[0]
    assert row["hhi"] == pytest.approx(index)
    assert (row["concentration"], bool(row["flagged"])) == (concentration, flagged)
    assert row["providers"] == len(shares) and row["largest_share"] == pytest.approx(max(shares))


def test_hhi_threshold_is_configurable(config):
    from dataclasses import replace

    market = pd.DataFrame(
        {"aco_code": "A", "service_line": "x", "provider_code": ["a", "b", "c", "d", "e"], "activity": 1.0}
    )
    assert not hhi(market, config).iloc[0]["flagged"]  # 2,000
    assert hhi(market, replace(config, hhi_high_above=1800)).iloc[0]["flagged"]


def test_quality_gate(config):
    rows = [("A1", i, "within") for i in config.quality_indicators]
    rows += [
        ("A2", i, "worse" if i == "readmission_30d_65plus" else "within") for i in config.quality_indicators
    ]
    rows += [("A3", "readmission_30d_65plus", "within"), ("A3", "dtoc_total", "better")]
    compared = pd.DataFrame(rows, columns=["org_code", "indicator_id", "assessment"])
    gate = quality_gate(compared, ["A1", "A2", "A3", "A4"], config).set_index("aco_code")
    assert list(gate["quality_passed"]) == [True, False, False, False]
    assert gate.loc["A2", "quality_reason"] == "worse than peers on: readmission_30d_65plus"
    assert gate.loc["A3", "quality_reason"] == "fewer than 3 quality indicators assessed"
    assert list(gate["assessed"]) == [5, 5, 2, 0]


def test_bundle_price_from_episode_costs(config):
    # 100 hip replacements costing 500 + 6,000 + 1,500 = £8,000 each, and one costing £108,000:
    # Winsorised at the 99th percentile (type 7: the 100th of the 101 sorted costs, £8,000), so the
    # Winsorised mean is £8,000 and the bundle price £8,000 less the 3% discount = £7,760.
    rows = [
        ("hip", f"H{k}", s, c)
        for k in range(100)
        for s, c in (("pre-op", 500), ("stay", 6_000), ("rehab", 1_500))
    ]
    rows += [
        ("hip", "H100", "pre-op", 500),
        ("hip", "H100", "stay", 106_000),
        ("hip", "H100", "rehab", 1_500),
    ]
    episodes = pd.DataFrame(rows, columns=["pathway", "pathway_id", "stage", "cost_gbp"])
    row = bundle_prices(episodes, config).iloc[0]
    assert row["instances"] == 101
    assert row["mean_cost_gbp"] == pytest.approx((100 * 8_000 + 108_000) / 101)
    assert row["winsorised_mean_gbp"] == pytest.approx(8_000)
    assert row["bundle_price_gbp"] == 7_760.0
    # the components the bundle replaces: mean cost per pathway of each stage
    assert row["stage_pre-op"] == pytest.approx(500)
    assert row["stage_stay"] == pytest.approx((100 * 6_000 + 106_000) / 101)


def test_settle_year_from_the_store_is_versioned_and_audited(engine, tmp_path, config, definitions):
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("code,name,kind\nACO1,ACO one,aco\nRX1,Trust,nhs_trust\nPL1,Place,place\n")
    links = tmp_path / "links.csv"
    links.write_text("kind,subject_code,object_code,valid_from\naco_member,RX1,ACO1,2019-04-01\n")
    ingest(engine, "organisations", [orgs], user="tester")
    ingest(engine, "relationships", [links], user="tester")
    record_budgets(
        engine, [Budget("ACO1", 2024, "pooled", "Council", "ACO pooled budget", 30e6, 20e6)], "tester"
    )
    finance = tmp_path / "finance.csv"
    finance.write_text(
        "aco_code,population,benchmark_per_capita_gbp,risk_score,expenditure_gbp,risk_model\n"
        "ACO1,20000,1000,1.0,19000000,one_sided\n"
    )
    # no quality indicators stored: the gate fails (fewer than 3 assessed), so nothing is paid
    first = settle_year(engine, read_finance(finance), 2024, config, definitions, "tester")
    assert first.loc[0, "outcome"] == "savings not paid: quality gate failed"
    assert first.loc[0, "pooled_budget_gbp"] == 30e6
    second = settle_year(engine, read_finance(finance), 2024, config, definitions, "tester")
    assert second.loc[0, "payment_gbp"] == 0
    stored = settlements(engine, 2024)
    assert len(stored) == 1 and len(settlements(engine, 2024, history=True)) == 2
    assert stored.loc[0, "detail"]["members"] == ["RX1"]
    with engine.connect() as connection:
        actions = list(connection.execute(sa.select(schema.audit_event.c.action)).scalars())
    assert actions.count("aco.settled") == 2

    finance.write_text(
        "aco_code,population,benchmark_per_capita_gbp,risk_score,expenditure_gbp,risk_model\n"
        "PL1,20000,1000,1.0,19000000,one_sided\nACO1,-5,1000,1.0,1,maybe\n"
    )
    with pytest.raises(InputError) as caught:
        settle_year(engine, read_finance(finance), 2024, config, definitions, "tester")
    assert {(p.row, p.field) for p in caught.value.problems} >= {(2, "population"), (2, "risk_model")}
    finance.write_text(
        "aco_code,population,benchmark_per_capita_gbp,risk_score,expenditure_gbp,risk_model\n"
        "PL1,20000,1000,1.0,19000000,one_sided\n"
    )
    with pytest.raises(InputError) as caught:
        settle_year(engine, read_finance(finance), 2024, config, definitions, "tester", source=str(finance))
    assert [(p.row, p.field) for p in caught.value.problems] == [(1, "aco_code")]
    assert len(settlements(engine, history=True)) == 2  # nothing written by the failed calls
