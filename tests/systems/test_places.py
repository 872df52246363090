"""Place transition indicators: hand-made places reproduce the values and their judgements by each
indicator's one comparison specification (the monitoring settings' 95% verdict limits, Winsorised
funnels with additive overdispersion), through the pure comparison and through the importer and the
store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from carelens.errors import InputError
from carelens.ingest.service import ingest
from carelens.model.organisations import OrgKind
from carelens.store import schema
from carelens.systems.places import compare, dtoc_attribution, members, place_indicators

PERIOD = dt.date(2017, 4, 1)
PLACES = [f"P{i:02d}" for i in range(1, 11)]

Z95 = 1.96  # the monitoring settings' flags.risk_z (transitions.yaml gives no levels)


def by(frame: pd.DataFrame, indicator: str) -> pd.DataFrame:
    return frame[frame["indicator_id"] == indicator].set_index("org_code").loc[PLACES]


def test_hand_made_proportion_values_and_comparison(config, definitions, long_observations):
    result = by(compare(long_observations, config, definitions), "readmission_30d_65plus")
    np.testing.assert_allclose(
        result["value"], [17.0, 16.75, 17.25, 16.9, 17.1, 16.8, 17.2, 17.0, 10.0, 24.0]
    )
    np.testing.assert_allclose(result["target"], 17.0)  # 3,400 / 20,000
    # The spread is within chance once the two outliers are Winsorised: tau2 = 0, so the limits are
    # the unadjusted arcsine limits sin^2(asin(sqrt(0.17)) -/+ z / (2 sqrt(2000))) at the verdict level.
    assert (result["tau2"] == 0).all()
    centre = np.arcsin(np.sqrt(0.17))
    lower = 100 * np.sin(centre - Z95 / (2 * np.sqrt(2000))) ** 2
    upper = 100 * np.sin(centre + Z95 / (2 * np.sqrt(2000))) ** 2
    np.testing.assert_allclose(result["lower"], lower, rtol=1e-6)
    np.testing.assert_allclose(result["upper"], upper, rtol=1e-6)
    assert lower == pytest.approx(15.39, abs=0.005) and upper == pytest.approx(18.68, abs=0.005)
    assert list(result["assessment"]) == ["within"] * 8 + ["better", "worse"]
    assert list(result["verdict"]) == ["as expected"] * 8 + ["better", "worse"]
    assert result.loc["P10", "adverse_z"] > Z95 > -Z95 > result.loc["P09", "adverse_z"]
    assert (result["peers"] == 10).all() and (result["reason"] == "").all()


def test_hand_made_rate_values_and_comparison(config, definitions, long_observations):
    result = by(compare(long_observations, config, definitions), "emergency_admissions_65plus")
    np.testing.assert_allclose(result.loc[["P01", "P09", "P10"], "value"], [250.0, 190.0, 325.0])
    np.testing.assert_allclose(result["target"], 251.5)  # 50,300 / 200,000 per 1,000
    # Expected admissions E = 20,000 x 0.2515 = 5,030, compared as O/E by the CQC method (square-root
    # scale, Winsorised): the Winsorised spread leaves tau2 of about 3.7e-5, and the limits are
    # 251.5 x (1 -/+ z sqrt(1 / (4E) + tau2))^2.
    tau2 = result["tau2"].iloc[0]
    assert (result["tau2"] == tau2).all() and tau2 == pytest.approx(3.7e-5, rel=0.05)
    e = 5030.0
    half = Z95 * np.sqrt(1 / (4 * e) + tau2)
    np.testing.assert_allclose(result["lower"], 251.5 * (1 - half) ** 2, rtol=1e-9)
    np.testing.assert_allclose(result["upper"], 251.5 * (1 + half) ** 2, rtol=1e-9)
    assert list(result["assessment"]) == ["within"] * 8 + ["better", "worse"]


def test_too_few_places_are_not_compared_and_say_why(config, definitions, long_observations):
    """The monitoring settings' small-number rule: a funnel needs 10 comparable places."""
    few = long_observations[long_observations["org_code"].isin(PLACES[:9])]
    result = compare(few, config, definitions)
    assert set(result["assessment"]) == {"not compared"} and result["adverse_z"].isna().all()
    assert set(result["reason"]) == {"too few comparable peers in the funnel"}


def test_higher_is_better_indicator_turns_high_values_into_better(config, definitions, long_observations):
    frame = long_observations
    frame = frame[frame["indicator_id"] == "readmission_30d_65plus"].assign(
        indicator_id="reablement_at_home_91d"
    )
    result = by(compare(frame, config, definitions), "reablement_at_home_91d")
    assert list(result["assessment"]) == ["within"] * 8 + ["worse", "better"]
    assert result.loc["P10", "adverse_z"] < 0 < result.loc["P09", "adverse_z"]


def test_store_round_trip_gives_the_same_figures_and_dtoc_attribution(
    engine, tmp_path, config, definitions, hand_made_transitions, long_observations
):
    path = tmp_path / "transitions.csv"
    hand_made_transitions.to_csv(path, index=False)
    assert ingest(engine, "place-transitions", [path], user="tester")[0].inserted == 10 + 80
    stored = place_indicators(engine, config, definitions)
    pure = compare(long_observations, config, definitions)
    for indicator in ("readmission_30d_65plus", "emergency_admissions_65plus"):
        pd.testing.assert_frame_equal(
            by(stored, indicator)[["value", "lower", "upper", "assessment"]],
            by(pure, indicator)[["value", "lower", "upper", "assessment"]],
        )
    total = by(stored, "dtoc_total")
    np.testing.assert_allclose(total["value"], 3500.0)  # 3,500 delayed days per 100,000 adults
    np.testing.assert_allclose(by(stored, "reablement_at_home_91d")["value"], 90.0)
    np.testing.assert_allclose(by(stored, "discharge_usual_residence")["value"], 90.0)
    shares = dtoc_attribution(stored).set_index("org_code").loc["P01"]
    assert (shares["nhs_share"], shares["social_care_share"], shares["both_share"]) == pytest.approx(
        (2000 / 3500, 1200 / 3500, 300 / 3500)
    )
    assert shares["delayed_days"] == 3500


def test_members_follow_dated_relationships(engine, tmp_path):
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(
        "code,name,kind\nPLX,Place X,place\nLAX,Council X,local_authority\nRX1,Trust 1,nhs_trust\n"
        "RX2,Trust 2,nhs_trust\nACOX,ACO X,aco\n"
    )
    links = tmp_path / "links.csv"
    links.write_text(
        "kind,subject_code,object_code,valid_from\nplace_member,LAX,PLX,2016-04-01\n"
        "place_member,RX1,PLX,2016-04-01\nplace_member,RX2,PLX,2018-04-01\naco_member,RX1,ACOX,\n"
    )
    ingest(engine, "organisations", [orgs], user="tester")
    ingest(engine, "relationships", [links], user="tester")
    with engine.connect() as connection:
        in_2017 = members(connection, OrgKind.PLACE, dt.date(2017, 6, 1))
        in_2019 = members(connection, OrgKind.PLACE, dt.date(2019, 6, 1))
        acos = members(connection, OrgKind.ACO, dt.date(2019, 6, 1))
    assert list(in_2017["member_code"]) == ["LAX", "RX1"]
    assert list(in_2019["member_code"]) == ["LAX", "RX1", "RX2"]
    assert set(in_2019["member_kind"]) == {"local_authority", "nhs_trust"}
    assert list(acos["member_code"]) == ["RX1"]


def test_bad_transitions_file_names_row_and_field_and_writes_nothing(engine, tmp_path, hand_made_transitions):
    frame = hand_made_transitions.copy()
    frame.loc[2, "readmissions_30d_65plus"] = 2500  # more readmissions than discharges
    frame.loc[4, "population_65plus"] = 0
    frame.loc[6, "org_kind"] = "hospital"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as caught:
        ingest(engine, "place-transitions", [path], user="tester")
    found = {(p.row, p.field) for p in caught.value.problems}
    assert {(3, "readmissions_30d_65plus"), (5, "population_65plus"), (7, "org_kind")} <= found
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.observation)).scalar() == 0
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.organisation)).scalar() == 0


def test_period_defaults_to_the_latest(config, definitions, long_observations):
    frame = long_observations
    later = frame.assign(period=dt.date(2018, 4, 1), numerator=frame["numerator"] + 1)
    both = pd.concat([frame, later], ignore_index=True)
    result = compare(both, config, definitions)
    assert set(result["period"]) == {PERIOD, dt.date(2018, 4, 1)}  # compared within each period
    assert result.groupby(["indicator_id", "period"]).size().eq(10).all()
