"""Single Assessment Framework scoring: bands at their edges, limiters, both methods
(docs/methods/single-assessment-framework.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carelens.assess.saf import band, load_saf, score, whole_percent
from carelens.assess.scale import label
from carelens.errors import InputError

CONFIG = load_saf()


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (25, "Inadequate"),
        (38, "Inadequate"),
        (39, "Requires improvement"),
        (62, "Requires improvement"),
        (63, "Good"),
        (87, "Good"),
        (88, "Outstanding"),
        (100, "Outstanding"),
    ],
)
def test_percentage_thresholds(percent, expected):
    assert label(band(np.array([percent]), CONFIG)[0]) == expected


@pytest.mark.parametrize(
    ("points", "maximum", "percent"),
    [
        (5, 8, 63),  # 62.5 rounds half up to 63 -> Good
        (7, 18, 39),  # 38.9 -> 39
        (25, 40, 63),  # 62.5
        (35, 40, 88),  # 87.5 -> 88 -> Outstanding
        (67, 77, 87),  # 87.01 -> 87
        (10, 26, 38),  # 38.46 -> 38
        (3, 8, 38),  # 37.5 -> 38
    ],
)
def test_whole_percent_rounds_half_up_exactly(points, maximum, percent):
    assert whole_percent(np.array([points]), np.array([maximum]))[0] == percent


def statements(assessment: str, key_question: str, scores: list[int]) -> list[dict]:
    return [
        {
            "assessment_id": assessment,
            "key_question": key_question,
            "quality_statement": f"{key_question}-{i}",
            "score": s,
        }
        for i, s in enumerate(scores, start=1)
    ]


def kq_result(scores: list[int]) -> pd.Series:
    out = score(pd.DataFrame(statements("A", "Safe", scores)))
    return out[out["level"] == "key_question"].iloc[0]


KQ_CASES = [
    # (statement scores, KQ %, rating, limited?)
    ([4, 4, 4, 3, 4, 4, 4, 4], 97, "Outstanding", False),
    ([4, 4, 4, 2, 4, 4, 4, 4], 94, "Good", True),  # Outstanding band but a statement below 3
    ([3, 3, 3, 3, 3, 3, 3, 3], 75, "Good", False),
    # 28/32 = 87.5 -> 88: Outstanding band; a statement below 3 -> Good; then a statement scored 1 in the
    # Good band -> Requires improvement (limiters apply from the highest band down)
    ([4, 4, 4, 4, 4, 4, 3, 1], 88, "Requires improvement", True),
    ([4, 4, 3, 3, 3, 1], 75, "Requires improvement", True),  # Good band but a statement scored 1
    ([3, 2, 2, 3], 63, "Good", False),  # 10/16 = 62.5 -> 63
    ([2, 2, 2, 3, 2], 55, "Requires improvement", False),
    ([2, 1, 2, 1], 38, "Inadequate", False),  # 6/16 = 37.5 -> 38
    ([1, 1, 1, 1], 25, "Inadequate", False),
]


@pytest.mark.parametrize(("scores", "percent", "rating", "limited"), KQ_CASES)
def test_key_question_scores_and_limiters(scores, percent, rating, limited):
    row = kq_result(scores)
    assert (row["percent"], row["rating"], bool(row["limited_by"])) == (percent, rating, limited)


def test_pre_december_2024_method_scores_evidence_categories():
    rows = []
    # statement S1: categories 3, 3, 2 -> 8/12 = 67% -> statement score 3; S2: 2, 2, 1 -> 5/12 = 42% -> 2;
    # S3: 4, 4, 3, 4 -> 15/16 = 94% -> 4. KQ: 3 + 2 + 4 = 9/12 = 75% -> Good (no statement scored 1).
    for qs, scores in (("S1", [3, 3, 2]), ("S2", [2, 2, 1]), ("S3", [4, 4, 3, 4])):
        for category, s in zip(CONFIG.evidence_categories, scores, strict=False):
            rows.append(
                {
                    "assessment_id": "old",
                    "key_question": "Safe",
                    "quality_statement": qs,
                    "evidence_category": category,
                    "score": s,
                    "method": "evidence-categories",
                }
            )
    rows += [
        dict(r, assessment_id="new", method="quality-statements")
        for r in statements("new", "Safe", [3, 2, 4])
    ]
    out = score(pd.DataFrame(rows))
    qs = out[(out["assessment_id"] == "old") & (out["level"] == "quality_statement")].set_index(
        "quality_statement"
    )
    assert qs["percent"].to_dict() == {"S1": 67, "S2": 42, "S3": 94}
    assert qs["score"].to_dict() == {"S1": 3, "S2": 2, "S3": 4}
    kq = out[out["level"] == "key_question"].set_index("assessment_id")
    assert (kq.loc["old", "percent"], kq.loc["old", "rating"]) == (75, "Good")
    assert (kq.loc["new", "percent"], kq.loc["new", "rating"]) == (
        75,
        "Good",
    )  # same statement scores, direct


def test_overall_is_banded_and_limited_by_the_legacy_principles():
    rows = (
        statements("A", "Safe", [2, 2, 2, 2])  # 50% RI
        + statements("A", "Effective", [2, 2, 3])  # 58% RI
        + statements("A", "Caring", [4, 4, 4])  # 100% Outstanding
        + statements("A", "Responsive", [4, 4, 4])
        + statements("A", "Well-led", [4, 4, 4])
    )
    out = score(pd.DataFrame(rows))
    overall = out[out["level"] == "overall"].iloc[0]
    # KQ ratings as scores: 2 + 2 + 4 + 4 + 4 = 16/20 = 80% -> Good; but two RI -> the legacy principles
    # give Requires improvement, which limits it
    assert (overall["percent"], overall["rating"], overall["band_position"]) == (
        80,
        "Requires improvement",
        "limited",
    )
    assert overall["limited_by"] == "the rating principles give Requires improvement"


def test_a_partial_set_of_key_questions_is_never_an_overall_rating():
    """saf.yaml overall.complete_with: 5. Assessment P scores three key questions: its key questions are
    rated, its overall is not, and says why (the three alone: 3 + 4 + 3 = 10 of 12 points, 83%, Good)."""
    rows = (
        statements("P", "Safe", [3, 3, 3])
        + statements("P", "Caring", [4, 4, 4])
        + statements("P", "Well-led", [3, 3, 3])
    )
    out = score(pd.DataFrame(rows))
    kq = out[out["level"] == "key_question"].set_index("key_question")["rating"]
    assert kq.to_dict() == {"Safe": "Good", "Caring": "Outstanding", "Well-led": "Good"}
    overall = out[out["level"] == "overall"].iloc[0]
    assert (overall["rating"], overall["band_position"], overall["limited_by"]) == ("Not rated", "", "")
    assert overall["explanation"] == (
        "Overall: Not rated: scored on 3 of 5 key questions (Safe, Caring and Well-led; not scored: "
        "Effective and Responsive), and an overall rating needs 5, so this is not a complete rating "
        "(the 3 key question ratings alone would give Good, 10 of 12 points, 83%)."
    )


def test_a_bad_completeness_rule_names_the_field(tmp_path):
    from carelens.assess.config import config_file

    text = config_file("saf.yaml").read_text()
    assert "  complete_with: 5" in text
    bad = tmp_path / "saf.yaml"
    bad.write_text(text.replace("  complete_with: 5", "  complete_with: 7"))
    with pytest.raises(InputError) as caught:
        load_saf(bad)
    assert [p.field for p in caught.value.problems] == ["overall.complete_with"]


def test_band_position_within_the_rating():
    assert kq_result([3, 3, 3, 3])["band_position"] == "upper"  # 75% in 63-87: midpoint 75
    assert kq_result([3, 3, 3, 2])["band_position"] == "lower"  # 69%


def test_bad_scores_name_the_row_and_field():
    frame = pd.DataFrame(statements("A", "Safe", [3, 5, 2]))
    frame.loc[2, "key_question"] = "Kind"
    with pytest.raises(InputError) as caught:
        score(frame, source="scores.csv")
    text = str(caught.value)
    assert "scores.csv, row 3, column 'key_question'" in text
    with pytest.raises(InputError, match="row 2, column 'score': 5 is not a score 1-4"):
        score(pd.DataFrame(statements("A", "Safe", [3, 5, 2])), source="scores.csv")
    with pytest.raises(InputError, match="evidence_category"):
        score(pd.DataFrame(statements("A", "Safe", [3])), method="evidence-categories")
