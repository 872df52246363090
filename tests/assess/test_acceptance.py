"""Acceptance on the real Devon and Plymouth CQC extract (April 2021), and the command line.

Counts measured on ``data/cqc_ratings/cqc_ratings_long_devon_plymouth_2021-04.csv``:

- adult social care rules: 413 of 415 care homes with a published overall rating (99.5%); the two misses
  are focused inspections (Ashleigh Manor kept Good with two RI key questions; Holmesley kept RI after
  Safe and Well-led were re-rated Good). All 12 hospitals' location overall ratings also agree (425/427).
- NHS trust rules, core services -> key question x location at the 12 hospitals with service ratings:
  54 key question cells have a published rating, 53 can be computed (Honiton's services have no rated
  well-led), 47 agree (88.7% of 53; 87.0% of 54). The 6 misses are listed below. Service overall
  (key question x core service -> core service) agrees on 38/38.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from typer.testing import CliRunner

from carelens.assess.compare import agreement, compare_published, disagreements
from carelens.assess.config import Thresholds, XTable, load_rules
from carelens.assess.rules import nhs_trust
from carelens.assess.scale import RATINGS
from carelens.cli import app
from carelens.tables import read_table

G, R, O = "Good", "Requires improvement", "Outstanding"  # noqa: E741


@pytest.fixture(scope="module")
def extract(data_dir) -> pd.DataFrame:
    return read_table(data_dir / "cqc_ratings" / "cqc_ratings_long_devon_plymouth_2021-04.csv")


def test_adult_social_care_rules_reproduce_care_home_overall_ratings(extract):
    table = compare_published(extract, "adult-social-care")
    homes = set(extract.loc[extract["care_home"] == "Y", "location_id"])
    care_homes = table[table["location_id"].isin(homes) & table["published"].isin(RATINGS)]
    assert len(care_homes) == 415
    assert int(care_homes["agree"].sum()) == 413
    assert care_homes["agree"].mean() >= 0.99
    missed = disagreements(care_homes)[["location_name", "computed", "published"]]
    assert missed.to_dict("records") == [
        {"location_name": "Ashleigh Manor Residential Care Home", "computed": R, "published": G},
        {"location_name": "Holmesley Care Home", "computed": G, "published": R},
    ]
    overall = agreement(table).set_index("key_question")
    assert (overall.loc["all", "compared"], overall.loc["all", "agree"]) == (426, 424)
    # Mount Gould Hospital (published Requires improvement) is rated on 4 of 5 key questions (effective:
    # insufficient evidence to rate): the adult social care principles aggregate all five, so these rules
    # give no complete rating and say so (the NHS trust rules rate a location on four)
    (partial,) = table[table["reason"] == "incomplete"].itertuples(index=False)
    assert (partial.location_id, partial.computed, partial.published) == ("RK901", "Not rated", R)
    assert partial.explanation == (
        "Not rated overall: rated on four of five key questions (Safe, Caring, Responsive and Well-led; "
        "not rated: Effective), and a complete rating needs at least five, so this is not a complete "
        "rating (the rules on these four alone would give Requires improvement)."
    )


EXPECTED_NHS_MISSES = [
    # (location, key question, rule outcome, published)
    ("Nuffield Health Plymouth Hospital", "Caring", O, G),
    ("North Devon District Hospital", "Well-led", G, R),  # well-led set at trust level
    ("Royal Devon & Exeter Hospital (Wonford)", "Safe", G, R),
    ("Mardon Neuro-rehabilitation Centre", "Safe", R, G),
    ("Mardon Neuro-rehabilitation Centre", "Caring", G, O),
    ("Mardon Neuro-rehabilitation Centre", "Well-led", R, G),
]


def test_core_service_to_location_key_questions(extract):
    table = compare_published(extract, "nhs-trust")
    cells = table[(table["key_question"] != "Overall") & table["published"].isin(RATINGS)]
    assert len(cells) == 54
    compared = cells[cells["agree"].notna()]
    assert len(compared) == 53
    assert int(compared["agree"].sum()) == 47
    assert compared["agree"].mean() >= 0.85 and 47 / 54 >= 0.85
    not_computed = cells[cells["agree"].isna()]
    assert not_computed[["location_name", "key_question", "computed"]].values.tolist() == [
        ["Honiton Hospital", "Well-led", "Not rated"]
    ]
    missed = disagreements(cells)
    got = sorted(
        missed[["location_name", "key_question", "computed", "published"]].itertuples(index=False, name=None)
    )
    assert got == sorted(EXPECTED_NHS_MISSES)
    assert all(missed["explanation"].str.len() > 0)
    location_overall = table[(table["key_question"] == "Overall") & table["agree"].notna()]
    assert (len(location_overall), int(location_overall["agree"].sum())) == (11, 9)


def test_calibration_of_the_one_to_three_row_and_the_strict_reading(extract):
    services = extract[(extract["level"] == "service") & (extract["key_question"] != "Overall")]
    l3 = nhs_trust(services.astype(object)).location_key_question
    one_ri = l3[l3["n_rated"].isin([2, 3]) & (l3["n_requires_improvement"] == 1) & (l3["n_inadequate"] == 0)]
    published = extract[extract["level"] == "location"].set_index(["location_id", "key_question"])["rating"]
    assert [
        published[(a, b)] for a, b in zip(one_ri["location_id"], one_ri["key_question"], strict=True)
    ] == [G, G, G]
    rules = load_rules()
    strict_table = XTable((1, 4, 9), (Thresholds(1, 1, 1), Thresholds(2, 2, 2), Thresholds(3, 3, 3)), True)
    strict = compare_published(extract, "nhs-trust", dataclasses.replace(rules, nhs_table=strict_table))
    cells = strict[(strict["key_question"] != "Overall") & strict["agree"].notna()]
    assert (len(cells), int(cells["agree"].sum())) == (53, 43)


def test_service_overall_from_key_questions(extract):
    services = extract[(extract["level"] == "service") & (extract["key_question"] != "Overall")]
    l2 = nhs_trust(services.astype(object)).service
    published = extract[(extract["level"] == "service") & (extract["key_question"] == "Overall")]
    merged = l2.merge(published, on=["location_id", "service"], suffixes=("", "_published"))
    both = merged[merged["rating_published"].isin(RATINGS) & merged["rating"].isin(RATINGS)]
    assert (len(both), int((both["rating"] == both["rating_published"]).sum())) == (38, 38)


def test_cli_rate_aggregate(data_dir, tmp_path):
    source = data_dir / "cqc_ratings" / "cqc_ratings_long_devon_plymouth_2021-04.csv"
    out = tmp_path / "asc.csv"
    result = CliRunner().invoke(
        app, ["rate", "aggregate", str(source), "--rules", "adult-social-care", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert len(written) == 445 and int(written["agree"].sum()) == 424  # 416 care homes + 29 hospitals
    assert "Holmesley" in result.output
    out = tmp_path / "nhs.csv"
    result = CliRunner().invoke(
        app, ["rate", "aggregate", str(source), "--rules", "nhs-trust", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(out)["key_question"]) == {
        "Safe",
        "Effective",
        "Caring",
        "Responsive",
        "Well-led",
        "Overall",
    }


def test_cli_bad_input_exits_2_naming_row_and_field(data_dir, tmp_path):
    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(data_dir / "cqc_ratings" / "cqc_ratings_long_devon_plymouth_2021-04.csv")
    frame.loc[4, "rating"] = "Great"
    frame.to_csv(bad, index=False)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["rate", "aggregate", str(bad), "--rules", "nhs-trust", "-o", str(out)])
    assert result.exit_code == 2
    assert "row 5" in result.output and "'rating'" in result.output and "Great" in result.output
    assert not out.exists()


def test_cli_saf_and_segment(tmp_path):
    scores = tmp_path / "saf.csv"
    pd.DataFrame(
        [
            {"assessment_id": "A", "key_question": kq, "quality_statement": f"{kq}{i}", "score": s}
            for kq, row in zip(
                ["Safe", "Effective", "Caring", "Responsive", "Well-led"],
                [[3, 3], [3, 2], [4, 4], [3, 3], [3, 1]],
                strict=True,
            )
            for i, s in enumerate(row)
        ]
    ).to_csv(scores, index=False)
    out = tmp_path / "saf-out.csv"
    result = CliRunner().invoke(app, ["rate", "saf", str(scores), "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    kq = table[table["level"] == "key_question"].set_index("key_question")["rating"]
    # Well-led 4/8 = 50% RI; Effective 5/8 = 62.5 -> 63 Good; overall 3+3+4+3+2 = 15/20 = 75% Good
    assert (kq["Well-led"], kq["Effective"]) == (R, G)
    assert table.loc[table["level"] == "overall", "rating"].item() == G

    metrics = tmp_path / "nof.csv"
    pd.DataFrame(
        {
            "org_code": ["X", "X", "Y", "Y", "Z"],
            "trust_type": "acute",
            "metric": ["a", "b", "a", "b", "a"],
            "score": [1, 2, 3, 3, None],
        }
    ).to_csv(metrics, index=False)
    out = tmp_path / "league.csv"
    result = CliRunner().invoke(app, ["segment", str(metrics), "-o", str(out)])
    assert result.exit_code == 0, result.output
    league = pd.read_csv(out)
    assert list(league["org_code"]) == ["X", "Y", "Z"] and league["segment"].tolist()[:2] == [1, 3]
    assert pd.isna(league["segment"].iloc[2]) and list(league["assessed"]) == [True, True, False]
    assert "1 trust(s) not assessed (no metric scored, so no segment): Z" in result.output
