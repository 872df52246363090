"""NHS Oversight Framework segmentation on a hand-made set of trusts: a worked example
(docs/methods/nhs-oversight.md).

Acute trusts (8), metric scores -> average (2 dp) -> quarter within acute trusts (n = 8: ranks 1-2 ->
segment 1, 3-4 -> 2, 5-6 -> 3, 7-8 -> 4; tied trusts share their best rank):

    trust  name     scores     average  rank  quarter  override             final  league rank
    A8     Alpha    1, 1, 1    1.00     1     1        segment 5 decision   5      8
    A1     Delta    1, 1, 2    1.33     2     1        -                    1      1
    A2     Echo     1, 2, 2    1.67     3     2        financial (deficit)  3      4
    A3     Gamma    2, 2, 2    2.00     4=    2        -                    2      2=
    A4     Beta     2, 2, 2    2.00     4=    2        -                    2      2=   (Beta before Gamma)
    A5     Foxtrot  2, 3, 3    2.67     6     3        -                    3      5
    A6     Hotel    3, 3, 3    3.00     7     4        -                    4      6
    A7     India    3, 4, 4    3.67     8     4        -                    4      7

A3 and A4 straddle the 2|3 quarter boundary (positions 4 and 5) but tie, so both are in segment 2.
Mental health trusts (4) are ranked in their own table: M2 1.50 -> 1, M1 2.00 -> 2, M4 2.50 -> 3,
M3 3.00 -> 4 (M4 has a blank, unscored metric).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from carelens.assess.segmentation import (
    fixed_segments,
    load_oversight,
    quartile_segments,
    round_half_up,
    segment,
)
from carelens.errors import InputError

TRUSTS = {
    # code: (name, type, scores, financial override, segment 5 decision)
    "A1": ("Delta", "acute", [1, 1, 2], "no", "no"),
    "A2": ("Echo", "acute", [1, 2, 2], "yes", "no"),
    "A3": ("Gamma", "acute", [2, 2, 2], "no", "no"),
    "A4": ("Beta", "acute", [2, 2, 2], "no", "no"),
    "A5": ("Foxtrot", "acute", [2, 3, 3], "no", "no"),
    "A6": ("Hotel", "acute", [3, 3, 3], "no", "no"),
    "A7": ("India", "acute", [3, 4, 4], "no", "no"),
    "A8": ("Alpha", "acute", [1, 1, 1], "no", "yes"),
    "M1": ("Mike", "mental health", [2, 2], "", ""),
    "M2": ("November", "mental health", [1, 2], "", ""),
    "M3": ("Oscar", "mental health", [3, 3], "", ""),
    "M4": ("Papa", "mental health", [2, 3, None], "", ""),
}


def metrics() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "org_code": code,
                "org_name": name,
                "trust_type": kind,
                "metric": f"m{i}",
                "score": s,
                "financial_override": fin,
                "segment_5": s5,
            }
            for code, (name, kind, scores, fin, s5) in TRUSTS.items()
            for i, s in enumerate(scores)
        ]
    )


def test_worked_example():
    table = segment(metrics())
    acute = table[table["trust_type"] == "acute"]
    assert list(acute["org_code"]) == ["A1", "A4", "A3", "A2", "A5", "A6", "A7", "A8"]
    assert list(acute["rank"]) == [1, 2, 2, 4, 5, 6, 7, 8]
    assert list(acute["segment"]) == [1, 2, 2, 3, 3, 4, 4, 5]
    assert list(acute["score_segment"]) == [1, 2, 2, 2, 3, 4, 4, 1]
    assert list(acute["average_score"]) == [1.33, 2.0, 2.0, 1.67, 2.67, 3.0, 3.67, 1.0]
    assert list(acute["tied"]) == [False, True, True, False, False, False, False, False]
    by_code = table.set_index("org_code")
    assert by_code.loc["A2", "explanation"] == (
        "Segment 3: its average metric score 1.67 over 3 of 3 metrics puts it in segment 2 (quarter), but the financial "
        "override (deficit or deficit support) means no better than segment 3."
    )
    assert by_code.loc["A8", "explanation"].startswith("Segment 5 by NHS England decision")
    mental = table[table["trust_type"] == "mental health"]
    assert list(mental["org_code"]) == ["M2", "M1", "M4", "M3"]
    assert list(mental["segment"]) == [1, 2, 3, 4] and list(mental["rank"]) == [1, 2, 3, 4]
    assert by_code.loc["M4", "metrics_scored"] == 2 and by_code.loc["M4", "metrics_available"] == 2
    assert table["assessed"].all()


def test_a_trust_with_nothing_to_score_is_not_assessed_never_segmented():
    """No evidence, no segment: Z1 has only blank scores, Z2 has no row at all (listed with ``trusts``),
    Z3 has nothing to score but an NHS England segment 5 decision; the quarters are those of the
    worked example (the not-assessed trusts do not count in n)."""
    extra = pd.DataFrame(
        [
            {"org_code": "Z1", "org_name": "Zulu", "trust_type": "acute", "metric": "m0", "score": None},
            {"org_code": "Z3", "org_name": "Yankee", "trust_type": "acute", "metric": "m0", "score": None}
            | {"segment_5": "yes"},
        ]
    )
    frame = pd.concat([metrics(), extra], ignore_index=True)
    trusts = pd.DataFrame({"org_code": ["Z2", "A1"], "org_name": ["X-ray", "Delta"], "trust_type": "acute"})
    table = segment(frame, trusts=trusts)
    by_code = table.set_index("org_code")
    assert by_code.loc[["A1", "A2", "A3", "A7"], "score_segment"].tolist() == [1, 2, 2, 4]  # as before
    for code in ("Z1", "Z2"):
        row = by_code.loc[code]
        assert not row["assessed"] and pd.isna(row["segment"]) and pd.isna(row["rank"])
        assert pd.isna(row["score_segment"]) and row["metrics_scored"] == 0
        assert row["explanation"] == (
            "Not assessed: no metric is scored, so it is not segmented (never placed in a quarter by default)."
        )
    assert by_code.loc["Z3", "segment"] == 5 and not by_code.loc["Z3", "assessed"]
    assert by_code.loc["Z3", "explanation"] == (
        "Segment 5 by NHS England decision (intensive support); not assessed on metrics: no metric is scored."
    )
    acute = table[table["trust_type"] == "acute"]
    assert list(acute["org_code"])[-2:] == ["Z2", "Z1"]  # listed after the ranked trusts, by name


def test_quartiles_nationally_and_fixed_thresholds():
    national = segment(metrics(), dataclasses.replace(load_oversight(), within="all")).set_index("org_code")
    # 12 trusts: segment = 1 + floor((rank - 1) / 3); A8 1.00, A1 1.33, M2 1.50 -> 1; A2 1.67 (rank 4) -> 2
    assert national["score_segment"].to_dict() == {
        "A8": 1,
        "A1": 1,
        "M2": 1,
        "A2": 2,
        "A3": 2,
        "A4": 2,
        "M1": 2,  # A3, A4, M1 tie at 2.00 (rank 5)
        "M4": 3,
        "A5": 3,
        "A6": 4,
        "M3": 4,
        "A7": 4,  # 2.50 r8, 2.67 r9 -> 3; 3.00 tie r10 -> 1 + floor(9/3) = 4
    }
    fixed = segment(metrics(), dataclasses.replace(load_oversight(), method="fixed")).set_index("org_code")
    # cut points 1.75 / 2.25 / 2.75: at or below a cut -> that segment
    assert fixed["score_segment"].to_dict() == {
        "A1": 1,
        "A2": 1,
        "A3": 2,
        "A4": 2,
        "A5": 3,
        "A6": 4,
        "A7": 4,
        "A8": 1,
        "M1": 2,
        "M2": 1,
        "M3": 4,
        "M4": 3,
    }
    assert list(fixed_segments(np.array([1.75, 1.76, 2.75, 2.76, np.nan]), (1.75, 2.25, 2.75))) == [
        1,
        2,
        3,
        4,
        0,
    ]


def test_quartile_kernel_and_rounding():
    assert list(quartile_segments(np.array([1.0, 2.0, 3.0, 4.0, 1.5, 2.5, 3.5, 3.9]))) == [
        1,
        2,
        3,
        4,
        1,
        2,
        3,
        4,
    ]
    assert list(quartile_segments(np.array([2.0, 2.0, 2.0, 2.0, 3.0]))) == [1, 1, 1, 1, 4]
    assert list(round_half_up(np.array([2.375, 2.365, 2.3749, 1 / 3]), 2)) == [2.38, 2.37, 2.37, 0.33]


def test_bad_input_is_reported_with_rows():
    frame = metrics()
    frame.loc[0, "score"] = 5
    frame.loc[3, "financial_override"] = "perhaps"
    with pytest.raises(InputError) as caught:
        segment(frame, source="nof.csv")
    text = str(caught.value)
    assert "nof.csv, row 1, column 'score': 5 is outside 1-4" in text
    assert "nof.csv, row 4, column 'financial_override'" in text
    frame = metrics()
    frame.loc[0, "trust_type"] = "mental health"
    with pytest.raises(InputError, match="trust A1 has more than one value"):
        segment(frame)
