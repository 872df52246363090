"""The selection score ranks places as documented, and the programme plan's figures add up."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from carelens.errors import InputError
from carelens.systems.selection import plan_programme, selection_reasons, selection_scores

WEIGHTED = {  # default weights (config/systems/systems.yaml)
    "dtoc_total": 2,
    "readmission_30d_65plus": 1,
    "reablement_at_home_91d": 1,
    "discharge_usual_residence": 1,
    "emergency_admissions_65plus": 1,
}


def compared(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    """A comparison table from {place: {indicator: adverse z}}."""
    records = [
        {"indicator_id": i, "org_code": p, "period": dt.date(2017, 4, 1), "adverse_z": z}
        for p, values in rows.items()
        for i, z in values.items()
    ]
    return pd.DataFrame(records)


@pytest.mark.parametrize(
    ("zs", "expected"),
    [
        # weighted mean: (2 x 1.0 + 0.5 + 0.5 + 0 + 0) / 6
        (
            {
                "dtoc_total": 1.0,
                "readmission_30d_65plus": 0.5,
                "reablement_at_home_91d": 0.5,
                "discharge_usual_residence": 0.0,
                "emergency_admissions_65plus": 0.0,
            },
            3.0 / 6,
        ),
        # capped at +/- 3: (2 x 3 + 1) / 3
        ({"dtoc_total": 7.5, "readmission_30d_65plus": 1.0}, 7.0 / 3),
        ({"dtoc_total": -9.0, "readmission_30d_65plus": 0.0}, -6.0 / 3),
        # unweighted parts of delayed transfers (dtoc_nhs...) do not count
        ({"dtoc_nhs": 5.0, "emergency_admissions_65plus": 1.2}, 1.2),
        # a missing (NaN) value is left out of both sums
        ({"dtoc_total": np.nan, "readmission_30d_65plus": 2.0, "reablement_at_home_91d": 1.0}, 1.5),
    ],
)
def test_score_is_the_capped_weighted_mean_adverse_z(config, zs, expected):
    result = selection_scores(compared({"A": zs}), config)
    assert result.loc[0, "score"] == pytest.approx(expected)


def test_places_rank_worst_first_ties_by_code_and_no_evidence_is_not_assessed(config):
    rows = {
        "P3": {"dtoc_total": 1.0, "readmission_30d_65plus": 1.0},  # 1.0
        "P1": {"dtoc_total": 2.0},  # 2.0
        "P2": {"readmission_30d_65plus": 1.0},  # 1.0, ties with P3: code order
        "P4": {"dtoc_nhs": 3.0},  # nothing weighted: not assessed
        "P5": {"dtoc_total": -1.0, "emergency_admissions_65plus": 0.5},  # -0.5
        "P6": {"dtoc_total": np.nan},  # compared with nobody: not assessed
    }
    result = selection_scores(compared(rows), config, places=["P7"])  # P7: no observation at all
    assert list(result["org_code"]) == ["P1", "P2", "P3", "P5", "P4", "P6", "P7"]
    assert result["rank"].tolist()[:4] == [1, 2, 3, 4] and result["rank"].iloc[4:].isna().all()
    assert list(result["assessed"]) == [True] * 4 + [False] * 3
    assert result["score"].iloc[4:].isna().all() and list(result["indicators_scored"]) == [
        1,
        1,
        2,
        2,
        0,
        0,
        0,
    ]
    plan = plan_programme(result, budget_gbp=10_000_000, cost_per_review_gbp=100_000)
    assert plan.reviews == 4 and list(plan.places.loc[plan.places["selected"], "org_code"]) == [
        "P1",
        "P2",
        "P3",
        "P5",
    ]


def ranking(n: int, unscored: int = 0) -> pd.DataFrame:
    scores = list(np.linspace(2, -2, n)) + [np.nan] * unscored
    return pd.DataFrame(
        {
            "rank": range(1, n + unscored + 1),
            "org_code": [f"P{i:03d}" for i in range(n + unscored)],
            "score": scores,
        }
    )


@pytest.mark.parametrize(
    ("budget", "cost", "fixed", "places", "reviews", "total", "remaining"),
    [
        (2_000_000, 86_956.52, 0, 152, 23, 1_999_999.96, 0.04),  # the 2017-18 programme: £2m over 23 reviews
        (2_000_000, 86_956.53, 0, 152, 22, 1_913_043.66, 86_956.34),  # a penny more per review: 22
        (1_000_000, 86_956.52, 0, 152, 11, 956_521.72, 43_478.28),
        (1_000_000, 100_000, 150_000, 152, 8, 950_000, 50_000),  # fixed costs come off first
        (5_000_000, 100_000, 0, 20, 20, 2_000_000, 3_000_000),  # more money than places with a score
        (50_000, 100_000, 0, 152, 0, 0, 50_000),
    ],
)
def test_plan_says_how_many_reviews_and_which_places_and_adds_up(
    budget, cost, fixed, places, reviews, total, remaining
):
    plan = plan_programme(ranking(places, unscored=3), budget, cost, fixed)
    assert plan.reviews == reviews
    assert plan.total_cost_gbp == pytest.approx(total, abs=0.005)
    assert plan.remaining_gbp == pytest.approx(remaining, abs=0.005)
    assert plan.total_cost_gbp + plan.remaining_gbp == pytest.approx(budget, abs=0.005)
    assert plan.total_cost_gbp == pytest.approx(fixed + plan.reviews * cost, abs=0.005)
    selected = plan.places[plan.places["selected"]]
    assert list(selected["org_code"]) == [f"P{i:03d}" for i in range(reviews)]  # the highest scores
    assert selected["score"].notna().all()
    assert plan.as_dict()["selected"] == list(selected["org_code"])


def test_plan_rejects_impossible_inputs():
    with pytest.raises(InputError) as caught:
        plan_programme(ranking(5), budget_gbp=-1, cost_per_review_gbp=0)
    assert {p.field for p in caught.value.problems} >= {"budget_gbp", "cost_per_review_gbp"}


def test_default_cost_per_review_is_the_previous_programme(config):
    assert config.cost_per_review_gbp == 86_956.52  # £2,000,000 / 23


def test_reasons_name_the_indicators_outside_the_limits_and_what_raises_the_score(config):
    frame = compared(
        {
            "A": {"dtoc_total": 4.2, "readmission_30d_65plus": 1.0, "reablement_at_home_91d": -3.5},
            "B": {"discharge_usual_residence": 0.4, "emergency_admissions_65plus": -0.2},
            "C": {"dtoc_nhs": 5.0},
        }
    )
    frame["assessment"] = np.select(
        [frame["adverse_z"] > 3.09, frame["adverse_z"] < -3.09], ["worse", "better"], "within"
    )
    ranking = selection_scores(frame, config)
    reasons = dict(zip(ranking["org_code"], selection_reasons(frame, ranking, config), strict=True))
    # A: (2 x 3 + 1 - 3) / 4 = +1.00; delayed transfers are worse, capped and weighted double
    assert reasons["A"].startswith(
        "Worse than its peers on Delayed transfers of care: delayed days per 100,000 adults (18+) "
        "(z +4.20, counted as +3.00, weight 2); better than its peers on Still at home 91 days"
    )
    assert "Score +1.00: the weighted mean of 3 adverse z-scores" in reasons["A"]
    assert reasons["A"].endswith("(z +1.00).")  # readmissions raise it second
    assert reasons["B"].startswith("No indicator outside the funnel limits. Score +0.10")
    assert reasons["B"].endswith("raised most by Discharged to usual place of residence, 65+ (%) (z +0.40).")
    # unweighted parts only: not assessed, saying which weighted indicator had no observation or why
    # it was not compared
    assert reasons["C"] == (
        "Not assessed: no weighted transition indicator was compared for this place in 2017-04-01 "
        "(Delayed transfers of care: delayed days per 100,000 adults (18+) (no observation); "
        "Emergency readmissions within 30 days, 65+ (%) (no observation); "
        "Still at home 91 days after discharge into reablement, 65+ (%) (no observation); "
        "Discharged to usual place of residence, 65+ (%) (no observation); "
        "Emergency admissions of people aged 65+ per 1,000 (no observation)), so it has no score and no rank."
    )
