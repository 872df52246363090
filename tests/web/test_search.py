"""Finding an organisation on the demo store, as people ask: the queries that found nothing or the wrong
organisation first (a postcode, a misspelling, a type and a town, the trust's current name, a code), and
page numbers that are not pages."""

from __future__ import annotations

import re

import pytest

from carelens.model.access import ANONYMOUS
from carelens.services.organisations import search_organisations

TRUST = "RK9"
"""University Hospitals Plymouth NHS Trust."""


def first_results(client, q: str, count: int = 1) -> list[str]:
    """The codes of the first results of the search page, in order."""
    page = client.get("/search", params={"q": q})
    assert page.status_code == 200, page.text[:500]
    table = re.search(r"<table.*?</table>", page.text, re.S)
    assert table, f"no results table for {q!r}"
    return re.findall(r'href="/organisations/([^"]+)"', table.group(0))[:count]


@pytest.mark.parametrize("q", ["PL6 8DH", "plymuth", "university hospitals plymouth"])
def test_the_trust_comes_first(client, q):
    assert first_results(client, q) == [TRUST]


def test_words_the_directory_does_not_hold_do_not_hide_the_others(client):
    # no street names are stored: the hospital matching both its name and postcode comes first
    assert first_results(client, "Derriford Road PL6 8DH", count=2) == ["RK950"]
    assert first_results(client, "university hospitals plymuoth nonsense") == [TRUST]


def test_a_care_home_in_exeter_comes_first(client, web_engine):
    page = search_organisations(web_engine, ANONYMOUS, q="care home exeter", page_size=10)
    assert page.total >= 40
    assert all(item["kind"] == "care_home" and item["town"] == "Exeter" for item in page.items)
    assert first_results(client, "care home exeter") == [page.items[0]["code"]]


def test_a_code_lists_the_trust_before_its_hospitals(client):
    codes = first_results(client, "RK9", count=7)
    assert codes[0] == TRUST and "RK906" in codes  # Cumberland Centre, after the trust
    assert codes == sorted(codes)  # the trust, then its locations (one level) by code


def test_results_say_where_and_why(client):
    page = client.get("/search", params={"q": "PL6 8DH"}).text
    assert "Plymouth, PL6 8DH" in page and "Matched: postcode PL6 8DH" in page
    assert "NHS trust" in page and ">RK9<" in page
    merged = client.get("/search", params={"q": "north middlesex"}).text
    assert "Matched: formerly NORTH MIDDLESEX UNIVERSITY HOSPITAL NHS TRUST" in merged
    assert "(closed)" in merged  # North Middlesex itself, closed when it joined the Royal Free


@pytest.mark.parametrize("page_number", ["0", "-3", "99999"])
def test_page_numbers_out_of_range_are_clamped(client, page_number):
    page = client.get("/search", params={"q": "plymouth", "page": page_number})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    pages = re.search(r"Page (\d+) of (\d+)", page.text)
    assert pages and pages.group(1) == ("1" if page_number in ("0", "-3") else pages.group(2))


@pytest.mark.parametrize("page_number", ["abc", "1.5", ""])
def test_a_page_that_is_not_a_number_is_a_bad_request_page(client, page_number):
    page = client.get("/search", params={"q": "plymouth", "page": page_number})
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text and "page" in page.text and '"detail"' not in page.text


def test_the_api_searches_the_same_way(client):
    found = client.get("/api/v1/organisations", params={"q": "plymuth", "page_size": 3}).json()
    assert found["items"][0]["code"] == TRUST
    assert set(found["items"][0]) == {
        "code",
        "name",
        "kind",
        "subtype",
        "sector",
        "valid_from",
        "valid_to",
        "town",
        "postcode",
        "matched",
    }
    assert client.get("/api/v1/organisations", params={"q": "x", "page": 0}).status_code == 422
