"""Indicators that declare a chart type or a CUSUM alert (docs/methods/cusum.md, docs/methods/spc.md): the
definition's new fields and their checks, the monitoring pass's CUSUM step (an elevated-risk flag with
its explanation, figures equal to the kernel's) and charts other than XmR in the SPC step."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from carelens.errors import InputError
from carelens.model.indicators import CusumAlert, load_indicators
from carelens.monitor.comparison import comparison_for
from carelens.monitor.cusum import indicator_cusum
from carelens.monitor.inputs import ORG_COLUMNS, Inputs, ObservationReader
from carelens.monitor.kernel import assess
from carelens.monitor.service import compute_pass
from carelens.monitor.settings import load_settings
from carelens.stats.cusum import count_cusum, count_cusum_threshold

SETTINGS = dataclasses.replace(load_settings(), overdispersion=None, min_units=5)
MONTHS = pd.date_range("2022-01-01", periods=24, freq="MS")


def mortality(cusum=None, chart=None) -> dict:
    definition = {
        "id": "deaths",
        "version": 1,
        "title": "Deaths in hospital",
        "domain": "mortality",
        "value_type": "indirectly_standardised_ratio",
        "polarity": "lower_is_better",
        "peer_group": "national",
        "method": "funnel_overdispersed_trimmed",
        "source": "test",
    }
    return definition | ({"cusum": cusum} if cusum is not None else {}) | ({"chart": chart} if chart else {})


def monthly_deaths(excess_org: str | None = "T00", months: int = 24) -> pd.DataFrame:
    """Twelve trusts, monthly deaths against 20 expected; ``excess_org`` has half as many again in its last
    six months: not beyond the funnel's risk limit in the latest month (z = √20·ln 1.5 = 1.81), but a
    run the CUSUM accumulates (each month adds 30·ln 2 − 20 ≈ 0.8 or more)."""
    rng = np.random.default_rng(3)
    rows = []
    for k in range(12):
        code = f"T{k:02d}"
        deaths = rng.poisson(20.0, size=months).astype(float)
        if code == excess_org:
            deaths[-6:] = [33, 34, 32, 35, 33, 30]
        rows.append(pd.DataFrame({"org_code": code, "period": MONTHS[:months], "numerator": deaths}))
    frame = pd.concat(rows, ignore_index=True).assign(
        indicator_id="deaths", denominator=1000.0, expected=20.0, import_id=np.nan
    )
    frame["value"] = frame["numerator"] / frame["expected"]
    return frame


class FrameReader(ObservationReader):
    """Observations held in memory."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def available(self):
        return sorted(self.frame["indicator_id"].unique())

    def period_range(self, indicator_ids):
        return self.frame["period"].min().date(), self.frame["period"].max().date()

    def read(self, indicator_ids, period_from, period_to):
        frame = self.frame[self.frame["indicator_id"].isin(list(indicator_ids))]
        if period_from is not None:
            frame = frame[frame["period"] >= pd.Timestamp(period_from)]
        if period_to is not None:
            frame = frame[frame["period"] <= pd.Timestamp(period_to)]
        return frame.reset_index(drop=True)


def inputs_for(frame: pd.DataFrame, definition: dict) -> Inputs:
    codes = sorted(frame["org_code"].unique())
    organisations = pd.DataFrame({c: "x" for c in ORG_COLUMNS}, index=range(len(codes))).assign(code=codes)
    organisations["kind"] = organisations["peer_kind"] = "NHS trust"
    return Inputs(
        {"deaths": definition}, {"deaths": definition["title"]}, organisations, FrameReader(frame), "test"
    )


# -- the definition ---------------------------------------------------------------------------------------


def write_definition(tmp_path, extra: str) -> list:
    path = tmp_path / "ind.yaml"
    text = "schema_version: 1\nindicators:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in mortality().items())
    path.write_text(text + "\n" + extra)
    return [path]


def test_definition_reads_a_chart_and_a_cusum_alert(tmp_path):
    paths = write_definition(tmp_path, "    chart: up\n    cusum: {odds_ratio: 2, false_alarm_rate: 0.01}\n")
    definition = load_indicators(paths)["deaths"]
    assert definition.chart == "up"
    assert definition.cusum == CusumAlert(odds_ratio=2.0, false_alarm_rate=0.01, reset=True)
    spec = comparison_for("deaths", definition, SETTINGS)
    assert spec.chart == "up" and spec.cusum == definition.cusum
    # as stored in the database: the JSON dict
    stored = comparison_for(
        "deaths", mortality({"odds_ratio": 2.0, "false_alarm_rate": 0.01, "reset": True}), SETTINGS
    )
    assert stored.cusum == spec.cusum
    plain = load_indicators(write_definition(tmp_path, ""))["deaths"]
    assert plain.chart is None and plain.cusum is None
    assert comparison_for("deaths", plain, SETTINGS).chart == "xmr"


@pytest.mark.parametrize(
    ("extra", "field", "reason"),
    [
        ("    chart: g\n", "chart", "'g' is not one of: xmr, run, p, pp, u, up"),
        ("    chart: pp\n", "chart", "a pp chart is for proportions"),
        ("    cusum: 2\n", "cusum", "must be a mapping"),
        ("    cusum: {odds: 2}\n", "cusum.odds", "unknown setting"),
        ("    cusum: {odds_ratio: 1}\n", "cusum.odds_ratio", "must be a positive number other than 1"),
        ("    cusum: {odds_ratio: 0.5}\n", "cusum", "odds_ratio must look for the adverse change"),
        ("    cusum: {false_alarm_rate: 0}\n", "cusum.false_alarm_rate", "must be >= 0.001, got 0"),
        ("    cusum: {false_alarm_rate: 1}\n", "cusum.false_alarm_rate", "must be <= 0.999, got 1"),
        ("    cusum: {reset: 'yes'}\n", "cusum.reset", "must be true or false, got 'yes'"),
    ],
)
def test_bad_chart_or_cusum_is_named(tmp_path, extra, field, reason):
    with pytest.raises(InputError) as caught:
        load_indicators(write_definition(tmp_path, extra))
    assert any(p.field == field and reason in p.reason for p in caught.value.problems), caught.value


def test_cusum_needs_expected_counts(tmp_path):
    path = tmp_path / "ind.yaml"
    text = write_definition(tmp_path, "    cusum: {}\n")[0].read_text()
    path.write_text(text.replace("indirectly_standardised_ratio", "proportion"))
    with pytest.raises(InputError, match="needs expected counts"):
        load_indicators([path])


# -- the CUSUM step of a monitoring pass ------------------------------------------------------------------


def test_cusum_alert_makes_an_elevated_risk_flag_with_its_explanation():
    frame = monthly_deaths()
    alert = {"odds_ratio": 2.0, "false_alarm_rate": 0.05, "reset": True}
    with_alert = compute_pass(inputs_for(frame, mortality(alert)), SETTINGS)
    without = compute_pass(inputs_for(frame, mortality()), SETTINGS)
    flags = with_alert.flags.set_index("org_code")
    assert without.flags.set_index("org_code").loc["T00", "flag"] == "no evidence of risk"
    assert flags.loc["T00", "flag"] == "elevated risk" and flags.loc["T00", "flag_code"] == 2
    changed = with_alert.flags["reason"].astype(str) != without.flags["reason"].astype(str)
    assert with_alert.flags.loc[changed, "org_code"].tolist() == ["T00"]  # only the trust with excess deaths
    # the explanation's figures are the kernel's, on the trust's own months with its own threshold
    t00 = frame[frame["org_code"] == "T00"]
    codes = np.zeros(len(t00), dtype=np.int64)
    h = count_cusum_threshold(t00["expected"], codes, false_alarm_rate=0.05)
    chart = count_cusum(t00["numerator"], t00["expected"], codes, threshold=h)
    signal = int(np.flatnonzero(chart.signal)[-1])
    assert signal >= 21  # in the latest three months
    expected_text = (
        f"CUSUM alert at {MONTHS[signal]:%Y-%m}: {chart.observed[signal]:,.0f} observed where "
        f"{chart.expected[signal]:,.1f} were expected"
    )
    assert flags.loc["T00", "reason"].startswith(expected_text)
    assert (
        f"statistic {chart.statistic[signal]:.2f} reached the threshold {h[0]:.2f}"
        in flags.loc["T00", "reason"]
    )
    assert "false-alarm rate 0.05 over 24 periods, rate x2" in flags.loc["T00", "reason"]
    # the flag counts in the trust's risk score, and the results digest records the alert
    scores = with_alert.organisations.set_index("org_code")
    assert scores.loc["T00", "score"] > without.organisations.set_index("org_code").loc["T00", "score"]
    assert with_alert.results_digest != without.results_digest


def test_no_alert_without_excess_and_nothing_changes_without_the_field():
    frame = monthly_deaths(excess_org=None)
    alert = compute_pass(inputs_for(frame, mortality({"false_alarm_rate": 0.01})), SETTINGS)
    plain = compute_pass(inputs_for(frame, mortality()), SETTINGS)
    figures = indicator_cusum(frame, CusumAlert(false_alarm_rate=0.01), SETTINGS.spc_latest_points)
    assert not figures["alert"].any() and (figures["periods"] == 24).all()
    pd.testing.assert_frame_equal(
        alert.flags[["org_code", "flag_code"]], plain.flags[["org_code", "flag_code"]]
    )


def test_periods_without_expected_counts_are_left_out():
    frame = monthly_deaths()
    frame.loc[(frame["org_code"] == "T01") & (frame["period"] < MONTHS[6]), "expected"] = np.nan
    figures = indicator_cusum(frame, CusumAlert(), SETTINGS.spc_latest_points).set_index("org_code")
    assert figures.loc["T01", "periods"] == 18 and figures.loc["T02", "periods"] == 24
    assert figures.loc["T00", "alert"] and math.isfinite(figures.loc["T00", "threshold"])


# -- charts other than XmR in the SPC step ----------------------------------------------------------------


def test_declared_chart_is_drawn_by_the_spc_step():
    frame = monthly_deaths().assign(peer_group="all")
    xmr = assess(frame, {"deaths": comparison_for("deaths", mortality(), SETTINGS)}, SETTINGS)
    up = assess(frame, {"deaths": comparison_for("deaths", mortality(chart="up"), SETTINGS)}, SETTINGS)
    run = assess(frame, {"deaths": comparison_for("deaths", mortality(chart="run"), SETTINGS)}, SETTINGS)
    t00 = frame[frame["org_code"] == "T00"]
    # the u′ chart of O over E: centre ΣO/ΣE over the trust's months
    row = up.set_index("org_code").loc["T00"]
    assert row["spc_mean"] == pytest.approx(t00["numerator"].sum() / t00["expected"].sum(), rel=1e-12)
    assert row["spc_alert"] and row["spc_rule"] in ("astronomical", "two_in_three", "shift", "trend")
    # the run chart: the median of the trust's relative z; the four months high are a run of 4, too short
    assert (
        run.set_index("org_code").loc["T00", "spc_lower"] != run.set_index("org_code").loc["T00", "spc_lower"]
    )
    assert xmr.set_index("org_code").loc["T00", "spc_alert"]
    for other in (xmr, up, run):
        assert other["spc_points"].tolist() == [24] * 12
