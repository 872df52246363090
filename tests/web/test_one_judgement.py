"""One judgement per figure (issue 14): every page, table, API answer and report says what the monitoring
run found, over the whole demo store and over a synthetic store of thousands of organisations; the
official SHMI banding is the public verdict; and each of the issue's reproductions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from carelens.ingest.sources.shmi import month_from_name
from carelens.model.access import Actor, Role
from carelens.monitor.service import run_monitor
from carelens.services import monitoring as monitoring_service
from carelens.store import schema
from carelens.store.schema_monitor import monitor_judgement
from tests.web.conftest import sign_in
from tests.web.judgement_views import (
    disagreements,
    from_api_profile,
    from_flags,
    from_league_api,
    from_league_page,
    from_page,
)

ANALYST = Actor(user_name="analyst", role=Role.ANALYST)


def _codes_with_figures(engine) -> list[str]:
    obs = schema.observation
    with engine.connect() as c:
        return list(
            c.execute(
                sa.select(obs.c.org_code)
                .where(obs.c.superseded_by.is_(None))
                .distinct()
                .order_by(obs.c.org_code)
            ).scalars()
        )


def _rankable(client) -> list[str]:
    return [i["id"] for i in client.get("/api/v1/indicators").json() if i["polarity"] != "neutral"]


def _every_flag(engine) -> list[dict]:
    rows, page = [], 1
    while True:
        got = monitoring_service.flags(engine, ANALYST, page=page, page_size=1000)
        rows += got.items
        if page >= got.pages:
            return rows
        page += 1


def collect(
    client, engine, analyst_headers: dict, codes: list[str], pages_for: list[str]
) -> tuple[dict, dict]:
    """(reference, views): the verdict of every organisation x indicator as the API profile gives it to an
    analyst, and as every other place shows it."""
    reference, public_api = {}, {}
    for code in codes:
        reference |= from_api_profile(client, code, analyst_headers)
        public_api |= from_api_profile(client, code)
    public_page, report = {}, {}
    for code in pages_for:
        public_page |= from_page(client.get(f"/organisations/{code}").text, code)
        report |= from_page(client.get(f"/organisations/{code}/report").text, code)
    league_public, league_analyst, league_page = {}, {}, {}
    periods = _latest_periods({(ind, seen.period) for (_, ind), seen in reference.items() if seen.period})
    rankable = set(_rankable(client))
    for indicator_id, period in sorted(periods):
        if indicator_id in rankable:
            league_public |= from_league_api(client, indicator_id, period)
            league_analyst |= from_league_api(client, indicator_id, period, analyst_headers)
    for indicator_id in sorted(rankable):
        league_page |= from_league_page(client, indicator_id)
    views = {
        "public API profile": public_api,
        "public page": public_page,
        "printable report": report,
        "league table (public API)": league_public,
        "league table (analyst API)": league_analyst,
        "league table page": league_page,
        "monitoring flags": from_flags(_every_flag(engine)),
    }
    return reference, views


LEAGUE_PERIODS = 6
"""League tables checked per indicator: its latest judged periods (every period is checked at scale on the
synthetic store)."""
DEMO_SAMPLE = 5
"""Every n-th organisation with figures in the demo store, besides every one the run flagged or did not
assess: each view, every flag and every reason, without a request per page for each of 700 sites."""


def _latest_periods(periods: set[tuple[str, str]]) -> set[tuple[str, str]]:
    by_indicator: dict[str, list[str]] = {}
    for indicator_id, period in periods:
        by_indicator.setdefault(indicator_id, []).append(period)
    return {(i, p) for i, ps in by_indicator.items() for p in sorted(ps)[-LEAGUE_PERIODS:]}


def _demo_sample(engine) -> list[str]:
    codes = _codes_with_figures(engine)
    notable = {
        r["org_code"]
        for r in _every_flag(engine)
        if r["flag"] not in ("no evidence of risk", "not scored", "insufficient data")
    }
    return sorted(set(codes[::DEMO_SAMPLE]) | (notable & set(codes)))


def _signed_in_pages(client, account, codes) -> dict:
    sign_in(client, account)
    seen = {}
    for code in codes:
        seen |= from_page(client.get(f"/organisations/{code}").text, code)
    client.post("/logout")
    return seen


@pytest.fixture(scope="module")
def demo_views(app, web_engine, accounts):
    with TestClient(app) as client:
        analyst = accounts["analyst"]
        token = client.post(
            "/api/v1/auth/token", json={"user_name": analyst.user_name, "password": analyst.password}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        codes = _demo_sample(web_engine)
        reference, views = collect(client, web_engine, headers, codes, codes)
        views["signed-in page (analyst)"] = _signed_in_pages(client, analyst, codes)
        provider = accounts["provider"]
        views["signed-in page (provider)"] = _signed_in_pages(client, provider, provider.organisations)
    sampled = set(codes)  # the league tables and flags list every organisation: compare the sampled ones
    return reference, {
        name: {k: v for k, v in view.items() if k[0] in sampled} for name, view in views.items()
    }


def test_every_page_table_answer_and_report_gives_the_runs_verdict(demo_views):
    reference, views = demo_views
    assert len(reference) > 1000, "the whole demo store is walked"
    compared = [s for s in reference.values() if s.verdict not in ("not compared",)]
    assert {s.verdict for s in compared} >= {"worse", "better", "as expected", "higher", "lower"}
    for name, view in views.items():
        assert len(view) > (0 if "provider" in name else 100), f"{name} was read"
    assert disagreements(reference, views) == []
    # the public sees small figures suppressed, never another verdict
    assert any(s.verdict == "suppressed" for s in views["public API profile"].values())
    assert not any(s.verdict == "suppressed" for s in reference.values())


def test_the_check_fails_when_one_path_says_something_else(demo_views):
    """Change what one place shows (the league table's limits, one page's verdict): the check names it."""
    reference, views = demo_views
    key, seen = next((k, s) for k, s in views["league table (public API)"].items() if s.verdict == "worse")
    moved = dict(views["league table (public API)"])
    moved[key] = type(seen)(seen.verdict, seen.lower, seen.upper * 1.01, seen.peers, seen.period, seen.run)
    problems = disagreements(reference, views | {"league table (public API)": moved})
    assert problems == [
        f"league table (public API): {key} shows {moved[key]} where the run stored {reference[key]}"
    ]
    page = dict(views["public page"])
    key = next(k for k, s in page.items() if s.verdict == "as expected")
    page[key] = type(page[key])("worse", *list(page[key].__dict__.values())[1:])
    assert len(disagreements(reference, views | {"public page": page})) == 1


def test_a_recomputing_page_would_be_caught(app, web_engine, accounts, monkeypatch):
    """A page that worked out its own verdict (here: the organisation service at the 99.8% level, as the
    old page did) disagrees with the league tables and the flags, and the check says where."""
    import carelens.services.organisations as organisations

    original = organisations._indicator

    def recomputed(latest, judged):
        item = original(latest, judged)
        c = item["comparison"]
        if (
            c.get("verdict") == "worse"
            and c.get("elevated_upper") is not None
            and item["value"] < c["elevated_upper"]
        ):
            item["comparison"] = c | {"verdict": "as expected", "upper": c["elevated_upper"]}
        return item

    monkeypatch.setattr(organisations, "_indicator", recomputed)
    with TestClient(app) as client:
        reference = {}
        for code in ("REM", "RPA", "RXR"):
            reference[(code, "shmi")] = from_api_profile(client, code)[(code, "shmi")]
        league = from_league_api(client, "shmi")
    problems = disagreements(reference, {"league table (public API)": {k: league[k] for k in reference}})
    assert {p.split(":")[0] for p in problems} == {"league table (public API)"}
    assert len(problems) == 3


# --- a synthetic store of thousands of organisations --------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_app(tmp_path_factory):
    from carelens.app import create_app
    from carelens.services.auth import NewUser, create_users, password_hasher
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema
    from carelens.store.testing import seed_synthetic

    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('synthetic') / 'store.db'}")
    ensure_schema(engine)
    codes, _ = seed_synthetic(engine, orgs=3000, indicators=3, months=12, seed=14)
    with engine.begin() as c:
        create_users(
            c,
            [NewUser("analyst", Role.ANALYST, "analyst-pw")],
            by="test",
            hasher=password_hasher(memory_kib=1024, time_cost=1),
        )
    run_monitor(engine, user="test")
    yield create_app(engine), engine, codes
    engine.dispose()


def test_a_synthetic_store_of_thousands_of_organisations_agrees_everywhere(synthetic_app):
    app, engine, codes = synthetic_app
    with TestClient(app) as client:
        token = client.post("/api/v1/auth/token", json={"user_name": "analyst", "password": "analyst-pw"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        pages_for = codes[:: max(1, len(codes) // 120)]  # pages for a spread of organisations
        reference, views = collect(client, engine, headers, codes, pages_for)
    assert len(reference) >= 3000 * 3 * 0.9
    assert sum(s.verdict == "worse" for s in reference.values()) > 50
    assert disagreements(reference, views) == []


# --- the official SHMI banding is the public verdict ------------------------------------------------


def test_the_public_shmi_verdict_is_the_official_banding_in_every_release(client, data_dir):
    """Through the public API (league table of each release) and the public page (latest release)."""
    files = sorted((data_dir / "shmi" / "archive_raw").glob("shmi-*.csv"))
    verdict = {1: "worse", 2: "as expected", 3: "better"}
    checked = 0
    for path in files:
        official = pd.read_csv(path).set_index("PROVIDER")["OD_BANDING"]
        period = month_from_name(Path(path)).isoformat()
        shown = from_league_api(client, "shmi", period)
        for code, band in official.items():
            assert shown[(code, "shmi")].verdict == verdict[band], (path.name, code)
            checked += 1
    assert checked == 726
    latest = pd.read_csv(max(files, key=month_from_name)).set_index("PROVIDER")["OD_BANDING"]
    assert len(latest) == 142
    for code, band in latest.items():
        page = from_page(client.get(f"/organisations/{code}").text, code)
        assert page[(code, "shmi")].verdict == verdict[band], code


# --- the reproductions --------------------------------------------------------------------


@pytest.mark.parametrize("code", ["REM", "RPA", "RXR"])
def test_rem_rpa_and_rxr_are_worse_than_expected_on_shmi_as_officially_banded(client, code):
    """Before: their public SHMI verdict said "within the range expected" (the page redrew the funnel at
    99.8%); NHS Digital's banding of the October 2012 release is 1, higher than expected."""
    api = from_api_profile(client, code)[(code, "shmi")]
    assert api.verdict == "worse" and api.period == "2012-10-01"
    page = client.get(f"/organisations/{code}").text
    assert from_page(page, code)[(code, "shmi")].verdict == "worse"
    assert "worse than expected compared with similar organisations" in page


def test_pl004_dtoc_nhs_page_says_what_the_run_flagged(client, web_engine):
    """Before: PL004 was flagged "risk" on dtoc_nhs while its chart said "within the range expected"."""
    flags = {(r["org_code"], r["indicator_id"]): r for r in _every_flag(web_engine)}
    assert flags[("PL004", "dtoc_nhs")]["flag"] in ("risk", "elevated risk")
    page = from_page(client.get("/organisations/PL004").text, "PL004")[("PL004", "dtoc_nhs")]
    assert page.verdict == "worse"
    assert (page.lower, page.upper) == (
        flags[("PL004", "dtoc_nhs")]["risk_lower"],
        flags[("PL004", "dtoc_nhs")]["risk_upper"],
    )


def test_other_ae_is_judged_on_the_runs_peers_on_every_page(client, web_engine):
    """Before: RXN other-A&E (2016-19 data) was "risk" at z 1.986 on 124 peers in the run, "within" on 91
    peers on the public page (the page compared only the organisations whose figures are published).
    Now, for the trust the run finds furthest out on other-A&E 4-hour waits, the API and its page give the
    run's verdict on the run's peers, sites included."""
    flags = [
        r
        for r in _every_flag(web_engine)
        if r["indicator_id"] == "ae_4hr_breach_other" and r["flag"] == "risk" and len(r["org_code"]) == 3
    ]
    flag = max(flags, key=lambda r: abs(r["z_adjusted"]))
    code = flag["org_code"]
    verdict = "worse" if flag["z_adjusted"] > 0 else "better"
    public = from_api_profile(client, code)[(code, "ae_4hr_breach_other")]
    assert (public.verdict, public.peers) == (verdict, flag["peer_units"])
    page = from_page(client.get(f"/organisations/{code}").text, code)[(code, "ae_4hr_breach_other")]
    assert (page.verdict, page.peers) == (verdict, flag["peer_units"])


def test_shmi_from_2012_beside_ae_from_2019_says_it_is_out_of_date(client):
    body = client.get("/api/v1/organisations/RK9").json()
    by_id = {i["indicator_id"]: i["comparison"] for i in body["indicators"]}
    assert by_id["shmi"]["out_of_date"] is True and by_id["shmi"]["period"] == "2012-10-01"
    assert by_id["ae_4hr_breach_type1"]["out_of_date"] is False
    page = client.get("/organisations/RK9").text
    assert "out of date" in page


def test_a_partial_run_never_becomes_the_default(tmp_path, data_dir):
    """Before: whatever run was stored last became the default everywhere, even `monitor --to 2018-12`."""
    from carelens.app import create_app
    from carelens.ingest.service import ingest
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    ensure_schema(engine)
    ingest(engine, "ae", [data_dir / "nhsrdatasets" / "ae_attendances.csv"], user="test")
    complete = run_monitor(engine, user="test")
    partial = run_monitor(engine, user="test", period_to=dt.date(2018, 12, 1))
    assert (complete.scope, partial.scope) == ("complete", "partial") and partial.run_id > complete.run_id
    with TestClient(create_app(engine)) as client:
        body = client.get("/api/v1/organisations/RXN").json()
        assert body["monitoring_run"]["id"] == complete.run_id
        assert {i["comparison"]["run_id"] for i in body["indicators"]} == {complete.run_id}
        league = client.get("/api/v1/league-tables/ae_4hr_breach_type1").json()
        assert league["items"][0]["comparison"]["run_id"] == complete.run_id
        asked = client.get(f"/api/v1/league-tables/ae_4hr_breach_type1?run={partial.run_id}").json()
        assert asked["items"][0]["comparison"] | {} and asked["items"][0]["period"] == "2018-12-01"
        assert asked["items"][0]["comparison"]["run_scope"] == "partial"
    with engine.connect() as c:
        periods = set(
            c.execute(
                sa.select(monitor_judgement.c.period).where(monitor_judgement.c.run_id == partial.run_id)
            ).scalars()
        )
    assert max(periods) == dt.date(2018, 12, 1)
    engine.dispose()


def test_the_monitoring_overview_says_which_indicators_are_out_of_date(client, accounts):
    sign_in(client, accounts["analyst"])
    page = client.get("/monitoring").text
    section = page[page.index('id="run-indicators"') :]
    shmi = section[section.index("Summary Hospital-level Mortality Indicator") :]
    assert "October 2012" in shmi[:400] and "out of date for nhs trust" in shmi[:800]
    assert "(complete)" in page
