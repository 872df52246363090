"""The one comparison specification (carelens.monitor.comparison) and the judgements the kernel makes
with it: how each value type is compared, verdicts that agree with limits and flags, the judged
periods, and the official SHMI banding of every packaged release."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from carelens.ingest.sources.shmi import month_from_name
from carelens.ingest.synth import write_synthetic
from carelens.model.indicators import load_indicators
from carelens.monitor.comparison import comparison_for, comparisons_for
from carelens.monitor.inputs import attach_peer_groups, parquet_inputs
from carelens.monitor.kernel import assess_all, judge
from carelens.monitor.settings import load_settings

SETTINGS = load_settings()


@pytest.mark.parametrize(
    ("definition", "kind", "sr_method", "size"),
    [
        ({"value_type": "proportion"}, "pr", "cqc", "denominator"),
        ({"value_type": "rate"}, "sr", "cqc", "denominator"),
        ({"value_type": "indirectly_standardised_ratio"}, "sr", "cqc", "expected"),
        (
            {"value_type": "indirectly_standardised_ratio", "method": "funnel_overdispersed_trimmed"},
            "sr",
            "shmi",
            "expected",
        ),
    ],
)
def test_each_value_type_has_one_way_to_be_compared(definition, kind, sr_method, size):
    spec = comparison_for("x", definition | {"polarity": "lower_is_better"}, SETTINGS)
    assert (spec.kind, spec.sr_method, spec.size_column) == (kind, sr_method, size)
    assert spec.verdict_z == SETTINGS.risk_z and spec.elevated_z == SETTINGS.elevated_z
    assert spec.min_size == (SETTINGS.min_expected if size == "expected" else SETTINGS.min_denominator)


def test_a_definitions_levels_replace_the_settings_thresholds():
    shmi = comparisons_for(load_indicators(), SETTINGS)["shmi"]
    assert shmi.verdict_z == pytest.approx(1.959964, abs=1e-6)  # exactly the published 95% limits
    assert shmi.elevated_z == pytest.approx(3.090232, abs=1e-6)
    assert shmi.verdict_level == pytest.approx(95.0) and "95%" in shmi.describe()


def test_a_value_type_nothing_compares_is_refused():
    with pytest.raises(ValueError, match="cannot be compared"):
        comparison_for("x", {"value_type": "count"}, SETTINGS)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    write_synthetic(out, 400, 6, 18, seed=11)
    inputs = parquet_inputs(out)
    comparisons = inputs.comparisons(SETTINGS)
    frame = inputs.reader.read(sorted(inputs.indicators), None, None)
    return attach_peer_groups(frame, inputs.organisations, comparisons), comparisons, inputs


def test_verdicts_agree_with_limits_and_with_the_flags(synthetic):
    frame, comparisons, _ = synthetic
    assessed = assess_all(frame, comparisons, SETTINGS)
    judged = assessed.judgements
    compared = judged[judged["verdict"] != "not compared"]
    assert len(compared) > 1000 and set(compared["direction"]) == {"higher", "lower", "within"}
    # A value lies beyond its limit exactly when its z lies beyond the verdict level's z.
    above = compared["value"] > compared["upper"] * (1 + 1e-12)
    below = compared["value"] < compared["lower"] * (1 - 1e-12)
    assert (above == (compared["direction"] == "higher")).all()
    assert (below == (compared["direction"] == "lower")).all()
    assert (judged.loc[judged["verdict"] == "not compared", "reason"] != "").all()

    # The latest period's judgement is the flag's, figure for figure.
    flags = assessed.flags.assign(period=pd.to_datetime(assessed.flags["period"]))
    judged = judged.astype({"indicator_id": str, "org_code": str}).assign(
        period=pd.to_datetime(judged["period"])
    )
    latest = judged.merge(
        flags.astype({"indicator_id": str, "org_code": str}),
        on=["indicator_id", "org_code", "period"],
        suffixes=("", "_flag"),
    )
    assert len(latest) > 1000
    for mine, theirs in (("lower", "risk_lower"), ("upper", "risk_upper"), ("peers", "peer_units")):
        np.testing.assert_array_equal(latest[mine].to_numpy(float), latest[theirs].to_numpy(float))
    for name in ("value", "target", "z_adjusted", "elevated_lower", "elevated_upper", "tau2"):
        np.testing.assert_array_equal(latest[name].to_numpy(float), latest[f"{name}_flag"].to_numpy(float))
    risky = latest["flag_code"] > 0
    assert risky.any() and (latest.loc[risky, "verdict"] == "worse").all()
    assert (latest.loc[latest["flag"] == "insufficient data", "verdict"] == "not compared").all()
    assert (latest.loc[latest["verdict"] == "worse", "flag_code"] > 0).all()


@pytest.mark.parametrize("history", [1, 3, None])
def test_judged_periods_follow_the_setting_unless_the_definition_says(synthetic, history):
    frame, _, inputs = synthetic
    settings = dataclasses.replace(SETTINGS, history_periods=history)
    definitions = dict(inputs.indicators)
    own = sorted(definitions)[0]
    definitions[own] = definitions[own] | {"judged_periods": 5}
    judged = assess_all(frame, comparisons_for(definitions, settings), settings).judgements
    periods = judged.groupby("indicator_id", observed=True)["period"].nunique()
    assert periods[own] == 5
    assert (periods.drop(own) == (18 if history is None else history)).all()


def test_judge_gives_what_a_pass_over_the_same_rows_stores(synthetic):
    frame, comparisons, _ = synthetic
    every_period = {k: dataclasses.replace(c, judged_periods=None) for k, c in comparisons.items()}
    every = assess_all(frame, every_period, SETTINGS).judgements
    one_period = frame[frame["period"] == frame["period"].min()]
    again = judge(one_period.drop(columns="import_id"), comparisons, SETTINGS)
    expected = every[every["period"] == one_period["period"].min()].reset_index(drop=True)
    text = expected.select_dtypes("category").columns
    expected = expected.astype(dict.fromkeys(text, object)).assign(
        period=expected["period"].dt.date.astype(object)
    )
    pd.testing.assert_frame_equal(again, expected)


def test_the_shmi_verdict_is_the_official_banding_in_every_packaged_release(data_dir):
    """NHS Digital's OD_BANDING (1 higher, 2 as expected, 3 lower) for every trust of every release."""
    comparisons = comparisons_for(load_indicators(), SETTINGS)
    files = sorted((data_dir / "shmi" / "archive_raw").glob("shmi-*.csv"))
    assert len(files) == 5
    checked = 0
    for path in files:
        raw = pd.read_csv(path)
        frame = pd.DataFrame(
            {
                "indicator_id": "shmi",
                "org_code": raw["PROVIDER"],
                "period": pd.Timestamp(month_from_name(path)),
                "numerator": raw["OBSERVED"].astype(float),
                "denominator": raw["DENOMINATOR"].astype(float),
                "expected": raw["EXPECTED"].astype(float),
                "value": raw["VALUE"].astype(float),
                "peer_group": "England",
            }
        )
        judged = judge(frame, comparisons, SETTINGS).set_index("org_code")
        band = judged["direction"].map({"higher": 1, "within": 2, "lower": 3})
        official = raw.set_index("PROVIDER")["OD_BANDING"]
        assert (band.loc[official.index] == official).all(), path.name
        np.testing.assert_allclose(
            judged.loc[official.index, "upper"], raw.set_index("PROVIDER")["OD_UL"], atol=6e-5
        )
        checked += len(official)
    assert checked == 726
