"""Downloads of the pages' tables (every row, CSV and Excel, the page's access rules), the monitoring
overview's pager, and the league table's sort, filters, grouping by type and significance bands, on the
demo store (the packaged real data and the demo's monitoring run).

The issue's reproductions: "All flags: download as CSV" gave 50 of the run's flags (the API's page);
the monitoring table showed "the first 50 of 93" with no pager; SHMI's league table ranked 1-142 where
NHS Digital bands it."""

from __future__ import annotations

import csv
import html as html_text
import io
import re

import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from carelens.model.access import Actor, Role
from carelens.services import funding, planning
from carelens.services import systems as systems_service

from .conftest import sign_in


@pytest.fixture(scope="module")
def signed_in(app, accounts):
    """A client per role value used here, signed in as its demo account (the public's is not)."""
    opened = {}
    for role in ("public", "analyst", "provider", "commissioner"):
        client = opened[role] = TestClient(app)
        client.__enter__()
        if role != "public":
            sign_in(client, accounts[role])
    yield opened
    for client in opened.values():
        client.__exit__(None, None, None)


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def xlsx_rows(response) -> list[dict[str, object]]:
    """The rows of a downloaded workbook's only sheet, read by openpyxl (empty cells as '')."""
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    workbook = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    assert len(workbook.worksheets) == 1
    values = list(workbook.worksheets[0].iter_rows(values_only=True))
    head = values[0]
    return [{h: ("" if v is None else v) for h, v in zip(head, row, strict=True)} for row in values[1:]]


def same_cell(text: str, value: object) -> bool:
    """A CSV cell and the workbook's cell hold the same value (numbers as numbers, booleans as CSV writes
    them)."""
    if isinstance(value, bool):
        return text == str(value)
    if isinstance(value, int | float):
        return float(text) == pytest.approx(float(value), rel=1e-12)
    return text == value


def latest_run(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT max(id) FROM monitor_run WHERE scope = 'complete'")
        ).scalar_one()


# --- monitoring flags -----------------------------------------------------------------------------


def test_the_analysts_flags_csv_has_every_flag_of_the_run(signed_in, web_engine):
    """Before: 50 rows (the API's page size). Now every flag of the latest complete run, counted in the
    store (the demo run has thousands)."""
    run = latest_run(web_engine)
    with web_engine.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT org_code, indicator_id, period FROM monitor_flag WHERE run_id = :run"),
            {"run": run},
        ).all()
    assert len(stored) > 1_000
    page = signed_in["analyst"].get("/monitoring")
    assert 'href="/monitoring/flags.csv"' in page.text  # the page links the whole table, not the API
    rows = csv_rows(signed_in["analyst"].get("/monitoring/flags.csv"))
    assert len(rows) == len(stored)
    assert sorted((r["org_code"], r["indicator_id"], r["period"]) for r in rows) == sorted(
        (code, indicator, str(period)[:10]) for code, indicator, period in stored
    )
    assert {r["run_id"] for r in rows} == {str(run)}
    assert all(r["why"] for r in rows)


def test_the_flags_workbook_opens_with_openpyxl_and_holds_the_same_rows(signed_in):
    csv_table = csv_rows(signed_in["analyst"].get("/monitoring/flags.csv"))
    workbook = xlsx_rows(signed_in["analyst"].get("/monitoring/flags.xlsx"))
    assert len(workbook) == len(csv_table) > 1_000
    assert list(workbook[0]) == list(csv_table[0])
    for from_csv, from_xlsx in zip(csv_table, workbook, strict=True):
        assert all(same_cell(from_csv[k], from_xlsx[k]) for k in from_csv), (from_csv, from_xlsx)


def test_risks_only_is_the_overview_tables_rows(signed_in):
    rows = csv_rows(signed_in["analyst"].get("/monitoring/flags.csv?risks_only=true"))
    total = int(re.search(r"of ([\d,]+) \(page 1 of", signed_in["analyst"].get("/monitoring").text)[1])
    assert len(rows) == total
    assert all(r["flag"] in ("risk", "elevated risk") or r["spc_alert"] == "True" for r in rows)


def test_the_public_may_not_download_flags_and_a_provider_gets_only_its_own(signed_in, accounts, web_engine):
    for path in ("/monitoring/flags.csv", "/monitoring/flags.xlsx"):
        refused = signed_in["public"].get(path)
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    own = set(accounts["provider"].organisations)
    rows = csv_rows(signed_in["provider"].get("/monitoring/flags.csv"))
    with web_engine.connect() as connection:
        sites = {
            code
            for (code,) in connection.execute(
                sa.text(
                    "SELECT object_code FROM org_relationship WHERE kind = 'provider_location' "
                    "AND subject_code IN :own AND valid_to IS NULL"
                ).bindparams(sa.bindparam("own", expanding=True)),
                {"own": sorted(own)},
            )
        }
    assert rows and {r["org_code"] for r in rows} <= own | sites
    # the analyst's file holds other organisations' flags, which the provider's never does
    everyone = {r["org_code"] for r in csv_rows(signed_in["analyst"].get("/monitoring/flags.csv"))}
    assert everyone - (own | sites)


def test_downloads_of_signed_in_actors_are_never_cached(signed_in):
    response = signed_in["analyst"].get("/monitoring/flags.csv")
    assert response.headers["cache-control"] == "no-store"
    public = signed_in["public"].get("/league-tables.csv?indicator=shmi")
    assert public.headers["cache-control"].startswith("public")


# --- the monitoring overview's pager --------------------------------------------------------------


def test_the_monitoring_overview_pages_through_every_flag(signed_in):
    client = signed_in["analyst"]
    first = client.get("/monitoring?size=10")
    caption = re.search(r"alerts: 1 to 10 of ([\d,]+) \(page 1 of (\d+)\)", first.text)
    assert caption, first.text[:2000]
    total, pages = int(caption[1].replace(",", "")), int(caption[2])
    assert pages == -(-total // 10) > 1
    assert 'href="/monitoring?size=10&amp;page=2"' in first.text
    last = client.get(f"/monitoring?size=10&page={pages}")
    assert f"of {caption[1]} (page {pages} of {pages})" in last.text
    assert "?size=10&amp;page=" + str(pages - 1) in last.text
    codes = [
        re.findall(r'<a href="/organisations/([^"]+)"', client.get(f"/monitoring?size=10&page={p}").text)
        for p in (1, 2)
    ]
    assert codes[0] != codes[1]
    beyond = client.get(f"/monitoring?size=10&page={pages + 1}")
    assert beyond.status_code == 200 and "No flags on this page" in beyond.text


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=abc", "size=0", "size=x", "page=99999999999"])
def test_a_bad_page_or_size_is_the_400_page_not_json(signed_in, query):
    for path in ("/monitoring", "/league-tables"):
        response = signed_in["analyst"].get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert response.headers["content-type"].startswith("text/html")
        assert "Cannot show this page" in response.text and (
            "page" in response.text or "size" in response.text
        )


# --- league tables --------------------------------------------------------------------------------


def league_cells(html: str, table_id: str = "league-table") -> list[list[str]]:
    """The text of each row's cells of a league table on a page."""
    table = html[html.index(f'id="{table_id}"') :]
    table = table[: table.index("</table>")]
    rows = []
    for row in re.findall(r"<tr class=\"nhsuk-table__row\" role=\"row\">(.*?)</tr>", table, flags=re.S)[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        cleaned = [re.sub(r"<span class=\"nhsuk-table__heading\"[^>]*>[^<]*</span>", "", c) for c in cells]
        rows.append([re.sub(r"<[^>]+>", "", c).strip() for c in cleaned])
    return rows


def test_shmi_league_table_shows_nhs_digital_bands_not_ranks(signed_in, web_engine):
    """Regression: SHMI was ranked 1-142. Its first column is now the significance band of the stored
    judgement, with as many of each band as the run stored verdicts for the latest release."""
    html = signed_in["public"].get("/league-tables?indicator=shmi&size=200").text
    assert ">Band</a></th>" in html and ">Rank<" not in html
    rows = league_cells(html)
    assert len(rows) == 142
    bands = [r[0] for r in rows]
    assert set(bands) <= {"higher than expected", "as expected", "lower than expected"}
    assert not any(b.isdigit() for b in bands)
    run = latest_run(web_engine)
    with web_engine.connect() as connection:
        stored = dict(
            connection.execute(
                sa.text(
                    "SELECT direction, count(*) FROM monitor_judgement WHERE run_id = :run AND indicator_id = 'shmi' "
                    "AND period = (SELECT max(period) FROM monitor_judgement WHERE run_id = :run AND indicator_id = 'shmi') "
                    "GROUP BY direction"
                ),
                {"run": run},
            ).all()
        )
    words = {"higher": "higher than expected", "within": "as expected", "lower": "lower than expected"}
    assert {words[d]: n for d, n in stored.items()} == {b: bands.count(b) for b in set(bands)}
    # SHMI: lower is better, so the worse band ("higher than expected") is listed first
    assert bands == sorted(bands, key=["higher than expected", "as expected", "lower than expected"].index)
    # a verdict "worse" is always the band "higher than expected" (the same stored judgement)
    assert all((r[-1] == "worse") == (r[0] == "higher than expected") for r in rows)


def test_an_unbanded_indicator_is_ranked(signed_in):
    rows = league_cells(signed_in["public"].get("/league-tables?indicator=ae_4hr_breach_type1").text)
    ranks = [int(r[0]) for r in rows if r[0].isdigit()]
    assert ranks[0] == 1 and ranks == sorted(ranks)


def test_sorting_by_a_column_heading_works_without_scripts(signed_in):
    client = signed_in["public"]
    html = client.get("/league-tables?indicator=ae_4hr_breach_type1").text
    heading = re.search(
        r'<th[^>]*aria-sort="none"><a class="nhsuk-link" href="([^"]+)">Organisation</a></th>', html
    )
    assert (
        heading and 'aria-sort="ascending"><a class="nhsuk-link" href="' in html
    )  # the rank column is the order now
    ascending = client.get(heading[1].replace("&amp;", "&"))
    names = [r[1] for r in league_cells(ascending.text)]
    assert names == sorted(names, key=str.casefold)
    again = re.search(
        r'<th[^>]*aria-sort="ascending"><a class="nhsuk-link" href="([^"]+)">Organisation</a></th>',
        ascending.text,
    )
    descending = client.get(again[1].replace("&amp;", "&"))
    assert 'aria-sort="descending"' in descending.text
    names = [r[1] for r in league_cells(descending.text)]
    assert names == sorted(names, key=str.casefold, reverse=True)


def test_filters_by_type_and_region(signed_in):
    client = signed_in["public"]
    html = client.get("/league-tables?indicator=ae_4hr_breach_other").text
    assert '<option value="location"' in html and '<option value="Y58"' in html
    rows = league_cells(
        client.get("/league-tables?indicator=ae_4hr_breach_other&kind=nhs_trust&region=Y58").text
    )
    assert rows and all(r[2] == "NHS trust" and r[3] == "South West" for r in rows)
    ranks = [int(r[0]) for r in rows if r[0].isdigit()]
    assert ranks[0] == 1  # ranked among the organisations chosen


def test_several_types_are_grouped_each_ranked_among_its_own(signed_in):
    html = signed_in["public"].get("/league-tables?indicator=ae_4hr_breach_other&size=500").text
    captions = re.findall(r"<caption[^>]*>[^<]*: ([^<(]+) \(page", html)
    assert len(captions) > 1 and captions[0].strip() == "NHS trust"
    shown = []
    for n in range(1, len(captions) + 1):
        rows = league_cells(html, "league-table" if n == 1 else f"league-table-{n}")
        assert len({r[2] for r in rows}) == 1
        ranks = [int(r[0]) for r in rows if r[0].isdigit()]
        assert not ranks or ranks[0] == 1
        shown += [(html_text.unescape(r[1]), r[0]) for r in rows]
    # a page of one type still says which type it lists
    assert (
        ": NHS trust (page 1 of"
        in signed_in["public"].get("/league-tables?indicator=ae_4hr_breach_other").text
    )
    # the download ranks each type among its own, as the page does, in the page's order
    rows = csv_rows(signed_in["public"].get("/league-tables.csv?indicator=ae_4hr_breach_other"))
    assert [(r["name"], r["rank"] or "–") for r in rows] == shown


def test_league_downloads_hold_the_whole_filtered_sorted_table(signed_in):
    client = signed_in["public"]
    query = "indicator=ae_4hr_breach_other&kind=nhs_trust&sort=name&order=descending"
    page = client.get(f"/league-tables?{query}")
    total = int(re.search(r"The whole table \((\d+) organisations\)", page.text)[1])
    assert f'href="/league-tables.csv?{query.replace("&", "&amp;")}"' in page.text
    rows = csv_rows(client.get(f"/league-tables.csv?{query}"))
    assert len(rows) == total > 50  # more than a page
    assert {r["kind"] for r in rows} == {"nhs_trust"}
    names = [r["name"] for r in rows if r["rank"]]
    assert names == sorted(names, key=str.casefold, reverse=True)
    workbook = xlsx_rows(client.get(f"/league-tables.xlsx?{query}"))
    assert [r["org_code"] for r in workbook] == [r["org_code"] for r in rows]
    shmi = csv_rows(client.get("/league-tables.csv?indicator=shmi"))
    assert len(shmi) == 142 and {r["band"] for r in shmi} == {
        "higher than expected",
        "as expected",
        "lower than expected",
    }


def test_league_download_of_a_bad_indicator_is_the_error_page(signed_in):
    response = signed_in["public"].get("/league-tables.csv?indicator=nope")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")


# --- allocations and scorecards -------------------------------------------------------------------


def test_allocations_download_every_commissioner_in_reach(signed_in, accounts, web_engine):
    with web_engine.connect() as connection:
        run, count = connection.execute(
            sa.text(
                "SELECT run_id, count(*) FROM fund_allocation "
                "WHERE run_id = (SELECT max(id) FROM fund_allocation_run) GROUP BY run_id"
            )
        ).one()
    rows = csv_rows(signed_in["analyst"].get("/allocations.csv"))
    assert len(rows) == count > 0
    assert {r["run_id"] for r in rows} == {str(run)}
    workbook = xlsx_rows(signed_in["analyst"].get("/allocations.xlsx"))
    assert [r["commissioner_code"] for r in workbook] == [r["commissioner_code"] for r in rows]
    mine = csv_rows(signed_in["commissioner"].get("/allocations.csv"))
    assert {r["commissioner_code"] for r in mine} <= {r["commissioner_code"] for r in rows}
    assert 0 < len(mine) < len(rows)


def test_a_scorecard_downloads_its_comparison_with_peers(signed_in, accounts):
    code = accounts["commissioner"].organisations[0]
    page = signed_in["commissioner"].get(f"/commissioners/{code}")
    assert f'href="/commissioners/{code}/scorecard.xlsx"' in page.text
    rows = xlsx_rows(signed_in["commissioner"].get(f"/commissioners/{code}/scorecard.xlsx"))
    assert [r["measure"] for r in rows] == [
        "distance_from_target",
        "need_index_core",
        "allocation_per_head_gbp",
    ]
    assert all(isinstance(r["peer_median"], float) for r in rows)


# --- the inspection plan and the places ranked for review ------------------------------------------


def test_the_plan_and_the_place_ranking_download_every_row_their_pages_count(app, accounts, signed_in):
    analyst = signed_in["analyst"]
    plan = analyst.get("/plan")
    total = int(re.search(r"([\d,]+) in all\)", plan.text)[1].replace(",", ""))
    assert 'href="/plan.csv"' in plan.text
    rows = csv_rows(analyst.get("/plan.csv"))
    assert len(rows) == total > 50  # more than the page shows
    planned = csv_rows(analyst.get("/plan.csv?status=planned"))
    assert planned and {r["status"] for r in planned} == {"planned"}
    with TestClient(app) as inspector:
        sign_in(inspector, accounts["inspector"])
        own = csv_rows(inspector.get("/plan.csv"))
    assert 0 < len(own) < len(rows)  # an inspector's own assignments only
    reviews = analyst.get("/system-reviews")
    places = int(re.search(r"All places with every z-score \((\d+)\)", reviews.text)[1])
    ranked = xlsx_rows(
        analyst.get(re.search(r'href="(/system-reviews/ranking\.xlsx[^"]*)"', reviews.text)[1])
    )
    assert len(ranked) == places > 0
    assert any(k.startswith("z_") for k in ranked[0])
    assert signed_in["public"].get("/system-reviews/ranking.csv").status_code == 403


# --- the other tables of the pages: each download is its page's service call, every row -----------

ANALYST = Actor(user_name="analyst", role=Role.ANALYST)


def test_every_organisation_whose_band_changed_not_only_the_overviews_movers(signed_in, accounts, web_engine):
    run = latest_run(web_engine)
    with web_engine.connect() as connection:
        changed = connection.execute(
            sa.text(
                "SELECT count(*) FROM monitor_org WHERE run_id = :run "
                "AND change IN ('higher risk', 'lower risk', 'changed')"
            ),
            {"run": run},
        ).scalar_one()
    assert 'href="/monitoring/movers.csv"' in signed_in["analyst"].get("/monitoring").text
    rows = csv_rows(signed_in["analyst"].get("/monitoring/movers.csv"))
    assert len(rows) == changed > 0
    assert [r["org_code"] for r in xlsx_rows(signed_in["analyst"].get("/monitoring/movers.xlsx"))] == [
        r["org_code"] for r in rows
    ]
    own = csv_rows(signed_in["provider"].get("/monitoring/movers.csv"))
    assert {r["org_code"] for r in own} <= set(accounts["provider"].organisations)
    assert signed_in["public"].get("/monitoring/movers.csv").status_code == 403


def test_an_organisations_ratings_download_every_rating_ever_and_no_unpublished_one_to_the_public(
    signed_in, web_engine, rating_history
):
    """The profile lists 30 earlier ratings; the download every one. A proposed rating is in the
    analyst's file and absent from the public's and a provider's (not their organisation)."""
    proposed = rating_history
    with web_engine.connect() as connection:
        everything, published = connection.execute(
            sa.text(
                "SELECT count(*), sum(CASE WHEN method = 'published' THEN 1 ELSE 0 END) FROM rating "
                "WHERE org_code = 'RK950'"
            )
        ).one()
    page = signed_in["public"].get("/organisations/RK950")
    assert 'href="/organisations/RK950/ratings.csv"' in page.text
    shown = re.search(r'id="earlier-ratings".*?</table>', page.text, re.S)[0].count("<tr") - 1
    assert shown == 30
    analyst = csv_rows(signed_in["analyst"].get("/organisations/RK950/ratings.csv"))
    assert len(analyst) == everything == published + 1
    assert str(proposed) in {r["id"] for r in analyst}
    assert sum(r["current"] == "False" for r in analyst) == 35  # more than the page shows
    for role in ("public", "provider"):
        rows = xlsx_rows(signed_in[role].get("/organisations/RK950/ratings.xlsx"))
        assert len(rows) == published
        assert proposed not in {r["id"] for r in rows}
        assert {r["published"] for r in rows} == {True}


def test_an_organisations_inspections_download_hides_the_plan_from_those_it_does_not_reach(
    signed_in, web_engine
):
    """The planned (often unannounced) inspection of the page matrix's example: in the analyst's file with
    its window; the public's and a provider's hold completed inspections only, without windows."""
    from carelens.services import planning
    from carelens.store.schema_plan import plan_inspection as i

    with web_engine.connect() as connection:
        planned, code = connection.execute(
            sa.select(i.c.id, i.c.org_code).where(i.c.status == "planned").order_by(i.c.id).limit(1)
        ).one()
    page = signed_in["analyst"].get(f"/organisations/{code}")
    assert f'href="/organisations/{code}/inspections.csv"' in page.text
    rows = csv_rows(signed_in["analyst"].get(f"/organisations/{code}/inspections.csv"))
    assert len(rows) == planning.organisation_inspections(web_engine, ANALYST, code).total
    assert str(planned) in {r["id"] for r in rows} and "window_start" in rows[0]
    for role in ("public", "provider"):
        response = signed_in[role].get(f"/organisations/{code}/inspections.csv")
        assert "window_start" not in response.text.splitlines()[0]
        assert str(planned) not in {r["id"] for r in csv_rows(response)}
        assert signed_in[role].get(f"/inspections/{planned}").status_code == 404


def test_the_allocation_whatif_downloads_every_commissioner_and_region(signed_in, accounts, web_engine):
    page = signed_in["analyst"].get("/allocations")
    link = html_text.unescape(
        re.search(r'href="(/allocations/whatif/commissioners\.csv\?[^"]+)"', page.text)[1]
    )
    a, b = re.search(r"a=(\w+)&b=(\w+)", link).groups()
    comparison = funding.whatif(web_engine, ANALYST, a, b)
    rows = csv_rows(signed_in["analyst"].get(link))
    assert [r["commissioner_code"] for r in rows] == [
        c["commissioner_code"] for c in comparison["commissioners"]
    ]
    regions = xlsx_rows(signed_in["analyst"].get(f"/allocations/whatif/regions.xlsx?a={a}&b={b}"))
    assert len(regions) == len(comparison["regions"]) > 1
    mine = csv_rows(signed_in["commissioner"].get(link))
    assert {r["commissioner_code"] for r in mine} == set(accounts["commissioner"].organisations)
    assert signed_in["public"].get(link).status_code == 403


def test_the_budget_whatif_downloads_the_places_it_would_review(signed_in, web_engine):
    page = signed_in["analyst"].get("/system-reviews?budget=2000000")
    planned = int(re.search(r"; (\d+) planned cost", page.text)[1])
    link = html_text.unescape(re.search(r'href="(/system-reviews/whatif\.csv\?[^"]+)"', page.text)[1])
    rows = csv_rows(signed_in["analyst"].get(link))
    assert len(rows) == planned > 0
    assert [int(r["rank"]) for r in rows] == sorted(int(r["rank"]) for r in rows)
    assert signed_in["commissioner"].get(link).status_code == 403  # its area only, not the programme


def test_accountable_care_tables_download_whole(signed_in, web_engine):
    for table, fetch in (
        ("settlements", systems_service.aco_settlements),
        ("concentration", systems_service.market_concentration),
    ):
        assert f'href="/accountable-care/{table}.csv"' in signed_in["analyst"].get("/accountable-care").text
        rows = csv_rows(signed_in["analyst"].get(f"/accountable-care/{table}.csv"))
        assert len(rows) == fetch(web_engine, ANALYST, page_size=1000).total > 0
        assert signed_in["public"].get(f"/accountable-care/{table}.csv").status_code == 403


def test_a_scorecards_interventions_and_budgets_download_with_their_columns(signed_in, accounts):
    code = accounts["commissioner"].organisations[0]
    for table in ("interventions", "budgets"):
        response = signed_in["commissioner"].get(f"/commissioners/{code}/{table}.csv")
        assert response.text.splitlines()[0].split(",") == funding.SCORECARD_LISTS[table]
        assert signed_in["provider"].get(f"/commissioners/{code}/{table}.csv").status_code == 404


def test_regime_cases_download_every_case_the_page_counts(app, accounts, signed_in, web_engine):
    analyst = signed_in["analyst"]
    page = analyst.get("/regime?cases=all")
    total = int(re.search(r"([\d,]+) in all\)", page.text)[1].replace(",", ""))
    link = html_text.unescape(re.search(r'href="(/regime/cases\.csv[^"]*)"', page.text)[1])
    rows = csv_rows(analyst.get(link))
    assert len(rows) == total == planning.regime_cases(web_engine, ANALYST, page_size=1000).total > 0
    with TestClient(app) as inspector:
        sign_in(inspector, accounts["inspector"])
        own = csv_rows(inspector.get(link))
    assert {r["org_code"] for r in own} <= set(accounts["inspector"].organisations)
    assert signed_in["public"].get(link).status_code == 403


def test_submissions_download_to_those_who_handle_them_only(signed_in):
    response = signed_in["analyst"].get("/concerns/submissions.csv")
    assert response.status_code == 200 and response.text.startswith("id,")
    for role in ("public", "provider", "commissioner"):
        assert signed_in[role].get("/concerns/submissions.csv").status_code == 404


def test_every_overdue_review_action_downloads(signed_in, web_engine):
    rows = csv_rows(signed_in["analyst"].get("/system-reviews/overdue-actions.csv"))
    overdue = systems_service.action_list(web_engine, ANALYST, overdue_only=True, page_size=1000)
    assert len(rows) == overdue.total
    assert [int(r["days_overdue"]) for r in rows] == sorted(
        (int(r["days_overdue"]) for r in rows), reverse=True
    )
    assert signed_in["public"].get("/system-reviews/overdue-actions.csv").status_code == 403


# --- an organisation's monitoring flags and figures compared but not scored -----------------------


def test_an_organisations_flagged_indicators_download_to_those_its_monitoring_reaches(
    signed_in, accounts, web_engine
):
    """The profile's table of flagged indicators (every one the profile lists, with why), 404 to the
    public and to a provider for another organisation, as the profile shows them no such table."""
    from carelens.web.pages.organisation import monitoring_flags

    page = signed_in["analyst"].get("/organisations/RK9")
    assert 'href="/organisations/RK9/flags.csv"' in page.text
    shown = re.search(r'id="monitoring-flags".*?</table>', page.text, re.S)[0].count("<tr") - 1
    rows = csv_rows(signed_in["analyst"].get("/organisations/RK9/flags.csv"))
    flagged = monitoring_flags(web_engine, ANALYST, "RK9")["flagged"]
    assert len(rows) == len(flagged) == shown > 0
    assert all(r["flag"] in ("risk", "elevated risk") or r["spc_alert"] == "True" for r in rows)
    assert all(r["why"] for r in rows)
    own = accounts["provider"].organisations[0]
    mine = csv_rows(signed_in["provider"].get(f"/organisations/{own}/flags.csv"))
    assert {r["org_code"] for r in mine} <= {own}
    for role in ("public", "provider"):
        response = signed_in[role].get("/organisations/RK9/flags.xlsx")
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert 'href="/organisations/RK9/flags.csv"' not in signed_in[role].get("/organisations/RK9").text


def test_an_organisations_figures_compared_but_not_scored_download_whole(signed_in, web_engine):
    page = signed_in["public"].get("/organisations/RK9")
    assert 'href="/organisations/RK9/other-indicators.csv"' in page.text
    shown = re.search(r'id="other-indicators".*?</table>', page.text, re.S)[0].count("<tr") - 1
    rows = csv_rows(signed_in["public"].get("/organisations/RK9/other-indicators.csv"))
    assert len(rows) == shown > 10
    workbook = xlsx_rows(signed_in["analyst"].get("/organisations/RK9/other-indicators.xlsx"))
    assert [r["indicator_id"] for r in workbook] == [r["indicator_id"] for r in rows]
    # neither file holds an indicator the profile scores (a confidential one included)
    assert "experience_negative_share" not in {r["indicator_id"] for r in rows + workbook}


# --- the monitoring overview's bands and indicators -----------------------------------------------


def test_the_monitoring_bands_and_indicators_download_as_the_overview_lists_them(signed_in, web_engine):
    from carelens.services import monitoring as monitoring_service

    page = signed_in["analyst"].get("/monitoring")
    for table in ("bands", "indicators"):
        assert f'href="/monitoring/{table}.csv"' in page.text
        assert signed_in["public"].get(f"/monitoring/{table}.csv").status_code == 403
    summary = monitoring_service.run_summary(web_engine, ANALYST)
    bands = csv_rows(signed_in["analyst"].get("/monitoring/bands.csv"))
    assert [int(r["organisations"]) for r in bands] == [b["organisations"] for b in summary["bands"]]
    indicators = xlsx_rows(signed_in["analyst"].get("/monitoring/indicators.xlsx"))
    assert [r["indicator_id"] for r in indicators] == [i["indicator_id"] for i in summary["indicators"]]
    assert (
        len(indicators)
        == page.text.count("<tr", page.text.index('id="run-indicators"'), page.text.index('id="bands"')) - 1
    )
    # a provider's bands count its own organisations only
    own = csv_rows(signed_in["provider"].get("/monitoring/bands.csv"))
    assert sum(int(r["organisations"]) for r in own) < sum(int(r["organisations"]) for r in bands)


# --- the failure regime's overdue cases and one case's history and actions -------------------------


def test_the_regimes_overdue_cases_and_a_cases_tables_download(app, accounts, signed_in, web_engine):
    analyst = signed_in["analyst"]
    page = analyst.get("/regime")
    assert 'href="/regime/overdue.csv"' in page.text
    shown = re.search(r'id="overdue".*?</table>', page.text, re.S)[0].count("<tr") - 1
    rows = csv_rows(analyst.get("/regime/overdue.csv"))
    assert len(rows) == shown == planning.overdue_actions(web_engine, ANALYST, page_size=1000).total > 0
    days = [int(r["days_overdue"]) for r in rows]
    assert days == sorted(days, reverse=True)
    assert signed_in["public"].get("/regime/overdue.csv").status_code == 403
    case = planning.regime_case(web_engine, ANALYST, int(rows[0]["id"]))
    page = analyst.get(f"/regime/cases/{case['id']}")
    for table, key in (("history", "transitions"), ("actions", "actions")):
        if key == "transitions" or case[key]:
            assert f'href="/regime/cases/{case["id"]}/{table}.csv"' in page.text
        response = analyst.get(f"/regime/cases/{case['id']}/{table}.csv")
        assert response.text.splitlines()[0].split(",") == planning.CASE_TABLE_COLUMNS[key]
        assert len(csv_rows(response)) == len(case[key])
        assert signed_in["provider"].get(f"/regime/cases/{case['id']}/{table}.xlsx").status_code == 403
    assert len(case["transitions"]) > 1


# --- the local system reviews: reviews, directions and one review's actions -----------------------


def test_the_reviews_directions_and_a_reviews_actions_download_as_their_pages_list_them(
    signed_in, web_engine
):
    analyst = signed_in["analyst"]
    page = analyst.get("/system-reviews")
    files = {}
    for table, fetch in (
        ("reviews", systems_service.review_list),
        ("directions", systems_service.directions),
    ):
        assert f'href="/system-reviews/{table}.csv"' in page.text
        shown = re.search(rf'id="{table}".*?</table>', page.text, re.S)[0].count("<tr") - 1
        files[table] = csv_rows(analyst.get(f"/system-reviews/{table}.csv"))
        assert len(files[table]) == shown == fetch(web_engine, ANALYST, page_size=1000).total > 0
    # the public's file holds the published reports only (the demo's reviews are all planned)
    public = csv_rows(signed_in["public"].get("/system-reviews/reviews.csv"))
    assert {r["published"] for r in public} <= {"True"}
    assert len(public) == systems_service.review_list(web_engine, Actor(user_name="", role=Role.PUBLIC)).total
    assert signed_in["public"].get("/system-reviews/directions.csv").status_code == 403
    # one review's action plan, as the service gives it to the analyst (the demo's reviews have no
    # actions agreed yet: the file is the plan's columns and no row)
    review_id = int(files["reviews"][0]["review_id"])
    plan = systems_service.review(web_engine, ANALYST, review_id)["actions"]
    response = analyst.get(f"/system-reviews/{review_id}/actions.csv")
    assert response.text.splitlines()[0].split(",") == systems_service.REVIEW_ACTION_COLUMNS
    assert [r["number"] for r in csv_rows(response)] == [str(a["number"]) for a in plan]
    workbook = xlsx_rows(analyst.get(f"/system-reviews/{review_id}/actions.xlsx"))
    assert len(workbook) == len(plan)
    for role in ("public", "provider", "commissioner"):  # no action plan on their page: 404
        assert signed_in[role].get(f"/system-reviews/{review_id}/actions.csv").status_code == 404


# --- one inspection's ratings, findings and challenges --------------------------------------------


def test_an_inspections_tables_download_to_those_who_see_it_and_no_one_else(signed_in, web_engine):
    """The planned (unannounced or not) inspection of the page matrix's kind: its tables, as the report
    service gives them to the analyst, and 404 (never 403) to the public and providers."""
    from carelens.services import inspections as inspection_service
    from carelens.store.schema_plan import plan_inspection as i

    with web_engine.connect() as connection:
        planned = connection.execute(
            sa.select(i.c.id).where(i.c.status == "planned").order_by(i.c.id).limit(1)
        ).scalar_one()
    report = inspection_service.report(web_engine, ANALYST, planned)
    for table in ("ratings", "findings", "challenges"):
        response = signed_in["analyst"].get(f"/inspections/{planned}/{table}.csv")
        assert response.text.splitlines()[0].split(",") == inspection_service.REPORT_TABLE_COLUMNS[table]
        assert len(csv_rows(response)) == len(report[table])
        for role in ("public", "provider", "commissioner"):
            refused = signed_in[role].get(f"/inspections/{planned}/{table}.xlsx")
            assert refused.status_code == 404 and refused.headers["content-type"].startswith("text/html")


def test_a_sent_drafts_findings_ratings_and_challenges_download_whole_to_its_provider_only(tmp_path):
    """The inspection tests' small store, its inspection taken to a sent draft with five findings, the
    proposed ratings and one challenge: the provider's files hold what the report service shows it, the
    inspector's the same rows, the public gets 404 until publication."""
    from types import SimpleNamespace

    from carelens.app import create_app
    from carelens.services import inspections as life
    from carelens.services._db import writing
    from carelens.services.auth import NewUser, create_users, password_hasher
    from carelens.store.engine import create_engine
    from carelens.store.migrate import upgrade
    from tests.inspections.seed import CHIEF, FINDINGS, INSPECTOR, PROVIDER, PROVIDER_STAFF, seed

    from .conftest import TEST_HASH

    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    inspection_id = seed(engine)
    life.approve_plan(engine, CHIEF, 1)
    life.start(engine, INSPECTOR, inspection_id)
    for question, rating in FINDINGS.items():
        life.record_finding(
            engine, INSPECTOR, inspection_id, question, rating, f"{question}: seen", ["notes"]
        )
    life.propose(engine, INSPECTOR, inspection_id, summary="A good home")
    life.approve(engine, CHIEF, inspection_id)
    life.send_draft(engine, INSPECTOR, inspection_id)
    life.challenge(engine, PROVIDER_STAFF, inspection_id, "The audit was done on the day", "Safe")
    password = "a download password"
    with writing(engine) as connection:
        create_users(
            connection,
            [NewUser("owner", Role.PROVIDER, password, frozenset({PROVIDER}))],
            by="downloads-set-up",
            hasher=password_hasher(**TEST_HASH),
        )
    report = life.report(engine, PROVIDER_STAFF, inspection_id)
    assert len(report["findings"]) == 5 and report["ratings"] and len(report["challenges"]) == 1
    with TestClient(create_app(engine)) as public, TestClient(create_app(engine)) as owner:
        sign_in(owner, SimpleNamespace(user_name="owner", password=password))
        page = owner.get(f"/inspections/{inspection_id}")
        for table in ("ratings", "findings", "challenges"):
            assert f'href="/inspections/{inspection_id}/{table}.csv"' in page.text
            rows = csv_rows(owner.get(f"/inspections/{inspection_id}/{table}.csv"))
            assert [r["id"] for r in rows] == [str(x["id"]) for x in report[table]]
            assert len(xlsx_rows(owner.get(f"/inspections/{inspection_id}/{table}.xlsx"))) == len(rows)
            assert public.get(f"/inspections/{inspection_id}/{table}.csv").status_code == 404
    engine.dispose()


# --- search results -------------------------------------------------------------------------------------


def test_a_search_downloads_every_organisation_it_finds_best_first(signed_in, web_engine):
    """The search page shows a page of results; its download holds every one, in the page's order."""
    from carelens.services.organisations import search_organisations

    found = search_organisations(web_engine, Actor("public", Role.PUBLIC), q="plymouth", page_size=1000)
    assert found.total > 20  # more than one page of the search page
    rows = csv_rows(signed_in["public"].get("/search.csv", params={"q": "plymouth"}))
    assert [r["code"] for r in rows] == [item["code"] for item in found.items]
    assert rows[0]["code"] == found.items[0]["code"]
    page = signed_in["public"].get("/search", params={"q": "plymouth"}).text
    assert 'href="/search.csv?q=plymouth"' in page
    assert signed_in["public"].get("/search.csv", params={"q": " "}).status_code == 400
