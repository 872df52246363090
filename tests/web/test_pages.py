"""The web pages through FastAPI's TestClient, over the packaged real demo data."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import pytest
import sqlalchemy as sa

from carelens.model.dates import date_in_words
from carelens.store import schema
from tests.web.conftest import csrf_token, sign_in

PROFILE = "RK9"
"""University Hospitals Plymouth NHS Trust: A&E and SHMI figures in the demo data."""


def test_home_page_has_search_and_local_assets_only(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'action="/search"' in page.text
    assert "/static/nhsuk/nhsuk-frontend.min.css" in page.text
    # Nothing on the page is fetched from another host (the NHS font is only named in the CSS).
    assert not re.search(r'(src|href)="https?://', page.text)
    css = client.get("/static/nhsuk/nhsuk-frontend.min.css")
    assert css.status_code == 200
    assert "url(/assets/" not in css.text  # icons point at our static folder


@pytest.mark.parametrize(("query", "expected"), [("RK9", "RK9"), ("plymouth", "RK9"), ("derriford", None)])
def test_search_by_code_name_or_place(client, query, expected):
    page = client.get("/search", params={"q": query})
    assert page.status_code == 200
    assert "organisations found" in page.text or "organisation found" in page.text
    if expected:
        assert f'href="/organisations/{expected}"' in page.text


def test_search_pages_through_results(client):
    first = client.get("/search", params={"q": "surgery"})  # thousands of GP practices
    assert 'rel="next"' in first.text
    second = client.get("/search", params={"q": "surgery", "page": 2})
    assert second.status_code == 200
    assert "Page 2 of" in second.text


def test_profile_shows_ratings_indicators_and_accessible_charts(client):
    page = client.get(f"/organisations/{PROFILE}")
    assert page.status_code == 200
    text = page.text
    assert '<h2 id="ratings-heading">Ratings</h2>' in text
    assert "Summary Hospital-level Mortality Indicator" in text
    charts = re.findall(r"<svg[^>]*class=\"carelens-chart\"[^>]*>", text)
    assert len(charts) >= 4, "every indicator with peers has a funnel plot and a control chart"
    assert all('role="img"' in c and 'aria-label="' in c for c in charts)
    assert any("Funnel plot" in c for c in charts) and any("Control chart" in c for c in charts)
    assert "Compared with similar organisations" in text


def test_profile_of_rated_location_explains_its_rating(client, web_engine):
    with web_engine.connect() as c:
        code = c.execute(
            sa.select(schema.rating.c.org_code).where(
                schema.rating.c.key_question == "Overall", schema.rating.c.rating == "Good"
            )
        ).scalar()
    page = client.get(f"/organisations/{code}")
    assert page.status_code == 200
    assert "rated Good overall" in page.text
    assert "nhsuk-tag--green" in page.text


def test_unknown_organisation_is_an_html_404(client):
    page = client.get("/organisations/NO-SUCH-ORG")
    assert page.status_code == 404
    assert "Page not found" in page.text and page.headers["content-type"].startswith("text/html")


def _suppressed_case(engine) -> tuple[str, str]:
    """An (organisation, indicator) whose latest figure has a small count."""
    obs = schema.observation
    with engine.connect() as c:
        latest = (
            sa.select(obs.c.org_code, obs.c.indicator_id, sa.func.max(obs.c.period).label("period"))
            .where(obs.c.superseded_by.is_(None))
            .group_by(obs.c.org_code, obs.c.indicator_id)
            .subquery()
        )
        row = c.execute(
            sa.select(obs.c.org_code, obs.c.indicator_id)
            .join(
                latest,
                sa.and_(
                    latest.c.org_code == obs.c.org_code,
                    latest.c.indicator_id == obs.c.indicator_id,
                    latest.c.period == obs.c.period,
                ),
            )
            .where(obs.c.superseded_by.is_(None), obs.c.numerator > 0, obs.c.numerator < 5)
            .order_by(obs.c.org_code)
        ).first()
    assert row is not None, "the demo data has small counts"
    return row.org_code, row.indicator_id


def _indicator_section(html: str, indicator_id: str) -> str:
    start = html.index(f'aria-labelledby="indicator-{indicator_id}"')
    end = html.find("carelens-indicator", start)
    return html[start : end if end > 0 else None]


def test_small_numbers_are_suppressed_for_the_public_but_not_for_an_analyst(client, web_engine, accounts):
    code, indicator_id = _suppressed_case(web_engine)
    indicator_page = f"/organisations/{code}/indicators/{indicator_id}"
    public = _indicator_section(client.get(indicator_page).text, indicator_id)
    assert "suppressed" in public
    assert "are not published" in client.get(f"/organisations/{code}").text
    assert "are not published" in client.get(indicator_page).text
    sign_in(client, accounts["analyst"])
    analyst = _indicator_section(client.get(indicator_page).text, indicator_id)
    assert "suppressed" not in analyst.split("Better direction")[0]


def test_a_trust_page_shows_scored_indicators_in_full_and_the_rest_in_one_table(client):
    """RK9's scored indicators are panels with their charts; its per-specialty waiting times (compared,
    not scored) are rows of one table with their stored verdicts, each linking to the indicator's own
    page, which draws its charts. The page stays small: every chart of every specialty made it ~1.1 MB."""
    page = client.get("/organisations/RK9").text
    panels = re.findall(r'<section class="carelens-indicator" aria-labelledby="indicator-([a-z0-9_]+)"', page)
    assert "rtt_within_18_weeks" in panels and "shmi" in panels
    assert not any(re.search(r"_c_[a-z0-9]+$", p) for p in panels)
    table = page[
        page.index('id="other-indicators"') : page.index("</table>", page.index('id="other-indicators"'))
    ]
    rows = re.findall(r'href="/organisations/RK9/indicators/([a-z0-9_]+)"', table)
    assert len(rows) == len(set(rows)) and not set(rows) & set(panels)
    assert len([r for r in rows if re.fullmatch(r"rtt_[a-z0-9_]+_c_[a-z0-9]+", r)]) >= 20
    assert table.count('data-indicator="') == len(rows)  # each row carries its stored verdict
    assert len(page.encode()) < 500_000, len(page.encode())
    detail = client.get(f"/organisations/RK9/indicators/{rows[0]}")
    assert detail.status_code == 200
    charts = re.findall(r"<svg[^>]*class=\"carelens-chart\"[^>]*>", detail.text)
    assert any("Funnel plot" in c for c in charts) and any("Control chart" in c for c in charts)


def test_login_logout_and_failed_login(client, accounts):
    failed = client.post(
        "/login", data={"user_name": "analyst", "password": "wrong", "csrf_token": csrf_token(client)}
    )
    assert failed.status_code == 401
    assert "There is a problem" in failed.text and "carelens_session" not in failed.headers.get(
        "set-cookie", ""
    )
    empty = client.post("/login", data={"user_name": "", "password": "", "csrf_token": csrf_token(client)})
    assert empty.status_code == 400 and "Enter your user name" in empty.text

    sign_in(client, accounts["provider"])
    home = client.get("/")
    assert "provider (provider)" in home.text and "Sign out" in home.text
    assert home.headers["cache-control"] == "no-store"
    own = accounts["provider"].organisations[0]
    assert f'href="/organisations/{own}"' in home.text  # "My organisation" in the header
    client.post("/logout", follow_redirects=False)
    assert "Sign in" in client.get("/").text


def test_login_never_redirects_off_site(client, accounts):
    """A ``next`` that a browser would read as another host (``//host``, a scheme, a backslash, a tab or
    line break it drops) is ignored: signing in lands on the role's own first page instead."""
    account = accounts["analyst"]
    for target in (
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " /evil",
        "javascript:alert(1)",
        "evil.example",
    ):
        response = sign_in(client, account, target)
        assert response.headers["location"] == "/monitoring", target


def test_signing_in_from_a_page_that_needed_it_returns_to_it(client, accounts):
    """The public opening the monitoring overview gets its 403 page with a sign-in link that comes back
    (path and query); signing in through it returns there."""
    refused = client.get("/plan?status=planned")
    assert refused.status_code == 404
    assert 'href="/login?next=%2Fplan%3Fstatus%3Dplanned"' in refused.text
    refused = client.get("/monitoring")
    assert refused.status_code == 403
    link = re.search(r'href="(/login\?next=[^"]+)"', refused.text).group(1)
    form = client.get(html.unescape(link))
    assert '<input type="hidden" name="next" value="/monitoring">' in form.text
    response = sign_in(client, accounts["chief_inspector"], "/monitoring")
    assert response.headers["location"] == "/monitoring"
    assert client.get("/monitoring").status_code == 200
    assert "sign in to see this page" not in client.get("/commissioners/NOPE").text  # signed in: no offer


def test_the_login_form_needs_its_anti_forgery_token(client, accounts):
    """A form posted from another site (no token, or not the one in this browser's cookie) signs no one
    in; the form's page is never cached and its cookie is for /login only, HttpOnly and SameSite=Strict."""
    account = accounts["analyst"]
    form = client.get("/login")
    assert form.headers["cache-control"] == "no-store"
    cookie = form.headers["set-cookie"]
    assert "carelens_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/login" in cookie
    credentials = {"user_name": account.user_name, "password": account.password}
    for forged in ({}, {"csrf_token": "forged-by-another-site"}):
        refused = client.post("/login", data={**credentials, **forged}, follow_redirects=False)
        assert refused.status_code == 400 and "Your sign-in form had expired" in refused.text
        assert "carelens_session" not in refused.headers.get("set-cookie", "")
    token = csrf_token(client)
    client.cookies.clear()  # a browser that never opened the form: no cookie to match
    refused = client.post("/login", data={**credentials, "csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 400
    signed_in = client.post(
        "/login", data={**credentials, "csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert signed_in.status_code == 303 and "carelens_session=" in signed_in.headers["set-cookie"]
    client.cookies.clear()


def test_league_table_ranks_an_indicator(client):
    """An indicator its publisher does not band (SHMI is banded: tests/web/test_downloads.py)."""
    page = client.get("/league-tables", params={"indicator": "ae_4hr_breach_type1"})
    assert page.status_code == 200
    assert "A&amp;E attendances waiting over 4 hours" in page.text
    ranks = [
        int(rank)
        for rank in re.findall(
            r'<tr class="nhsuk-table__row" role="row"><td class="nhsuk-table__cell\s+nhsuk-table__cell--numeric\s*"'
            r"[^>]*>\s*<span[^>]*>Rank </span>(\d+)",
            page.text,
        )
    ]
    assert len(ranks) > 3 and ranks[0] == 1 and ranks == sorted(ranks)


def test_report_html_and_pdf(client):
    html = client.get(f"/organisations/{PROFILE}/report")
    assert html.status_code == 200 and "laid out for printing" in html.text
    pdf = client.get(f"/organisations/{PROFILE}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    pypdf = pytest.importorskip("pypdf")
    assert (
        len(pypdf.PdfReader(io.BytesIO(pdf.content)).pages) >= 2
    )  # the same report: tests/web/test_report_pdf.py


# --- the inspection plan ---------------------------------------------------------------------------

PLAN_PAGE = {
    "public": 404,
    "provider": 404,
    "commissioner": 404,
    "national_board": 404,
    "policy_maker": 404,
    "inspector": 200,
    "chief_inspector": 200,
    "analyst": 200,
    "admin": 200,
}
"""/plan for every role, written out (not derived from the role rules): 404, never 403, to anyone the
inspection-plans rule does not reach."""


@pytest.mark.parametrize(("role", "expected"), PLAN_PAGE.items())
def test_plan_page_for_every_role(client, accounts, role, expected):
    if role != "public":
        sign_in(client, accounts[role])
    page = client.get("/plan")
    assert page.status_code == expected
    if expected == 404:
        assert "Page not found" in page.text and 'id="plan"' not in page.text
    else:
        assert 'id="plan"' in page.text
    assert (page.headers.get("cache-control") == "no-store") == (role != "public")
    home = client.get("/")
    assert ('href="/plan"' in home.text) == (expected == 200)  # the header links only what the role may use


def _assignments(web_engine, inspector_id: str) -> dict[str, str]:
    """The inspector's assigned inspections in the latest schedule: org code -> window start ('' if none)."""
    from carelens.store.schema_plan import plan_assignment as a
    from carelens.store.schema_plan import plan_inspection as i

    with web_engine.connect() as c:
        rows = c.execute(
            sa.select(i.c.org_code, i.c.window_start)
            .join(a, a.c.inspection_id == i.c.id)
            .where(
                a.c.inspector_id == inspector_id,
                i.c.schedule_id == sa.select(sa.func.max(i.c.schedule_id)).scalar_subquery(),
            )
        ).all()
    return {r.org_code: r.window_start.isoformat() if r.window_start else "" for r in rows}


def _plan_links(html: str) -> set[str]:
    table = html[html.index('id="plan"') : html.index("</table>", html.index('id="plan"'))]
    return set(re.findall(r'href="/organisations/([^"]+)"', table))


def test_the_demo_inspector_sees_its_own_assignments_with_windows(client, accounts, web_engine):
    account = accounts["inspector"]
    assigned = _assignments(web_engine, account.inspector_id)
    assert assigned and set(assigned) == set(account.organisations)
    sign_in(client, account)
    first = client.get("/plan")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    assert ">My inspection plan</h1>" in first.text and f"Inspector {account.inspector_id}" in first.text
    assert f"{len(assigned)} in all" in first.text and "you (lead)" in first.text
    shown = set()
    for number in range(1, len(assigned) // 50 + 2):
        shown |= _plan_links(client.get("/plan", params={"page": number}).text)
    assert shown == set(assigned)  # every assignment, and nothing else
    unannounced = [code for code, window in assigned.items() if window]
    first_window = date_in_words(min(assigned[c] for c in unannounced))
    assert unannounced and first_window in first.text  # the first window is shown, in words
    assert ">Failure regime: open cases</h2>" in first.text and "special measures" in first.text
    regime = first.text[first.text.index('id="regime-cases"') :]
    linked = re.findall(r'href="/organisations/([^"]+)">([^<]+)</a>', regime[: regime.index("</table>")])
    assert linked and all(text.strip() != code for code, text in linked)  # named, not just coded
    assert client.get("/plan", params={"status": "unscheduled"}).status_code == 200
    assert client.get("/plan", params={"status": "nonsense"}).status_code == 400


def test_a_chief_inspector_sees_its_sector_and_what_could_not_be_scheduled(client, accounts, web_engine):
    from carelens.store.schema_plan import plan_inspection as i

    with web_engine.connect() as c:
        sectors = dict(c.execute(sa.select(i.c.org_code, i.c.sector).where(i.c.status == "planned")).all())
    chief = accounts["chief_inspector"]
    sign_in(client, chief)
    planned = client.get("/plan", params={"status": "planned"}).text
    codes = _plan_links(planned)
    assert codes and {sectors[code] for code in codes} == {chief.sector}
    assert f"Sector: {chief.sector.replace('_', ' ')}" in planned
    missed = client.get("/plan", params={"status": "unscheduled"}).text
    assert re.search(r"not scheduled: [a-z]", missed)


def test_the_demo_chief_inspector_oversees_the_sector_with_open_failure_regime_cases(
    client, accounts, web_engine
):
    """A chief inspector of hospitals when every special-measures case is a care home had an empty
    failure-regime page: the demo chief oversees the sector the open cases are in."""
    from carelens.store import schema
    from carelens.store.schema_plan import plan_regime_case as case

    with web_engine.connect() as c:
        sectors = (
            c.execute(
                sa.select(schema.organisation.c.sector)
                .join(case, case.c.org_code == schema.organisation.c.code)
                .where(case.c.closed.is_(False))
            )
            .scalars()
            .all()
        )
    chief = accounts["chief_inspector"]
    assert sectors and sectors.count(chief.sector) == max(sectors.count(s) for s in sectors)
    sign_in(client, chief)
    page = client.get("/regime").text
    assert 'id="cases"' in page and "No case with these choices." not in page


def test_an_analyst_sees_scheduled_inspections_first(client, accounts):
    sign_in(client, accounts["analyst"])
    first = client.get("/plan")
    assert first.status_code == 200 and "not scheduled:" not in first.text
    pages = int(re.search(r"page 1 of (\d+)", first.text).group(1))
    assert "not scheduled:" in client.get("/plan", params={"page": pages}).text


@pytest.mark.parametrize("role", ["public", "provider", "commissioner", "national_board", "policy_maker"])
def test_no_planned_date_or_window_in_pages_for_those_not_entitled(client, accounts, web_engine, role):
    inspector = accounts["inspector"]
    assigned = _assignments(web_engine, inspector.inspector_id)
    code, iso = next((c, w) for c, w in sorted(assigned.items()) if w)
    window = date_in_words(iso)  # as the pages write it
    if role != "public":
        sign_in(client, accounts[role])
    for path in ("/plan", f"/organisations/{code}", "/", "/plan?status=planned"):
        text = client.get(path).text
        hidden = window not in text and iso not in text
        assert hidden and "Unannounced window" not in text and 'id="inspections"' not in text, path
    # the check can fail: the inspector's own view of the same profile holds the window
    sign_in(client, inspector)
    mine = client.get(f"/organisations/{code}").text
    assert window in mine and 'id="inspections"' in mine and "Unannounced window" in mine


# --- monitoring, scorecards and allocations --------------------------------------------------------


def test_monitoring_overview_shows_bands_movers_and_why(client, accounts):
    assert client.get("/monitoring").status_code == 403  # the public never sees monitoring
    sign_in(client, accounts["analyst"])
    page = client.get("/monitoring")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    for heading in ("Priority bands", "Biggest movers since the last run", "Flags and why"):
        assert f">{heading}</h2>" in page.text
    assert 'id="movers"' in page.text  # the demo's second run moved some organisations
    assert "higher risk" in page.text or "lower risk" in page.text
    assert "similar organisations; a risk is flagged outside" in page.text  # each flag says why
    assert 'href="/monitoring"' in page.text  # in the analyst's navigation


def _flagged_organisation(web_engine) -> str:
    from carelens.store.schema_monitor import monitor_flag

    with web_engine.connect() as c:
        return c.execute(
            sa.select(monitor_flag.c.org_code)
            .where(monitor_flag.c.run_id == 2, monitor_flag.c.flag.in_(("risk", "elevated risk")))
            .join(schema.organisation, schema.organisation.c.code == monitor_flag.c.org_code)
            .order_by(monitor_flag.c.org_code)
            .limit(1)
        ).scalar_one()


def test_profile_shows_flags_only_to_those_entitled(client, accounts, web_engine):
    code = _flagged_organisation(web_engine)
    public = client.get(f"/organisations/{code}")
    assert public.status_code == 200 and "Monitoring flags" not in public.text
    provider = accounts["provider"]
    assert code not in provider.organisations
    sign_in(client, provider)
    assert "Monitoring flags" not in client.get(f"/organisations/{code}").text
    assert "Monitoring flags" in client.get(f"/organisations/{provider.organisations[0]}").text
    sign_in(client, accounts["national_board"])
    page = client.get(f"/organisations/{code}")
    assert "Monitoring flags" in page.text and 'id="monitoring-flags"' in page.text
    assert "Flagged indicators and why" in page.text


def test_commissioner_sees_its_scorecard_and_no_other(client, accounts):
    account = accounts["commissioner"]
    own = account.organisations[0]
    assert client.get(f"/commissioners/{own}").status_code == 404  # the public
    sign_in(client, account)
    page = client.get(f"/commissioners/{own}")
    assert page.status_code == 200
    for heading in ("Compared with its peers", "Assessment"):
        assert f">{heading}</h2>" in page.text
    assert "Distance from target" in page.text and f'href="/commissioners/{own}"' in page.text
    other = next(c for c in ("QE1", "QGH", "QR1") if c != own)
    assert client.get(f"/commissioners/{other}").status_code == 404


def test_a_commissioner_with_no_evidence_is_not_assessed_on_its_scorecard_and_in_the_api(client, accounts):
    """Issue 14's reproduction: the demo store has no commissioner indicator and no finance return, and
    the scorecard said "Good"; now the page and the API say not assessed, and why."""
    account = accounts["commissioner"]
    own = account.organisations[0]
    sign_in(client, account)
    page = client.get(f"/commissioners/{own}")
    assessment = page.text[page.text.index('id="assessment-heading"') :]
    assert "Not assessed" in assessment and "Outstanding" not in assessment
    assert not re.search(r">\s*Good\s*<", assessment)
    assert "no finance return for 2024-25" in assessment
    assert "a commissioner is never rated on missing evidence" in assessment
    token = client.post(
        "/api/v1/auth/token", json={"user_name": account.user_name, "password": account.password}
    ).json()["access_token"]
    card = client.get(
        f"/api/v1/commissioners/{own}/scorecard", headers={"Authorization": f"Bearer {token}"}
    ).json()["assessment"]
    assert (card["overall"], card["outcomes_rating"], card["finance_rating"]) == ("not assessed",) * 3
    assert card["not_assessed"] == "outcomes and finance" and card["intervene"] is False


def test_a_trust_rated_on_four_key_questions_says_it_is_not_a_complete_rating(client):
    """RK9's overall is aggregated from its hospitals' ratings without a trust-level well-led assessment:
    the page gives it and says it is not a complete rating."""
    text = re.sub(r"\s+", " ", client.get("/organisations/RK9").text)
    assert "is rated Requires improvement overall from 18 December 2019" in text
    assert "It is not a complete rating: it rests on 4 of the 5 key questions (well-led not rated)." in text


def test_segmentation_lists_trusts_with_nothing_to_score_as_not_assessed(client, web_engine):
    """No evidence, no segment: every NHS trust in the demo store is listed; those with no published
    metric to score (no A&E or SHMI figure in the latest period) have no segment and no rank."""
    with web_engine.connect() as connection:
        trusts = connection.execute(
            sa.select(sa.func.count())
            .select_from(schema.organisation)
            .where(schema.organisation.c.kind == "nhs_trust")
        ).scalar_one()
    body = client.get("/api/v1/segmentation", params={"page_size": 500}).json()
    assert body["total"] == trusts == len(body["items"])
    unassessed = [r for r in body["items"] if not r["assessed"]]
    assert unassessed and all(r["segment"] is None and r["rank"] is None for r in unassessed)
    assert {r["explanation"] for r in unassessed} == {
        "Not assessed: no metric is scored, so it is not segmented (never placed in a quarter by default)."
    }
    assert all(r["segment"] in (1, 2, 3, 4, 5) for r in body["items"] if r["assessed"])


def test_allocation_explorer_draws_the_whatif_by_decile_and_region(client, accounts):
    assert client.get("/allocations").status_code == 403
    sign_in(client, accounts["policy_maker"])
    page = client.get("/allocations", params={"a": "2024_25", "b": "deprivation_weighted"})
    assert page.status_code == 200
    assert 'aria-label="Bar chart: Change in target by deprivation decile of practices.' in page.text
    assert 'aria-label="Bar chart: Change in target by region' in page.text
    assert 'id="deciles"' in page.text and 'id="allocations"' in page.text
    sign_in(client, accounts["commissioner"])
    mine = client.get("/allocations", params={"a": "2024_25", "b": "deprivation_weighted"})
    # national figures by decile and region, as the tables under them show it: no commissioner named
    assert mine.text.count('class="carelens-chart"') == 2
    assert 'id="deciles"' in mine.text
    rows = re.findall(r'href="/commissioners/([^"]+)"', mine.text)
    assert set(rows) == set(accounts["commissioner"].organisations)


# --- local system reviews and accountable care organisations (the demo's programme and ACOs) --------


def _table(html: str, table_id: str) -> str:
    """The HTML of the table with this id (it must have a caption: every data table does)."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert found, f"no table {table_id!r}"
    assert "<caption" in found.group(0)
    return found.group(0)


def test_analyst_sees_places_ranked_with_why_the_programme_and_a_budget_whatif(client, accounts):
    from carelens.demo.systems import DEMO_PERIOD, DEMO_REFERENCE

    sign_in(client, accounts["analyst"])
    page = client.get("/system-reviews", params={"period": DEMO_PERIOD.isoformat()})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    for heading in ("Reviews", "Places ranked for review", "Overdue actions", "Review programme"):
        assert f">{heading}</h2>" in page.text
    ranking = _table(page.text, "ranking")
    assert "Synthetic place" in ranking and "weighted mean of" in ranking  # every place says why
    assert DEMO_REFERENCE in _table(page.text, "directions")
    assert "Planned, not yet reported" in _table(page.text, "reviews")  # the demo's selected places
    assert 'href="/system-reviews"' in page.text and 'href="/accountable-care"' in page.text  # navigation
    whatif = client.get("/system-reviews", params={"period": DEMO_PERIOD.isoformat(), "budget": "£500,000"})
    assert whatif.status_code == 200
    assert "buys 5 reviews" in whatif.text and "Nothing is stored" in whatif.text
    assert _table(whatif.text, "whatif-places").count("<tr") == 6  # a header row and five places


def test_a_places_verdicts_in_the_review_work_are_the_monitoring_runs(client, accounts, web_engine):
    """Issue 14: PL004's delayed days attributable to the NHS (2017-18) are flagged "risk" by the demo's
    monitoring run; the system-review place detail now says "worse" too, as for every indicator."""
    from carelens.store.schema_monitor import monitor_judgement

    account = accounts["analyst"]
    token = client.post(
        "/api/v1/auth/token", json={"user_name": account.user_name, "password": account.password}
    ).json()["access_token"]
    place = client.get(
        "/api/v1/systems/places/PL004",
        params={"period": "2017-04-01"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    verdicts = {i["indicator_id"]: i["assessment"] for i in place["indicators"]}
    assert verdicts["dtoc_nhs"] == "worse"
    j = monitor_judgement
    with web_engine.connect() as connection:
        run = connection.execute(sa.select(sa.func.max(j.c.run_id))).scalar_one()
        stored = dict(
            connection.execute(
                sa.select(j.c.indicator_id, j.c.verdict).where(
                    j.c.run_id == run, j.c.org_code == "PL004", j.c.period == dt.date(2017, 4, 1)
                )
            ).all()
        )
    named = {"worse": "worse", "better": "better", "as expected": "within"}
    assert verdicts == {k: named[v] for k, v in stored.items()} and len(verdicts) == 8


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"budget": "lots"}, "Enter the budget in pounds"),
        ({"period": "1999-01-01"}, "Choose a period from the list"),
    ],
)
def test_bad_input_on_the_system_reviews_page_is_400_naming_the_field(client, accounts, params, message):
    sign_in(client, accounts["policy_maker"])
    page = client.get("/system-reviews", params=params)
    assert page.status_code == 400
    assert "There is a problem" in page.text and message in page.text
    assert page.text.count(message) >= 1 and "<title>Error:" in page.text


def test_the_public_sees_published_review_reports_only(client, accounts, web_engine):
    """A review reported to its board (recorded as `carelens systems review record` does) is public;
    planned ones, the ranking, the programme and action plans are not."""
    import datetime as dt

    import pandas as pd

    from carelens.demo.systems import DEMO_REFERENCE
    from carelens.store.schema_systems import systems_review
    from carelens.systems.config import load_config
    from carelens.systems.reviews import record_actions, record_review

    with web_engine.connect() as c:
        planned = c.execute(
            sa.select(systems_review.c.id, systems_review.c.place_code).order_by(systems_review.c.id)
        ).all()
    (published_id, place), (unpublished_id, _) = planned[0], planned[-1]
    stages = load_config().stages
    findings = pd.DataFrame({"stage": list(stages), "finding": [f"Finding about {s}" for s in stages]})
    record_review(
        web_engine, DEMO_REFERENCE, place, findings, load_config(), "test", "Test board", dt.date(2018, 3, 1)
    )
    actions = pd.DataFrame(
        [(1, None, "Join up the crisis line", "Council", dt.date(2018, 6, 30), "open", None)],
        columns=["number", "stage", "action", "owner", "deadline", "status", "completed_on"],
    ).astype(object)
    record_actions(web_engine, DEMO_REFERENCE, place, actions, "test")

    page = client.get("/system-reviews")
    assert page.status_code == 200
    reviews = _table(page.text, "reviews")
    assert f'href="/system-reviews/{published_id}"' in reviews
    assert f'href="/system-reviews/{unpublished_id}"' not in reviews and "Planned" not in reviews
    assert ">1 March 2018<" in reviews and ">2018-03-01<" not in reviews  # the day reported, in words
    for heading in ("Places ranked for review", "Review programme", "Overdue actions"):
        assert f">{heading}</h2>" not in page.text
    assert 'href="/accountable-care"' not in page.text
    report = client.get(f"/system-reviews/{published_id}")
    assert report.status_code == 200
    assert "Finding about crisis_and_step_up" in report.text and "Test board" in report.text
    assert "1 March 2018" in report.text and "2018-03-01" not in report.text
    assert "Action plan" not in report.text  # tracked by the regulator, not published
    assert client.get(f"/system-reviews/{unpublished_id}").status_code == 404
    assert client.get("/system-reviews/not-a-number").status_code == 404

    sign_in(client, accounts["chief_inspector"])
    tracked = client.get(f"/system-reviews/{published_id}")
    assert "overdue by" in _table(tracked.text, "actions")
    assert "Join up the crisis line" in _table(client.get("/system-reviews").text, "overdue")


def test_accountable_care_shows_settlements_and_flags_concentrated_markets(client, accounts):
    assert client.get("/accountable-care").status_code == 403  # the public
    sign_in(client, accounts["provider"])
    assert client.get("/accountable-care").status_code == 403
    sign_in(client, accounts["national_board"])
    page = client.get("/accountable-care")
    assert page.status_code == 200
    settlements = _table(page.text, "settlements")
    assert settlements.count("Synthetic accountable care organisation") == 4
    assert "shared savings paid" in settlements and "passed" in settlements
    concentration = _table(page.text, "concentration")
    assert "highly concentrated" in concentration and "nhsuk-tag--red" in concentration
    assert "above 2,500 it is highly concentrated" in page.text  # the configured threshold, explained


def test_a_commissioner_sees_the_review_work_of_its_area_but_not_the_programme(client, accounts):
    sign_in(client, accounts["commissioner"])
    page = client.get("/system-reviews")
    assert page.status_code == 200
    assert ">Places ranked for review</h2>" in page.text and ">Review programme</h2>" not in page.text
    assert "No place in your area" in page.text  # the demo's commissioners contract no synthetic trust
    assert client.get("/accountable-care").status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_documentation_pages_name_no_other_host(client, path):
    """Swagger UI and ReDoc come from the package (``/static``), never from another host, and each
    script and style sheet they load is served."""
    page = client.get(path)
    assert page.status_code == 200
    assert "//" not in re.sub(r"<!DOCTYPE html>", "", page.text)  # no http://, https:// or //host
    addresses = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(addresses) >= 3 and all(a.startswith("/static/") for a in addresses), addresses
    for address in addresses:
        assert client.get(address).status_code == 200, address


def test_vendored_api_documentation_matches_its_readme():
    """The copies of Swagger UI and ReDoc are the files whose SHA-256 the README records."""
    import hashlib

    from carelens.web.templating import STATIC_DIR

    readme = (STATIC_DIR / "API-DOCS-README.md").read_text()
    recorded = re.findall(r"\| `([^`]+)` \| `([0-9a-f]{64})` \|", readme)
    assert len(recorded) == 11
    for name, digest in recorded:
        assert hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest() == digest, name
    for version in ("swagger-ui-dist | 5.35.0", "redoc | 2.5.4"):
        assert version in readme
