"""HTTP behaviour: JSON and CSV, pagination, ETags and caching headers, search, league tables."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from carelens.app import create_app
from carelens.model.access import Role

from .conftest import ORGS, auth
from .systems_seed import SYSTEMS_ORGS


def test_etag_gives_304_when_unchanged(client):
    first = client.get("/api/v1/organisations")
    assert first.status_code == 200 and first.headers["etag"]
    again = client.get("/api/v1/organisations", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = client.get("/api/v1/organisations", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_confidential_responses_are_never_stored_and_public_ones_may_be_cached(client, tokens):
    public = client.get("/api/v1/organisations/P1")
    assert public.headers["cache-control"].startswith("public")
    signed_in = client.get("/api/v1/organisations/P1", headers=auth(tokens[Role.PROVIDER]))
    assert signed_in.headers["cache-control"] == "no-store"
    assert "Authorization" in signed_in.headers["vary"]
    assert client.get("/api/v1/ratings/2").headers["cache-control"] == "no-store"  # a 404


def test_csv_output_and_pagination(client):
    organisations = len(ORGS) + len(SYSTEMS_ORGS)  # 19: 6 pages of 3 and a last page of 1
    page1 = client.get("/api/v1/organisations?page_size=3").json()
    page7 = client.get("/api/v1/organisations?page_size=3&page=7").json()
    assert page1["total"] == organisations and page1["pages"] == 7 and len(page1["items"]) == 3
    assert len(page7["items"]) == 1
    assert {o["code"] for o in page1["items"]}.isdisjoint(o["code"] for o in page7["items"])
    response = client.get("/api/v1/organisations?format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == organisations and rows[0].keys() >= {"code", "name", "kind"}


def test_search_by_name_code_or_place(client):
    def codes(q):
        return sorted(o["code"] for o in client.get("/api/v1/organisations", params={"q": q}).json()["items"])

    assert codes("alpha") == ["L1", "P1"]
    assert codes("p2") == ["P2"]
    assert codes("plymouth") == ["G1", "LA1"]  # the council itself, and the practice in its area
    assert codes("100%_") == []


def test_league_table_ranks_best_first_and_hides_small_numbers_from_the_public(client, tokens):
    public = client.get("/api/v1/league-tables/ind_p").json()
    ranked = [(r["rank"], r["org_code"]) for r in public["items"]]
    # lower is better: L2 0.15 > G1 0.04; P1 (3/100) and P2 (5/100) are small numbers, listed last unranked
    assert ranked == [(1, "G1"), (2, "L2"), (None, "P1"), (None, "P2")]
    analyst = client.get("/api/v1/league-tables/ind_p", headers=auth(tokens[Role.ANALYST])).json()
    assert [(r["rank"], r["org_code"]) for r in analyst["items"]] == [
        (1, "P1"),
        (2, "G1"),
        (3, "P2"),
        (4, "L2"),
    ]
    paged = client.get("/api/v1/league-tables/ind_p?page=2&page_size=3").json()
    assert paged["total"] == 4 and [r["org_code"] for r in paged["items"]] == ["P2"]


def test_league_table_sorts_and_refuses_an_unknown_order(client, tokens):
    analyst = auth(tokens[Role.ANALYST])
    by_name = client.get("/api/v1/league-tables/ind_p?sort=name", headers=analyst).json()["items"]
    names = [r["name"] for r in by_name]
    assert names == sorted(names, key=str.casefold)
    backwards = client.get("/api/v1/league-tables/ind_p?sort=rank&order=descending", headers=analyst).json()
    assert [r["rank"] for r in backwards["items"]] == [4, 3, 2, 1]
    assert all(r["band"] is None for r in backwards["items"])  # ind_p is not banded by a publisher
    assert client.get("/api/v1/league-tables/ind_p?sort=nope").status_code == 422


def test_a_league_download_suppresses_small_numbers_for_the_public_as_the_page_does(client, tokens):
    """P1 (3/100) and P2 (5/100) are small numbers: blank and unranked in the public's file, shown to
    the analyst, whose file is never cached."""

    def rows(headers=None):
        response = client.get("/league-tables.csv?indicator=ind_p", headers=headers or {})
        assert response.status_code == 200
        return response, {r["org_code"]: r for r in csv.DictReader(io.StringIO(response.text))}

    public_response, public = rows()
    assert public_response.headers["cache-control"].startswith("public")
    assert [public[c]["suppressed"] for c in ("P1", "P2")] == ["True", "True"]
    assert all(public[c][k] == "" for c in ("P1", "P2") for k in ("numerator", "value", "rank"))
    analyst_response, analyst = rows(auth(tokens[Role.ANALYST]))
    assert analyst_response.headers["cache-control"] == "no-store"
    assert float(analyst["P1"]["numerator"]) == 3 and analyst["P1"]["rank"] == "1"


def test_profile_explains_ratings_in_plain_english(client):
    profile = client.get("/api/v1/organisations/L1").json()
    assert profile["explanation"].startswith("Alpha General Hospital is rated Good overall")
    assert [i["indicator_id"] for i in profile["indicators"]] == []
    p1 = client.get("/api/v1/organisations/P1").json()
    assert {i["indicator_id"] for i in p1["indicators"]} == {"ind_n", "ind_p"}
    assert {r["code"] for r in p1["relationships"]} == {"L1"}


def test_an_overall_rating_on_part_of_the_key_questions_says_so():
    """CQC rates outpatients and diagnostic services overall without effective: the explanation says
    what the overall rests on, never presenting four key questions as the five."""
    from carelens.services.ratings import explain

    def rating(question: str, value: str) -> dict:
        return {"service": "Overall", "key_question": question, "rating": value, "published": True}

    four = [
        rating("Overall", "Good"),
        *(rating(q, "Good") for q in ("Safe", "Caring", "Responsive", "Well-led")),
    ]
    text = explain({"name": "Clinic"}, [*four, rating("Effective", "Insufficient evidence to rate")])
    assert text.endswith("The overall rating rests on 4 of the 5 key questions: effective is not rated.")
    complete = explain({"name": "Clinic"}, [*four, rating("Effective", "Good")])
    assert "rests on" not in complete and complete.startswith("Clinic is rated Good overall.")


def test_synchronous_routes_run_on_the_configured_number_of_threads(api_engine, monkeypatch):
    """``request_threads`` bounds the thread pool that runs synchronous routes (AnyIO's default is 40)."""
    import anyio.to_thread

    from carelens.services.settings import get_settings

    def threads_in_use_by_the_app(client: TestClient) -> float:
        return client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)

    with TestClient(create_app(api_engine)) as started:
        assert threads_in_use_by_the_app(started) == get_settings().request_threads == 2
        assert started.get("/api/v1/organisations").status_code == 200
    monkeypatch.setenv("CARELENS_REQUEST_THREADS", "3")
    get_settings.cache_clear()
    try:
        with TestClient(create_app(api_engine)) as started:
            assert threads_in_use_by_the_app(started) == 3
    finally:
        monkeypatch.delenv("CARELENS_REQUEST_THREADS")
        get_settings.cache_clear()


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised_and_numbers_stay_numbers():
    from carelens.api.responses import _csv

    rows = [
        {"name": text, "value": -3.5, "n": -2, "nested": {"note": text}}
        for text in (
            '=HYPERLINK("http://x","y")',
            "+1+2",
            "-1+2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "-3.5",
            "1e5",
            "ok",
        )
    ]
    text = _csv(rows, ["name", "value", "n", "nested.note"]).decode()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == ["name", "value", "n", "nested.note"]
    names = [r[0] for r in parsed[1:]]
    assert names == [
        '\'=HYPERLINK("http://x","y")',
        "'+1+2",
        "'-1+2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "-3.5",
        "1e5",
        "ok",
    ]
    assert {(r[1], r[2]) for r in parsed[1:]} == {("-3.5", "-2")}  # a negative number is not a formula
    assert [r[3] for r in parsed[1:]] == names  # fields of objects too


def test_csv_exports_of_names_and_the_audit_log_cannot_carry_formulas(client, tokens, api_engine):
    from carelens.store import schema
    from carelens.store.testing import seed_import, seed_organisations

    formula = '=HYPERLINK("http://evil.example","Click")'
    with api_engine.begin() as c:
        seed_organisations(
            c,
            [dict(code="F1", name=formula, kind="location", sector="hospitals")],
            seed_import(c, "f", "test"),
        )
    try:
        exported = client.get("/api/v1/organisations?q=f1&format=csv").text
        (row,) = list(csv.DictReader(io.StringIO(exported)))
        assert row["name"] == "'" + formula
        client.post("/api/v1/auth/token", json={"user_name": "@SUM(1+1)*cmd|' /C calc'!A0", "password": "x"})
        audit = client.get("/api/v1/audit?format=csv&action=login.failed", headers=auth(tokens[Role.ADMIN]))
        keys = [r["entity_key"] for r in csv.DictReader(io.StringIO(audit.text))]
        assert "'@SUM(1+1)*cmd|' /C calc'!A0" in keys
        assert not any(k.startswith(("=", "+", "-", "@")) for k in keys)
    finally:
        with api_engine.begin() as c:
            c.execute(schema.organisation.delete().where(schema.organisation.c.code == "F1"))
