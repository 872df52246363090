"""`carelens monitor` on the packaged real data (NHS England A&E, HSCIC SHMI) loaded into a fresh store,
on SQLite and PostgreSQL: the flags equal the statistics engine's own funnel outputs and the published
SHMI bandings, re-running is byte-identical, and runs can be diffed and profiled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from carelens.cli import app
from carelens.ingest.service import ingest
from carelens.monitor.service import diff_runs, profile, read_run, run_monitor
from carelens.stats.funnel import funnel

# A&E type 1 four-hour breach proportion, March 2019 (the latest month), funnel among the 134 NHS trusts
# with a type 1 department: after overdispersion (phi about 490, tau2 0.0121) these three trusts lie
# beyond z_adjusted 1.96 on the adverse (high-breach) side; none beyond 3.0.
AE_RISK = {"RAS": 2.0863, "RHU": 2.0328, "RXN": 2.9583}
# SHMI, October 2012 release: the ten trusts NHS Digital (HSCIC) published as "higher than expected"
# (band 1 of the 95% overdispersed limits). RXL (SHMI 1.2475) is also beyond 3.0: elevated risk.
SHMI_HIGHER = {"RDE", "REM", "RJL", "RLQ", "RLT", "RMP", "RPA", "RWH", "RXL", "RXR"}


@pytest.fixture
def demo_engine(engine, data_dir):
    ingest(engine, "ae", [data_dir / "nhsrdatasets" / "ae_attendances.csv"], user="test")
    ingest(engine, "shmi", sorted((data_dir / "shmi" / "archive_raw").glob("shmi-*.csv")), user="test")
    return engine


def test_monitor_flags_match_the_statistics_engine_and_published_bands(demo_engine, data_dir):
    summary = run_monitor(demo_engine, user="test", special_measures=["RXL"], recently_inspected=["RAS"])
    assert summary.run_id == 1 and summary.previous_run_id is None
    flags = read_run(demo_engine)["flags"]

    ae = flags[flags["indicator_id"] == "ae_4hr_breach_type1"]
    assert set(ae.loc[ae["flag_code"] > 0, "org_code"]) == set(AE_RISK)
    assert set(ae.loc[ae["flag_code"] == 2, "org_code"]) == set()
    for code, z in AE_RISK.items():
        assert ae.set_index("org_code").loc[code, "z_adjusted"] == pytest.approx(z, abs=1e-4)
    # The same funnel straight from carelens.stats.funnel on the source file.
    raw = pd.read_csv(data_dir / "nhsrdatasets" / "ae_attendances.csv", dtype={"type": str})
    latest = raw[(raw["type"] == "1") & (raw["period"] == "2019-03-01")].sort_values("org_code")
    reference = funnel(latest["breaches"], latest["attendances"], kind="pr", trim=0.1)
    mine = ae.set_index("org_code").loc[latest["org_code"]]
    np.testing.assert_allclose(mine["z_adjusted"], reference.z_adjusted, rtol=1e-12)
    np.testing.assert_allclose(mine["tau2"], reference.tau2[0], rtol=1e-12)
    assert set(latest["org_code"][reference.z_adjusted > 1.96]) == set(AE_RISK)
    assert (mine["period"].astype(str) == "2019-03-01").all()
    assert mine["od_adjusted"].all() and (mine["peer_units"] == 134).all()

    shmi = flags[flags["indicator_id"] == "shmi"].set_index("org_code")
    assert set(shmi.index[shmi["flag_code"] > 0]) == SHMI_HIGHER
    assert set(shmi.index[shmi["flag_code"] == 2]) == {"RXL"}
    assert shmi.loc["RXL", "value"] == pytest.approx(1.2475, abs=1e-4)
    assert (shmi.loc[list(SHMI_HIGHER), "z_adjusted"] > 1.96).all()
    # Trusts absent from the latest release are "insufficient data", never flagged.
    assert set(shmi.loc[shmi["reason"] == "no observation for the latest period", "flag"]) == {
        "insufficient data"
    }
    # Every flag carries its explanation: limits, phi/tau2, method, source import.
    rxl = shmi.loc["RXL"]
    assert rxl["value"] > rxl["risk_upper"] and rxl["value"] > rxl["elevated_upper"]
    assert rxl["tau2"] > 0 and rxl["phi"] > 1 and "rank trim" in rxl["method"] and rxl["import_id"] > 0

    orgs = read_run(demo_engine)["organisations"].set_index("org_code")
    assert orgs.loc["RXL", "band"] == 1 and orgs.loc["RXL", "status"] == "special measures"
    assert pd.isna(orgs.loc["RAS", "band"]) and orgs.loc["RAS", "status"] == "recently inspected"
    # RXN: risk on A&E type 1 (1 point) of its applicable indicators.
    rxn = orgs.loc["RXN"]
    assert rxn["score"] == pytest.approx((rxn["risks"] + 2 * rxn["elevated"]) / (2 * rxn["applicable"]))


def test_rerun_is_byte_identical_and_diffs_against_the_last(demo_engine):
    first = run_monitor(demo_engine, user="test")
    second = run_monitor(demo_engine, user="test")
    third = run_monitor(demo_engine, user="test")
    assert first.results_digest == second.results_digest == third.results_digest
    b, c = read_run(demo_engine, second.run_id), read_run(demo_engine, third.run_id)
    for name in b:
        left = b[name].drop(columns="run_id").to_csv(index=False).encode()
        right = c[name].drop(columns="run_id").to_csv(index=False).encode()
        assert left == right, name
    assert diff_runs(demo_engine).empty
    assert set(c["organisations"]["change"]) == {"same"}

    # A run over an earlier window differs, and the diff names what changed.
    import datetime as dt

    fourth = run_monitor(demo_engine, user="test", period_to=dt.date(2018, 12, 1))
    diff = diff_runs(demo_engine, fourth.run_id)
    assert diff.against == third.run_id and not diff.flags.empty
    assert fourth.changed_flags == len(diff.flags.dropna())


def test_profile_cli_and_data(demo_engine, monkeypatch):
    url = demo_engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    result = runner.invoke(app, ["monitor", "--db", url, "--to", "2019-03"])
    assert result.exit_code == 0, result.output
    assert "monitoring run 1" in result.output
    data = profile(demo_engine, "RXL")
    shmi = next(i for i in data["indicators"] if i["indicator_id"] == "shmi")
    assert shmi["flag"] == "elevated risk" and shmi["benchmark"] == "worse"
    assert shmi["key_question"] == "effective" and len(shmi["trend"]) == 5
    # SHMI (October 2012) is more than 24 months older than the trusts' A&E data (March 2019): out of
    # date, so its elevated risk is shown but not scored.
    assert shmi["out_of_date"] is True
    assert data["organisation"]["elevated"] == 0 and data["organisation"]["out_of_date"] == 1
    shown = runner.invoke(app, ["profile", "RXL", "--db", url])
    assert shown.exit_code == 0, shown.output
    assert "elevated" in shown.output
    missing = runner.invoke(app, ["profile", "NOPE", "--db", url])
    assert missing.exit_code == 2
    bad = runner.invoke(app, ["monitor", "--db", url, "--from", "March"])
    assert bad.exit_code == 2


def test_a_funnel_is_thinned_by_the_database_keeping_the_outliers(demo_engine):
    """The points a funnel plot draws are chosen in SQL (window functions on SQLite and PostgreSQL):
    every organisation outside the limits (up to half the points), an even spread of the rest, and the
    smallest and largest always."""
    from carelens.model.access import Actor, Role
    from carelens.services.judgements import funnel_points

    run_monitor(demo_engine, user="test")
    analyst = Actor(user_name="a", role=Role.ANALYST)
    args = (demo_engine, analyst, 1, "ae_4hr_breach_type1", "2019-03-01", "nhs_trust")
    every = pd.DataFrame(funnel_points(*args))
    assert len(every) == 134
    few = pd.DataFrame(funnel_points(*args, most=40))
    outside = every[every["direction"] != "within"]
    assert 0 < len(outside) <= 20 and set(outside["org_code"]) <= set(few["org_code"])
    assert len(few) <= 40 + 2
    inside = every[every["direction"] == "within"]
    assert {inside["denominator"].min(), inside["denominator"].max()} <= set(few["denominator"])
    pd.testing.assert_frame_equal(
        few.reset_index(drop=True), every[every["org_code"].isin(few["org_code"])].reset_index(drop=True)
    )
