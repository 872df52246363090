"""The trust page and the API show a trust's ratings aggregated from its hospitals' ratings, with the rule
(issue 14, item 6: RK9's page said "no published rating yet" although its hospitals are rated)."""

from __future__ import annotations

import re

from .conftest import sign_in


def test_public_trust_page_shows_the_aggregated_rating_and_the_rule(client):
    page = client.get("/organisations/RK9")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "no published rating yet" not in text
    assert "is rated Requires improvement overall from 18 December 2019" in text
    assert "aggregated from 9 ratings of 2 of its locations by the NHS trust rating principles" in text
    table = text[text.index('id="provider-ratings"') :]
    table = table[: table.index("</table>")]
    assert "Caring" in table and "Outstanding" in table and "published" in table
    assert "RK950 Caring: Outstanding (18 December 2019)" in text  # a location rating it came from
    assert "Region" in text and "South West" in text  # its region, from the ODS trust file


def test_api_profile_and_ratings_carry_the_provider_ratings(client):
    profile = client.get("/api/v1/organisations/RK9").json()
    overall = next(r for r in profile["provider_ratings"] if r["key_question"] == "Overall")
    assert (overall["level"], overall["rating"], overall["published"]) == (
        "provider",
        "Requires improvement",
        True,
    )
    assert overall["rule"].startswith("NHS trust rating principles")
    assert (overall["locations"], overall["ratings"]) == (2, 9)
    assert {b["location_id"] for b in overall["based_on"]} == {"RK901", "RK950"}
    assert (
        "Requires improvement overall because two ratings, Effective and Responsive" in overall["explanation"]
    )
    assert "no published rating yet" not in profile["explanation"]
    ratings = client.get("/api/v1/organisations/RK9/ratings").json()
    assert ratings["provider_ratings"] == profile["provider_ratings"]
    assert ratings["explanation"] == profile["explanation"]


def test_a_trust_with_no_rated_hospital_still_says_so(client):
    profile = client.get("/api/v1/organisations/RXN").json()
    assert profile["provider_ratings"] == []
    assert profile["explanation"].endswith("has no published rating yet.")


def test_the_printable_report_carries_the_trust_ratings(client, accounts):
    sign_in(client, accounts["analyst"])
    report = client.get("/organisations/RK9/report")
    assert report.status_code == 200 and 'id="provider-ratings"' in report.text
    assert client.get("/organisations/RK9/report.pdf").status_code == 200
