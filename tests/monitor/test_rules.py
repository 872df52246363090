"""Table-driven rules of the monitoring kernel and scoring: flags from the adverse adjusted z, small
numbers, polarity, benchmarking, bands; settings validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from carelens.errors import InputError
from carelens.monitor.comparison import comparison_for
from carelens.monitor.kernel import assess
from carelens.monitor.scoring import score_organisations
from carelens.monitor.settings import MonitorSettings, load_settings

SETTINGS = dataclasses.replace(load_settings(), overdispersion=None, min_units=5)


def proportion_indicator(polarity: str) -> dict:
    """How indicator "x" (a proportion) is compared under SETTINGS."""
    definition = {"value_type": "proportion", "polarity": polarity, "peer_group": "national"}
    return {"x": comparison_for("x", definition | {"key_question": "safe"}, SETTINGS)}


def funnel_frame(breaches: list[int], attendances: int = 1000, polarity: str = "lower_is_better"):
    """One indicator, one period: org Ok (index) with ``breaches[k]`` of ``attendances``."""
    n = len(breaches)
    frame = pd.DataFrame(
        {
            "indicator_id": "x",
            "org_code": [f"O{k:02d}" for k in range(n)],
            "period": pd.Timestamp("2024-01-01"),
            "numerator": np.array(breaches, dtype=float),
            "denominator": float(attendances),
            "expected": np.nan,
            "value": np.array(breaches) / attendances,
            "import_id": np.nan,
            "peer_group": "all",
        }
    )
    return frame, proportion_indicator(polarity)


# Ten peers at 100/1000 and one unit at the tested count; no overdispersion adjustment, so z is the
# arcsine-scale z: 2*sqrt(n)*(asin(sqrt(p)) - asin(sqrt(p_bar))).
@pytest.mark.parametrize(
    ("count", "polarity", "flag"),
    [
        (100, "lower_is_better", "no evidence of risk"),
        (125, "lower_is_better", "risk"),  # z = 2.50
        (145, "lower_is_better", "elevated risk"),  # z = 4.35
        (70, "lower_is_better", "no evidence of risk"),  # better side: never a risk
        (70, "higher_is_better", "elevated risk"),  # z = -3.45 is adverse when higher is better
        (145, "neutral", "not scored"),
    ],
)
def test_flag_is_set_by_the_adverse_adjusted_z(count, polarity, flag):
    frame, meta = funnel_frame([100] * 10 + [count], polarity=polarity)
    out = assess(frame, meta, SETTINGS).set_index("org_code")
    assert out.loc["O10", "flag"] == flag
    z = out.loc["O10", "z_adjusted"]
    expected_flag = {0: "no evidence of risk", 1: "risk", 2: "elevated risk"}[
        int(abs(z) > 1.96) + int(abs(z) > 3.0)
    ]
    if polarity != "neutral" and (z > 0) == (polarity == "lower_is_better"):
        assert flag == expected_flag


@pytest.mark.parametrize(
    ("attendances", "units", "reason"),
    [
        (19, 11, "denominator below the minimum"),  # min_denominator 20
        (1000, 4, "too few comparable peers in the funnel"),  # min_units 5
    ],
)
def test_small_numbers_give_insufficient_data_never_a_flag(attendances, units, reason):
    frame, meta = funnel_frame([0] * (units - 1) + [attendances], attendances=attendances)
    out = assess(frame, meta, SETTINGS)
    assert set(out["flag"]) == {"insufficient data"}
    assert set(out["reason"]) == {reason}
    assert not out["spc_alert"].any()


def test_benchmark_compares_the_wilson_interval_with_england():
    frame, meta = funnel_frame([100] * 10 + [160, 70])
    out = assess(frame, meta, SETTINGS).set_index("org_code")
    england = (100 * 10 + 160 + 70) / 12000
    assert out.loc["O00", "benchmark_value"] == pytest.approx(england)
    assert out.loc["O10", "benchmark"] == "worse"  # 160/1000: Wilson 95% interval 0.138-0.185
    assert out.loc["O11", "benchmark"] == "better"  # 70/1000: 0.056-0.087
    assert out.loc["O00", "benchmark"] == "similar"


def test_spc_alert_on_a_deterioration_in_the_latest_points():
    periods = pd.date_range("2022-01-01", periods=24, freq="MS")
    rng = np.random.default_rng(0)
    rows = []
    for k in range(12):
        counts = rng.binomial(1000, 0.1, size=24).astype(float)
        if k == 0:
            counts[-3:] = [170, 175, 180]  # a step up in the last three months
        rows.append(pd.DataFrame({"org_code": f"O{k:02d}", "period": periods, "numerator": counts}))
    frame = pd.concat(rows).assign(
        indicator_id="x", denominator=1000.0, expected=np.nan, import_id=np.nan, peer_group="all"
    )
    frame["value"] = frame["numerator"] / 1000
    out = assess(frame, proportion_indicator("lower_is_better"), SETTINGS).set_index("org_code")
    assert out.loc["O00", "spc_alert"] and out.loc["O00", "spc_rule"] == "astronomical"
    assert out.loc["O00", "spc_points"] == 24
    assert out["spc_alert"].sum() == 1


def flags_for(codes_by_org: dict[str, list[int]]) -> pd.DataFrame:
    rows = [
        {"indicator_id": f"i{k}", "org_code": org, "flag_code": c, "spc_alert": False}
        for org, codes in codes_by_org.items()
        for k, c in enumerate(codes)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("codes", "score"),
    [
        ([0, 0, 0, 0], 0.0),
        ([1, 0, 0, 0], 1 / 8),
        ([2, 1, 0, -1], 3 / 6),  # insufficient data is not applicable
        ([2, 2, -2], 1.0),  # neutral (not scored) is not applicable
        ([-1, -1], None),  # nothing applicable: no score, no band
    ],
)
def test_proportion_of_possible_score(codes, score):
    orgs = pd.DataFrame({"code": ["A"], "kind": ["nhs_trust"]})
    result, _ = score_organisations(flags_for({"A": codes}), orgs, {}, SETTINGS)
    if score is None:
        assert np.isnan(result.loc[0, "score"]) and result.loc[0, "status"] == "insufficient data"
    else:
        assert result.loc[0, "score"] == pytest.approx(score)


def test_bands_fixed_and_quantile_cut_points_special_measures_and_recently_inspected():
    scores = {"A": [0, 0], "B": [1, 0], "C": [1, 1], "D": [2, 1], "E": [2, 2], "F": [0, 0], "G": [2, 2]}
    orgs = pd.DataFrame({"code": list(scores), "kind": "nhs_trust"})
    fixed = dataclasses.replace(SETTINGS, band_method="fixed", band_cut_points=(0.1, 0.3, 0.5, 0.7, 0.9))
    result, _ = score_organisations(flags_for(scores), orgs, {}, fixed, ["F"], ["G"])
    result = result.set_index("org_code")
    # scores: A 0, B .25, C .5, D .75, E 1; F forced to band 1; G not banded
    assert result["band"].to_dict() == {"A": 6, "B": 5, "C": 4, "D": 2, "E": 1, "F": 1, "G": None}
    assert result.loc["G", "status"] == "recently inspected"
    assert result.loc["F", "status"] == "special measures"
    quantile = dataclasses.replace(SETTINGS, band_cut_points=(0.2, 0.4, 0.6, 0.8, 0.9))
    result, _ = score_organisations(flags_for(scores), orgs, {}, quantile)
    # scores sorted 0, 0, .25, .5, .75, 1, 1: type 7 quantiles .05, .35, .65, .95, 1; band = 6 - cuts exceeded
    assert result.set_index("org_code")["band"].to_dict() == {
        "A": 6,
        "B": 5,
        "C": 4,
        "D": 3,
        "E": 2,
        "F": 6,
        "G": 2,
    }


def test_settings_file_problems_are_all_reported(tmp_path):
    bad = tmp_path / "monitor.yaml"
    text = load_settings.__globals__["default_settings_file"]().read_text()
    bad.write_text(text.replace("risk_z: 1.96", "risk_z: -1").replace("method: quantile", "method: guess"))
    with pytest.raises(InputError) as caught:
        load_settings(bad)
    fields = {p.field for p in caught.value.problems}
    assert {"flags.risk_z", "bands.method"} <= fields
    assert isinstance(load_settings(), MonitorSettings)


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("trim: 0.1", "trim: 0.5", "funnel.trim", "must be <= 0.49"),
        ("overdispersion: additive", "overdispersion: both", "funnel.overdispersion", "or null"),
        ("min_units: 10", "min_units: 2.5", "small_numbers.min_units", "must be a whole number"),
        ("level: 95", "level: 120", "benchmark.level", "must be <= 100"),
        ("fix_after: null", "fix_after: 1", "spc.fix_after", "must be >= 2"),
        ("run_length: 7", "run_length: 1", "spc.run_length", "must be >= 2"),
        ("risk: 1", "risk: -1", "score.points.risk", "must be >= 0"),
        ("[0.50, 0.70, 0.85, 0.95, 0.99]", "[0.5, 0.7]", "bands.cut_points", "5 ascending numbers"),
        ("[0.50, 0.70, 0.85, 0.95, 0.99]", "[1, 2, 3, 4, 5]", "bands.cut_points", "quantiles must lie"),
        ("zero_score_band: 6", "zero_score_band: 7", "bands.zero_score_band", "must be <= 6"),
        ("elevated_z: 3.0", "elevated_z: 1.5", "flags.elevated_z", "must exceed risk_z"),
        ("  indicators_per_batch: 1\n", "", "batch.indicators_per_batch", "required field is missing"),
        ("name: embedded", "name: dask", "engine.name", "is not one of: embedded, spark"),
        ("master: local[2]", "master: mesos://x:5050", "engine.spark.master", "must be a Spark master URL"),
        ("indicators_per_job: 16", "indicators_per_job: 0", "engine.spark.indicators_per_job", ">= 1"),
        ("conf: {}", "conf: {a: [1]}", "engine.spark.conf", "must map Spark configuration names"),
    ],
)
def test_each_bad_setting_is_named(tmp_path, old, new, field, reason):
    text = load_settings.__globals__["default_settings_file"]().read_text()
    assert old in text
    bad = tmp_path / "monitor.yaml"
    bad.write_text(text.replace(old, new))
    with pytest.raises(InputError) as caught:
        load_settings(bad)
    (problem,) = caught.value.problems
    assert problem.source == str(bad) and problem.field == field and reason in problem.reason


def test_a_settings_file_without_an_engine_section_takes_the_packaged_one(tmp_path):
    """Where a pass runs is not how it judges: an older settings file without ``engine`` still loads,
    and the engine is no part of the settings stored with a run (so of no digest)."""
    text = load_settings.__globals__["default_settings_file"]().read_text()
    older = tmp_path / "monitor.yaml"
    older.write_text(text[: text.index("\nengine:")])
    packaged = load_settings()
    assert load_settings(older) == packaged and packaged.engine.name == "embedded"
    elsewhere = tmp_path / "spark.yaml"
    elsewhere.write_text(text.replace("name: embedded", "name: spark").replace("conf: {}", "conf: {x.y: 1}"))
    on_spark = load_settings(elsewhere)
    assert on_spark.engine.name == "spark" and on_spark.engine.spark_conf == {"x.y": "1"}
    assert on_spark.as_json() == packaged.as_json() and "engine" not in packaged.as_json()


def test_optional_settings_may_be_null(tmp_path):
    text = load_settings.__globals__["default_settings_file"]().read_text()
    good = tmp_path / "monitor.yaml"
    good.write_text(text.replace("overdispersion: additive", "overdispersion: null"))
    assert load_settings(good).overdispersion is None and load_settings().spc_fix_after is None
