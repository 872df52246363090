"""Domain model: indicator definitions, observation columns, organisation kinds."""

from __future__ import annotations

from dataclasses import fields

import pytest

from carelens.errors import InputError
from carelens.model.indicators import (
    FIELD_DOCS,
    IndicatorDefinition,
    Polarity,
    definition_json,
    load_indicators,
)
from carelens.model.observations import OBSERVATION_COLUMNS, OBSERVATION_DTYPES, OBSERVATION_SCHEMA
from carelens.model.organisations import (
    ONE_AT_A_TIME,
    RELATIONSHIP_ENDPOINTS,
    OrgKind,
    RelationshipKind,
    kind_from_ods_code,
)

GOOD = """
schema_version: 1
indicators:
  - id: {id}
    version: 1
    title: A title
    domain: a domain
    value_type: proportion
    polarity: lower_is_better
    peer_group: national
    method: funnel_overdispersed
    levels: [0.95, 0.998]
    source: somewhere
"""


def test_packaged_indicator_definitions_load():
    definitions = load_indicators()
    assert sorted(i for i in definitions if not i.startswith("rtt_")) == [
        "ae_4hr_breach_other",
        "ae_4hr_breach_type1",
        "ae_4hr_breach_type2",
        "ae_admissions_other",
        "ae_admissions_type1",
        "ae_admissions_type2",
        "ae_booked_other",
        "ae_booked_type1",
        "ae_booked_type2",
        "discharge_usual_residence",
        "dtoc_both",
        "dtoc_nhs",
        "dtoc_social_care",
        "dtoc_total",
        "emergency_admissions_65plus",
        "experience_negative_share",
        "reablement_at_home_91d",
        "readmission_30d_65plus",
        "shmi",
    ]
    assert definitions["shmi"].polarity is Polarity.LOWER_IS_BETTER
    assert definitions["shmi"].levels == (0.95, 0.998)  # judged at the official 95% banding
    assert definitions["ae_4hr_breach_type1"].levels == ()  # the monitoring settings' thresholds
    rtt = sorted(i for i in definitions if i.startswith("rtt_"))
    assert len(rtt) == 2 * 24 and "rtt_within_18_weeks_c_110" in rtt and "rtt_over_52_weeks_x06" in rtt
    assert definitions["rtt_within_18_weeks"].polarity is Polarity.HIGHER_IS_BETTER
    assert definitions["rtt_over_52_weeks"].polarity is Polarity.LOWER_IS_BETTER
    assert definitions["rtt_over_52_weeks_c_110"].polarity is Polarity.NEUTRAL  # compared, not scored


@pytest.mark.parametrize("value_type", ["count", "mean", "directly_standardised_rate"])
def test_a_value_type_nothing_can_compare_is_refused_when_loaded(tmp_path, value_type):
    path = tmp_path / "x.yaml"
    path.write_text(GOOD.format(id="one").replace("value_type: proportion", f"value_type: {value_type}"))
    with pytest.raises(InputError) as caught:
        load_indicators([path])
    (problem,) = caught.value.problems
    assert (problem.source, problem.row, problem.field) == (str(path), 1, "value_type")
    assert "carelens can compare with peers" in problem.reason


def test_confidential_is_true_or_false_and_only_stored_when_declared(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        GOOD.format(id="one").replace("source: somewhere", "source: somewhere\n    confidential: yes please")
    )
    with pytest.raises(InputError) as caught:
        load_indicators([path])
    (problem,) = caught.value.problems
    assert (problem.source, problem.row, problem.field) == (str(path), 1, "confidential")
    path.write_text(
        GOOD.format(id="one").replace("source: somewhere", "source: somewhere\n    confidential: true")
    )
    assert definition_json(load_indicators([path])["one"])["confidential"] is True
    path.write_text(
        GOOD.format(id="one").replace("source: somewhere", "source: somewhere\n    confidential: false")
    )
    assert "confidential" not in definition_json(load_indicators([path])["one"])  # stored as before


def test_every_indicator_field_is_documented():
    for spec in fields(IndicatorDefinition):
        assert len(FIELD_DOCS[spec.name]) > 20, spec.name


def test_bad_indicator_file_lists_every_problem(tmp_path):
    good = tmp_path / "a.yaml"
    good.write_text(GOOD.format(id="one"))
    bad = tmp_path / "b.yaml"
    bad.write_text(
        GOOD.format(id="one")
        .replace("polarity: lower_is_better", "polarity: sideways")
        .replace("levels: [0.95, 0.998]", "levels: [0.998, 1.5]")
        .replace("source: somewhere", "source: somewhere\n    colour: red")
        + "  - id: Two\n    version: 0\n"
    )
    with pytest.raises(InputError) as caught:
        load_indicators([good, bad])
    found = {(p.row, p.field) for p in caught.value.problems}
    assert {(1, "polarity"), (1, "levels"), (1, "colour"), (2, "id"), (2, "version"), (2, "title")} <= found
    assert all(p.source == str(bad) for p in caught.value.problems)
    duplicate = tmp_path / "c.yaml"
    duplicate.write_text(GOOD.format(id="one"))
    with pytest.raises(InputError, match="duplicate indicator id 'one'"):
        load_indicators([good, duplicate])


def test_observation_columns_are_declared_once_and_agree():
    assert OBSERVATION_COLUMNS == (
        "indicator_id",
        "org_code",
        "period",
        "numerator",
        "denominator",
        "expected",
        "value",
    )
    assert tuple(OBSERVATION_SCHEMA.names) == OBSERVATION_COLUMNS == tuple(OBSERVATION_DTYPES)
    assert str(OBSERVATION_SCHEMA.field("period").type) == "date32[day]"


def test_kind_from_ods_code():
    assert kind_from_ods_code("RF4") is OrgKind.NHS_TRUST
    assert kind_from_ods_code("5QT") is OrgKind.NHS_TRUST
    assert kind_from_ods_code("C82038") is OrgKind.GP_PRACTICE
    assert kind_from_ods_code("NLO11") is OrgKind.INDEPENDENT_PROVIDER


def test_every_relationship_kind_has_endpoints():
    assert set(RELATIONSHIP_ENDPOINTS) == set(RelationshipKind)
    assert set(ONE_AT_A_TIME.values()) <= {"subject", "object"}
