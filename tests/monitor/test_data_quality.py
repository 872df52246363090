"""Data-quality checks before judgement, and mergers, on the real packaged data: NHS England's 84 monthly
A&E files (April 2019 - March 2026) and the ODS trusts and successions, loaded into a store and monitored
with every period judged (docs/methods/data-quality.md, docs/methods/mergers.md).

During NHS England's field test of new urgent and emergency care standards (May 2019 - May 2023) some
trusts stopped reporting 4-hour breaches but kept reporting attendances: their files show 0 breaches
against thousands of type 1 attendances. Those figures are missing data, not 100% performance."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from carelens.app import create_app
from carelens.demo.store import DATA_DIR
from carelens.ingest.service import files_to_import, ingest
from carelens.model.data_quality import IMPLAUSIBLE_ZERO, implausible_zero, load_rules, missing_months
from carelens.monitor.service import read_run, run_monitor
from carelens.monitor.settings import load_settings
from carelens.services.reach import Reach
from carelens.services.series import organisation_series, quality_by_indicator, quality_notes
from carelens.store.engine import create_engine
from carelens.store.migrate import upgrade
from carelens.store.schema_monitor import monitor_judgement

TYPE1 = "ae_4hr_breach_type1"
FIELD_TEST = (dt.date(2019, 5, 1), dt.date(2023, 5, 1))
ODS = DATA_DIR / "nhs_ods"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The packaged ODS trusts and successions and every packaged A&E month in a SQLite store, and one
    complete monitoring run judging every period."""
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('quality') / 'store.db'}")
    upgrade(engine)
    ingest(engine, "ods-etr", [ODS / "etr.csv", ODS / "2026-07" / "etr.csv"], user="test")
    ingest(engine, "ods-succ", [ODS / "2026-05" / "succ.csv"], user="test")
    files, _ = files_to_import("ae-monthly", [DATA_DIR / "ae_monthly" / "csv"])
    assert len(files) == 84
    ingest(engine, "ae-monthly", files, user="test")
    run_monitor(engine, settings=dataclasses.replace(load_settings(), history_periods=None), user="test")
    yield engine
    engine.dispose()


def _stored(engine, table, **where) -> pd.DataFrame:
    with engine.connect() as c:
        query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
        return pd.DataFrame(c.execute(query).mappings().all())


def _observations(engine, indicator_id: str) -> pd.DataFrame:
    from carelens.store import schema

    obs = _stored(engine, schema.observation, indicator_id=indicator_id)
    return obs[obs["superseded_by"].isna()]


def test_the_field_test_trusts_are_not_assessed_in_every_month_of_the_field_test(store):
    rules = load_rules()
    obs = _observations(store, TYPE1)
    # Derived from the data: type 1 rows with no 4-hour breach against more attendances than the rule allows.
    bad = obs[implausible_zero(obs["numerator"], obs["denominator"], rules.implausible_zero[TYPE1])]
    per_month = bad.groupby("period")["org_code"].nunique()
    months = pd.date_range("2019-05-01", "2023-05-01", freq="MS").date
    assert list(per_month.index) == list(months)  # every month of the field test, and no other
    assert (per_month == 14).all()

    judged = _stored(store, monitor_judgement, indicator_id=TYPE1)
    key = ["org_code", "period"]
    failed = bad[key].merge(judged, on=key, how="left")
    assert len(failed) == len(bad) and (failed["verdict"] == "not assessed").all()
    assert (failed["reason"] == IMPLAUSIBLE_ZERO.reason).all()
    assert failed["value"].isna().all() and failed["lower"].isna().all()  # no value, no limits
    # Nothing else is "not assessed": the check names exactly these figures.
    assert (judged["verdict"] == "not assessed").sum() == len(bad)
    # Outside the field test, the same trusts are judged against their peers wherever their data is plausible.
    trusts = set(bad["org_code"])
    theirs = judged[judged["org_code"].isin(trusts) & (judged["period"] > FIELD_TEST[1])]
    assert len(theirs) > 0 and theirs["verdict"].isin(["as expected", "worse", "better"]).all()
    # The excluded figures are nobody's peers: each funnel counts only the assessed organisations.
    may = judged[judged["period"] == dt.date(2019, 5, 1)]
    compared = may[may["direction"] != ""]
    assert (compared["peers"] == len(compared)).all()
    assert not set(compared["org_code"]) & trusts


def test_a_not_assessed_latest_figure_is_never_a_good_flag(store):
    """A pass over February 2020 (a field-test month) as the latest: the 14 trusts' flags are "not
    assessed", not "no evidence of risk", and do not count in their risk scores."""
    settings = load_settings()
    summary = run_monitor(store, period_to=dt.date(2020, 2, 1), settings=settings, user="test")
    flags = read_run(store, summary.run_id)["flags"]
    type1 = flags[flags["indicator_id"] == TYPE1].set_index("org_code")
    not_assessed = type1[type1["flag"] == "not assessed"]
    assert len(not_assessed) == 14 and (not_assessed["flag_code"] == -3).all()
    assert (not_assessed["reason"] == IMPLAUSIBLE_ZERO.reason).all()
    assert not_assessed["benchmark"].eq("not compared").all() and not_assessed["value"].isna().all()
    assert not not_assessed["spc_alert"].any()


def test_the_reason_shows_on_the_trusts_pages_and_their_charts_mark_the_months(store):
    obs = _observations(store, TYPE1)
    bad = obs[implausible_zero(obs["numerator"], obs["denominator"], 1000)]
    with TestClient(create_app(store)) as client:
        for code in sorted(set(bad["org_code"]) - {"RD3"}):  # RD3's figures continue under R0D
            page = client.get(f"/organisations/{code}")
            assert page.status_code == 200
            text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))
            assert (
                "Data quality: implausible zero May 2019 to May 2023 (49 months): " + IMPLAUSIBLE_ZERO.reason
            ) in text, code
            # The chart's latest 36 months start in April 2023: April and May 2023 are marked, not drawn.
            assert page.text.count('class="carelens-not-assessed"') == 2, code
            assert "2 months not assessed (failed a data-quality check)" in text


def test_rap_continues_as_ral_from_january_2025(store):
    """North Middlesex (RAP) merged into the Royal Free (RAL) in January 2025; from then NHS England
    reports its activity under RAL. RAL's series before the merger is RAL's and RAP's counts added."""
    obs = _observations(store, TYPE1)
    rap, ral = (obs[obs["org_code"] == c].set_index("period") for c in ("RAP", "RAL"))
    assert rap.index.max() == dt.date(2024, 12, 1)  # the publisher stops reporting RAP
    with store.connect() as c:
        series = organisation_series(c, Reach(everything=True), "RAL", "hospitals", TYPE1, ratio=False)
    [join] = series["joins"]
    assert (join.predecessor, join.successor, join.date) == ("RAP", "RAL", dt.date(2025, 1, 1))
    assert join.label == "RAP merged into RAL, January 2025"
    rows = series["rows"].set_index("period")
    before = rows.loc[rows.index < join.date]
    both = rap.index.intersection(ral.index)
    np.testing.assert_array_equal(
        before.loc[both, "denominator"], ral.loc[both, "denominator"] + rap.loc[both, "denominator"]
    )
    np.testing.assert_allclose(
        before.loc[both, "value"],
        (ral.loc[both, "numerator"] + rap.loc[both, "numerator"])
        / (ral.loc[both, "denominator"] + rap.loc[both, "denominator"]),
        rtol=1e-12,
    )
    assert set(before["organisations"]) == {"RAL+RAP"}
    after = rows.loc[rows.index >= join.date]
    np.testing.assert_array_equal(after["denominator"], ral.loc[after.index, "denominator"])
    assert set(after["organisations"]) == {"RAL"}

    with TestClient(create_app(store)) as client:
        page = client.get("/organisations/RAL")
        assert page.status_code == 200
        assert 'class="carelens-join"' in page.text and "RAP merged into RAL, January 2025" in page.text
        predecessor = client.get("/organisations/RAP")
        assert predecessor.status_code == 200
        assert 'href="/organisations/RAL"' in predecessor.text
        assert "was succeeded by" in predecessor.text and "from January 2025" in predecessor.text


def test_a_merger_inherits_its_predecessors_failed_checks(store):
    """Poole (RD3), a field-test trust, merged into University Hospitals Dorset (R0D) in October 2020:
    R0D's continued series is not assessed in every field-test month, before and after the merger."""
    with store.connect() as c:
        series = organisation_series(c, Reach(everything=True), "R0D", "hospitals", TYPE1, ratio=False)
    rows = series["rows"].set_index("period")
    field_test = rows.loc[FIELD_TEST[0] : FIELD_TEST[1]]
    assert len(field_test) == 49 and (field_test["not_assessed"] == IMPLAUSIBLE_ZERO.reason).all()
    assert field_test["value"].isna().all()
    assert (rows.loc[rows.index > FIELD_TEST[1], "not_assessed"] == "").all()


def test_gaps_are_the_missing_months_between_the_first_and_last():
    months = [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 5, 1)]
    assert missing_months(months) == [dt.date(2024, 3, 1), dt.date(2024, 4, 1)]
    assert missing_months(months[:2]) == []


def test_data_without_implausible_zeros_gives_the_same_results_as_without_the_checks(engine, data_dir):
    """Regression: on the demo A&E (to March 2019) and SHMI data no figure fails a check, so the run's
    results digest is the one a pass without them gives (measured before the checks existed, the
    packaged settings gave the same digest, e1a49527...)."""
    from carelens.model.data_quality import DataQualityRules

    ingest(engine, "ae", [data_dir / "nhsrdatasets" / "ae_attendances.csv"], user="test")
    ingest(engine, "shmi", sorted((data_dir / "shmi" / "archive_raw").glob("shmi-*.csv")), user="test")
    checked = run_monitor(engine, user="test")
    unchecked = run_monitor(
        engine, settings=dataclasses.replace(load_settings(), data_quality=DataQualityRules({})), user="test"
    )
    assert checked.results_digest == unchecked.results_digest


def test_the_import_names_the_organisations_whose_figures_fail_a_check(engine):
    may_2019 = DATA_DIR / "ae_monthly" / "csv" / "2019-20" / "Monthly-AE-May-2019-revised-220720-de345.csv"
    [result] = ingest(engine, "ae-monthly", [may_2019], user="test")
    assert result.status == "loaded" and len(result.not_assessed) == 14
    assert "RD3" in result.not_assessed and "R0D" not in result.not_assessed  # Poole, before its merger
    [later] = ingest(
        engine, "ae-monthly", [DATA_DIR / "ae_monthly" / "csv" / "2025-26" / "2025-04.csv"], user="t"
    )
    assert later.not_assessed == ()


def test_a_profile_checks_every_indicator_at_once_as_one_by_one(store):
    """An organisation's profile reads what the checks found in all its indicators' series at once
    (:func:`quality_by_indicator`, one query): the same notes and joins as :func:`organisation_series`
    indicator by indicator, for the merged trusts (RAL, R0D), their predecessors, the field-test trusts
    and others."""
    from carelens.store import schema

    obs = _stored(store, schema.observation)
    bad = obs[obs["indicator_id"].eq(TYPE1) & implausible_zero(obs["numerator"], obs["denominator"], 1000)]
    codes = {"RAL", "RAP", "R0D", "RD3"} | set(bad["org_code"]) | set(sorted(set(obs["org_code"]))[:15])
    joined = set()
    with store.connect() as c:
        for code in sorted(codes):
            indicators = sorted(set(obs.loc[obs["org_code"] == code, "indicator_id"]))
            at_once = quality_by_indicator(c, code, indicators)
            for indicator_id in indicators:
                series = organisation_series(
                    c, Reach(everything=True), code, "hospitals", indicator_id, False
                )
                assert at_once[indicator_id] == (quality_notes(series), series["joins"]), (code, indicator_id)
                joined |= {j.label for j in series["joins"]}
    assert "RAP merged into RAL, January 2025" in joined  # the joins were compared, not only empty lists
