"""Table-driven tests of every rating rule and limiter, with hand-made cases
(docs/methods/ratings-aggregation.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from carelens.assess.config import Thresholds, XTable, config_file, load_rules
from carelens.assess.rules import adult_social_care, aggregate, carry_forward, decide, nhs_trust
from carelens.assess.scale import KEY_QUESTIONS, to_codes
from carelens.errors import InputError

O, G, R, I = "Outstanding", "Good", "Requires improvement", "Inadequate"  # noqa: E741
RULES = load_rules()


def run(table: XTable, ratings: list[str]) -> tuple[str, str]:
    codes = to_codes(ratings)
    counts = [np.array([(codes == c).sum()]) for c in (4, 3, 2, 1)]
    rating, reason = decide(*counts, table)
    from carelens.assess.explain import REASONS
    from carelens.assess.scale import label

    return label(rating[0]), REASONS[reason[0]]


# Adult social care: key questions -> overall (CQC ASC rating principles 3-6).
ASC_CASES = [
    # (five key question ratings, overall, rule)
    ([O, O, G, G, G], O, "outstanding"),  # >=2 Outstanding, rest Good
    ([O, O, O, O, O], O, "outstanding"),
    ([O, G, G, G, G], G, "good"),  # only one Outstanding
    ([O, O, R, G, G], G, "good"),  # 2 Outstanding but not the rest Good; 1 RI tolerated
    ([G, G, G, G, G], G, "good"),
    ([R, G, G, G, G], G, "good"),  # no Inadequate and <= 1 RI
    ([R, R, G, G, G], R, "requires_improvement_count"),  # >= 2 RI
    ([R, R, R, R, R], R, "requires_improvement_count"),
    ([I, G, G, G, G], R, "some_inadequate"),  # exactly one Inadequate -> RI
    ([I, O, O, O, O], R, "some_inadequate"),
    ([I, I, G, G, G], I, "inadequate_count"),  # >= 2 Inadequate
    ([I, I, R, R, R], I, "inadequate_count"),
    (["Not rated"] * 5, "Not rated", "not_rated"),
    ([O, O, G, "Insufficient evidence to rate", G], O, "outstanding"),  # unrated ignored
]


@pytest.mark.parametrize(("ratings", "expected", "reason"), ASC_CASES)
def test_adult_social_care_overall_rules(ratings, expected, reason):
    assert run(RULES.asc_overall, ratings) == (expected, reason)


# NHS trusts: the sliding X table at its boundaries (1-3 | 4-8 | 9+ underlying ratings).
def ratings(**counts: int) -> list[str]:
    names = {"o": O, "g": G, "r": R, "i": I}
    return [names[k] for k, n in counts.items() for _ in range(n)]


X_TABLE_CASES = [
    # Outstanding needs X = 1 (1-3), 2 (4-8), 3 (9+) Outstanding and the rest Good [V]
    (ratings(o=1), O),
    (ratings(o=1, g=2), O),  # 3 ratings: X = 1
    (ratings(o=1, g=3), G),  # 4 ratings: X = 2
    (ratings(o=2, g=2), O),
    (ratings(o=2, g=6), O),  # 8 ratings: X = 2
    (ratings(o=2, g=7), G),  # 9 ratings: X = 3
    (ratings(o=3, g=6), O),
    # Requires improvement: 2 for 1-8 (capped at the count), 3 for 9+
    (ratings(r=1), R),  # a single rating passes through (threshold capped at 1)
    (ratings(r=1, g=1), G),
    (ratings(r=1, g=2), G),  # 3 ratings: one RI tolerated (calibrated, ratings.yaml)
    (ratings(r=2, g=1), R),
    (ratings(r=1, g=3), G),  # 4 ratings: "rule of two"
    (ratings(r=2, g=2), R),
    (ratings(r=1, g=7), G),  # 8 ratings
    (ratings(r=2, g=6), R),
    (ratings(r=2, g=7), G),  # 9 ratings: X = 3
    (ratings(r=3, g=6), R),
    (ratings(o=3, r=1, g=5), G),  # Outstanding needs the rest Good
    # Inadequate: X Inadequate -> Inadequate; fewer (but any) -> RI at best
    (ratings(i=1), I),
    (ratings(i=1, g=2), R),
    (ratings(i=2, g=1), I),
    (ratings(i=1, g=3), R),  # 4 ratings
    (ratings(i=2, g=2), I),
    (ratings(i=2, g=7), R),  # 9 ratings: X = 3
    (ratings(i=3, g=6), I),
    (ratings(i=1, o=8), R),
]


@pytest.mark.parametrize(("underlying", "expected"), X_TABLE_CASES)
def test_nhs_x_table_boundaries(underlying, expected):
    assert run(RULES.nhs_table, underlying)[0] == expected


def test_strict_same_table_reading_limits_one_requires_improvement_in_three():
    strict = XTable((1, 4, 9), (Thresholds(1, 1, 1), Thresholds(2, 2, 2), Thresholds(3, 3, 3)), True)
    assert run(strict, ratings(r=1, g=2))[0] == R
    assert run(strict, ratings(i=1, g=2))[0] == I
    assert run(strict, ratings(r=1, g=3))[0] == G


TRUST_OVERALL_CASES = [
    # 5 trust key questions + Use of Resources: RI tolerance raised to 3 (Capsticks 2018) [S]
    (ratings(r=2, g=4), G),
    (ratings(r=2, g=2, o=2), G),
    (ratings(r=3, g=3), R),
    (ratings(o=2, g=4), O),
    (ratings(o=1, g=5), G),
    (ratings(i=1, g=5), R),
    (ratings(i=2, g=4), I),
]


@pytest.mark.parametrize(("underlying", "expected"), TRUST_OVERALL_CASES)
def test_trust_overall_with_use_of_resources(underlying, expected):
    assert run(RULES.trust_overall_with_uor, underlying)[0] == expected


def test_aggregate_is_vectorised_over_groups_and_keeps_names_in_key_question_order():
    frame = pd.DataFrame(
        {
            "loc": ["A"] * 5 + ["B"] * 5,
            "key_question": list(reversed(KEY_QUESTIONS)) * 2,
            "rating": [R, G, G, G, R, O, G, O, G, G],
        }
    )
    frame["code"] = to_codes(frame["rating"])
    out = aggregate(frame, ["loc"], RULES.asc_overall, name="key_question")
    assert list(out["code"]) == [2, 4]
    assert out.loc[0, "names_requires_improvement"] == ["Safe", "Well-led"]
    assert out.loc[1, "names_outstanding"] == ["Caring", "Well-led"]


def asc_frame(rows: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"location_id": loc, "key_question": kq, "rating": r}
            for loc, five in rows.items()
            for kq, r in zip(KEY_QUESTIONS, five, strict=True)
        ]
    )


LIMITER_CASES = [
    # (limiter, five KQ ratings, expected well-led, expected overall)
    ("breach_of_regulations", [G, G, G, G, G], G, R),
    ("breach_of_regulations", [O, O, O, O, O], O, R),
    ("breach_of_regulations", [I, I, G, G, G], G, I),  # a limit never raises
    ("registered_manager_absent", [O, O, G, G, O], R, G),  # well-led capped, then aggregated
    ("registration_condition_unmet", [G, G, G, G, O], R, G),
    ("notifications_not_submitted", [R, G, G, G, G], R, R),  # well-led RI + safe RI -> 2 RI
    ("pir_not_returned", [G, G, G, G, I], I, R),
]


@pytest.mark.parametrize(("limiter", "five", "well_led", "overall"), LIMITER_CASES)
def test_adult_social_care_limiters(limiter, five, well_led, overall):
    out = adult_social_care(
        asc_frame({"L1": five, "L2": five}), pd.DataFrame({"location_id": ["L1"], "limiter": [limiter]})
    )
    limited, free = out.iloc[0], out.iloc[1]
    assert (limited["Well-led"], limited["rating"]) == (well_led, overall)
    assert free["limited_by"] == ""
    assert limited["limited_by"] == RULES.asc_limiters[limiter].text


def test_unknown_limiter_is_bad_input_naming_the_row():
    with pytest.raises(InputError, match=r"row 2, column 'limiter'.*'late_fees' is not one of"):
        adult_social_care(
            asc_frame({"L1": [G] * 5}),
            pd.DataFrame({"location_id": ["L1", "L1"], "limiter": ["breach_of_regulations", "late_fees"]}),
        )


def test_explanations_in_plain_english():
    out = adult_social_care(
        asc_frame(
            {
                "A": [R, G, G, G, G],
                "B": [R, G, G, G, R],
                "C": [G, G, O, G, O],
                "D": [I, G, G, G, G],
                "E": [G, G, O, G, G],
            }
        ),
        pd.DataFrame({"location_id": ["E"], "limiter": ["breach_of_regulations"]}),
    ).set_index("location_id")["explanation"]
    assert (
        out["A"]
        == "Good overall because no key question is Inadequate and only one, Safe, Requires improvement."
    )
    assert out["B"] == (
        "Requires improvement overall because two key questions, Safe and Well-led, Require improvement "
        "(at least two limit the rating to Requires improvement)."
    )
    assert (
        out["C"]
        == "Outstanding overall because two key questions, Caring and Well-led, are Outstanding and the rest are Good."
    )
    assert out["D"].startswith("Requires improvement overall because one key question, Safe, is Inadequate: ")
    assert out["E"] == (
        "Good overall because no key question is Inadequate or Requires improvement; one, Caring, is Outstanding "
        "but Outstanding needs at least two. Limited to Requires improvement because there is a breach of regulations."
    )


def test_focused_inspection_carries_forward_key_questions_not_inspected():
    previous = pd.DataFrame(
        {
            "location_id": ["A"] * 5 + ["B"] * 5,
            "key_question": list(KEY_QUESTIONS) * 2,
            "rating": [R, G, G, G, R, R, G, G, G, G],
            "date": ["2019-01-10"] * 5 + ["2019-01-10"] * 5,
        }
    )
    focused = pd.DataFrame(
        {
            "location_id": ["A", "A", "B"],
            "key_question": ["Safe", "Well-led", "Safe"],
            "rating": [G, G, G],
            "date": ["2019-05-01", "2019-05-01", "2020-03-01"],  # B: 14 months after comprehensive
        }
    )
    after = carry_forward(previous, focused, no_raise_after_months=RULES.no_raise_after_months)
    a = after[after["location_id"] == "A"].set_index("key_question")
    assert list(a["rating"]) == [G, G, G, G, G]  # Caring, Effective, Responsive carried; Safe, Well-led new
    assert a["carried_forward"].to_dict() == {
        "Caring": True,
        "Effective": True,
        "Responsive": True,
        "Safe": False,
        "Well-led": False,
    }
    b = after[after["location_id"] == "B"].set_index("key_question")
    assert b.loc["Safe", "rating"] == R and bool(b.loc["Safe", "not_raised"])  # > 6 months: cannot raise
    overall = adult_social_care(after)
    assert list(overall["rating"]) == [G, G]
    lowered = carry_forward(previous, focused.assign(rating=[I, G, I]), no_raise_after_months=6)
    assert lowered.set_index(["location_id", "key_question"]).loc[("B", "Safe"), "rating"] == I  # can lower


def trust_services() -> pd.DataFrame:
    """Trust T1 with two hospitals; H1: surgery + urgent + maternity, H2: surgery only. Trust T2 one site."""
    rows = []

    def add(provider, location, service, five):
        rows.extend(
            {
                "provider_id": provider,
                "location_id": location,
                "service": service,
                "key_question": kq,
                "rating": r,
            }
            for kq, r in zip(KEY_QUESTIONS, five, strict=True)
        )

    add("T1", "H1", "surgery", [G, G, O, G, G])
    add("T1", "H1", "urgent", [R, G, O, R, G])
    add("T1", "H1", "maternity", [R, G, G, G, G])
    add("T1", "H2", "surgery", [G, O, O, G, R])
    add("T2", "S1", "surgery", [G, G, G, G, G])
    add("T2", "S1", "critical", [G, O, G, G, G])
    return pd.DataFrame(rows)


def test_nhs_trust_levels_worked_example():
    levels = nhs_trust(
        trust_services(),
        enforcement=pd.DataFrame(
            {
                "location_id": ["H2"],
                "service": ["surgery"],
                "key_question": ["Caring"],
                "action": ["requirement_notice"],
            }
        ),
        trust_assessments=pd.DataFrame(
            {"provider_id": ["T1", "T2"], "well_led": [R, O], "use_of_resources": [R, None]}
        ),
    )
    l1 = levels.service_key_question.set_index(["location_id", "service", "key_question"])
    assert l1.loc[("H2", "surgery", "Caring"), "rating"] == R  # requirement notice caps Outstanding
    assert l1.loc[("H2", "surgery", "Caring"), "rule_rating"] == O
    l2 = levels.service.set_index(["location_id", "service"])["rating"]
    assert l2.to_dict() == {
        ("H1", "maternity"): G,  # one RI of five
        ("H1", "surgery"): G,  # one Outstanding of five (X = 2)
        ("H1", "urgent"): R,  # two RI
        ("H2", "surgery"): R,  # Caring now RI + Well-led RI
        ("S1", "critical"): G,
        ("S1", "surgery"): G,
    }
    l3 = levels.location_key_question.set_index(["location_id", "key_question"])["rating"]
    assert l3[("H1", "Safe")] == R  # two RI of three services
    assert l3[("H1", "Caring")] == O  # 2 Outstanding + Good, X = 1 for 3 ratings
    assert l3[("H1", "Responsive")] == G  # one RI of three tolerated
    assert l3[("S1", "Well-led")] == O  # single-site trust: location well-led = trust well-led
    l4 = levels.location.set_index("location_id")["rating"]
    assert l4.to_dict() == {"H1": G, "H2": R, "S1": O}  # H1: one RI (Safe), one Outstanding (Caring)
    l5 = levels.trust_key_question.set_index(["provider_id", "key_question"])["rating"]
    assert l5[("T1", "Well-led")] == R  # from the trust-level assessment, not aggregated
    assert l5[("T1", "Safe")] == G  # H1 RI, H2 Good: one RI of two tolerated
    assert l5[("T1", "Effective")] == O  # H1 Good, H2 Outstanding: X = 1 for two ratings
    assert l5[("T1", "Caring")] == G  # H1 Outstanding, H2 RI (requirement notice)
    l6 = levels.trust.set_index("provider_id")
    # T1: Safe G, Effective O, Caring G, Responsive G, Well-led RI + Use of Resources RI: 2 RI of 6 -> Good
    assert l6.loc["T1", "rating"] == G and l6.loc["T1", "n_rated"] == 6
    assert l6.loc["T1", "explanation"] == (
        "Good overall because no rating is Inadequate and only two, Well-led and Use of resources, "
        "Require improvement; one, Effective, is Outstanding but Outstanding needs at least two."
    )
    assert l6.loc["T2", "rating"] == O  # Effective and Well-led Outstanding of five


def test_nhs_trust_without_locations_and_two_requires_improvement_with_use_of_resources():
    services = trust_services()
    services = services[services["provider_id"] == "T1"]
    levels = nhs_trust(
        services,
        trust_assessments=pd.DataFrame({"provider_id": ["T1"], "well_led": [G], "use_of_resources": [G]}),
        has_locations=False,
    )
    assert levels.location.empty
    l5 = levels.trust_key_question.set_index("key_question")["rating"]
    # across the four core services: Safe 2 RI of 4 -> RI; Responsive 1 RI of 4 -> Good; Caring 3 O + G -> O
    assert (l5["Safe"], l5["Responsive"], l5["Caring"], l5["Well-led"]) == (R, G, O, G)
    overall = levels.trust.iloc[0]
    assert overall["rating"] == G  # Safe RI only (1 RI of 6), Caring O


NR = "Not rated"


def test_a_partial_set_of_key_questions_is_never_rated_as_complete():
    """Adult social care aggregates all five key questions (ratings.yaml complete_with: 5): A has three
    rated, B four; neither gets an overall rating, and each says on how many it would have been rated
    and what the rules would give on those alone. C has all five."""
    rows = {
        "A": [G, NR, O, NR, G],
        "B": [O, O, G, "Insufficient evidence to rate", G],
        "C": [O, O, G, G, G],
    }
    kq = pd.DataFrame(
        [
            {"location_id": loc, "key_question": q, "rating": r}
            for loc, five in rows.items()
            for q, r in zip(KEY_QUESTIONS, five, strict=True)
        ]
    )
    result = adult_social_care(kq).set_index("location_id")
    assert result["rating"].to_dict() == {"A": NR, "B": NR, "C": O}
    assert result["reason"].to_dict() == {"A": "incomplete", "B": "incomplete", "C": "outstanding"}
    assert result.loc["A", "explanation"] == (
        "Not rated overall: rated on three of five key questions (Safe, Caring and Well-led; not rated: "
        "Effective and Responsive), and a complete rating needs at least five, so this is not a complete "
        "rating (the rules on these three alone would give Good)."
    )
    assert "rated on four of five key questions" in result.loc["B", "explanation"]
    assert "would give Outstanding" in result.loc["B", "explanation"]
    # a limiter on the overall rating cannot turn an incomplete rating into one
    limited = adult_social_care(
        kq, pd.DataFrame({"location_id": ["A"], "limiter": ["breach_of_regulations"]})
    ).set_index("location_id")
    assert limited.loc["A", "rating"] == NR


def test_nhs_overall_ratings_need_four_key_questions_and_a_trust_five_to_be_complete():
    """Core services and locations are rated overall on four key questions (outpatients: effective not
    rated), never on three, and say which is not rated; a trust without its trust-level well-led
    assessment is rated on the other four but always said to be not a complete rating."""
    services = trust_services()
    outpatients = pd.DataFrame(
        {
            "provider_id": "T2",
            "location_id": "S1",
            "service": ["outpatients"] * 5 + ["diagnostic"] * 5,
            "key_question": list(KEY_QUESTIONS) * 2,
            "rating": [G, "Insufficient evidence to rate", O, G, G, G, NR, NR, G, R],
        }
    )
    levels = nhs_trust(pd.concat([services, outpatients], ignore_index=True))
    l2 = levels.service.set_index(["location_id", "service"])
    assert l2.loc[("S1", "outpatients"), "rating"] == G and l2.loc[("S1", "outpatients"), "complete"]
    assert l2.loc[("S1", "outpatients"), "explanation"].endswith(
        "Rated on four of five key questions (not rated: Effective)."
    )
    assert (
        l2.loc[("S1", "diagnostic"), "rating"] == NR
        and l2.loc[("S1", "diagnostic"), "reason"] == "incomplete"
    )
    assert "rated on three of five key questions" in l2.loc[("S1", "diagnostic"), "explanation"]
    assert l2.loc[("S1", "diagnostic"), "explanation"].startswith("Not rated overall for diagnostic")
    trust = levels.trust.set_index("provider_id")
    assert trust["rating"].to_dict() == {"T1": O, "T2": O}  # no trust-level well-led assessment given
    assert not trust["complete"].any()
    assert trust.loc["T1", "explanation"].endswith(
        "Rated on four of five key questions (not rated: Well-led): not a complete rating, which needs at "
        "least five."
    )
    with_well_led = nhs_trust(
        services, trust_assessments=pd.DataFrame({"provider_id": ["T1"], "well_led": [G]})
    )
    t1 = with_well_led.trust.set_index("provider_id").loc["T1"]
    assert t1["complete"] and "Rated on" not in t1["explanation"]


@pytest.mark.parametrize("value", [0, 6, "all", None])
def test_a_bad_or_missing_completeness_rule_names_the_field(tmp_path, value):
    text = config_file("ratings.yaml").read_text()
    assert "    trust_overall: 5\n" in text
    replacement = "" if value is None else f"    trust_overall: {value}\n"
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace("    trust_overall: 5\n", replacement, 1))
    with pytest.raises(InputError) as caught:
        load_rules(bad)
    assert [p.field for p in caught.value.problems] == ["nhs_trust.complete_with.trust_overall"]


def test_unknown_enforcement_action_is_bad_input():
    with pytest.raises(InputError, match="'fine' is not one of"):
        nhs_trust(
            trust_services(),
            enforcement=pd.DataFrame(
                {"location_id": ["H1"], "service": ["surgery"], "key_question": ["Safe"], "action": ["fine"]}
            ),
        )


def test_rules_file_problems_are_reported(tmp_path):
    bad = tmp_path / "rules.yaml"
    text = (
        config_file("ratings.yaml")
        .read_text()
        .replace("outstanding: 2\n    requires", "outstanding: 0\n    requires", 1)
    )
    bad.write_text(text)
    with pytest.raises(InputError, match=r"adult_social_care\.key_questions_to_overall\.outstanding"):
        load_rules(bad)
    assert dataclasses.is_dataclass(RULES)


def test_rate_with_above_complete_with_is_refused_naming_the_field(tmp_path):
    text = config_file("ratings.yaml").read_text()
    old = "  rate_with:\n    service_overall: 4\n"
    assert old in text
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace(old, "  rate_with:\n    service_overall: 5\n", 1))
    with pytest.raises(InputError) as caught:
        load_rules(bad)
    [problem] = caught.value.problems
    assert (
        problem.field == "nhs_trust.rate_with.service_overall"
        and "at most complete_with (4)" in problem.reason
    )
