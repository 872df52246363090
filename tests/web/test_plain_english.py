"""Plain English on the pages (issue 19): each wording the issue quotes from the demo pages, as a
regression test against the same pages, and the formatter every page uses (carelens.web.formatting)."""

from __future__ import annotations

import html
import re

import pytest

from carelens.web import formatting

from .conftest import sign_in

JARGON = ("Denominator or expected", "additive random effects", "tau2", "within within", "z_adjusted")
"""Wordings the issue found on public pages."""
ISO_DATE = re.compile(r"\b(19|20)\d\d-\d\d-\d\d\b")


def visible_text(page: str) -> str:
    """What a reader sees: the page without scripts, styles, drawings and attributes."""
    page = re.sub(r"<(script|style|svg)\b[\s\S]*?</\1>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def section(page: str, table_id: str) -> str:
    start = page.index(f'id="{table_id}"')
    return page[start : page.index("</table>", start)]


def test_the_formatter_writes_figures_as_people_do():
    assert formatting.percent(0.0267) == "2.7%"
    assert formatting.figure(0.0267, "percent") == "2.7%"
    assert formatting.money(11314562055.8020) == "£11.3 billion"
    assert formatting.money(11314562055.8020, "full") == "£11,314,562,056"
    assert formatting.money(452_100_000) == "£452.1 million"
    assert formatting.money(-1_234.4, "full") == "−£1,234"
    assert formatting.signed_percent(0.00133, 2) == "+0.13%" and formatting.signed_percent(-0.0121) == "−1.2%"
    assert formatting.date("2019-12-18") == "18 December 2019"
    assert formatting.date("2026-03-01T10:15:00") == "1 March 2026"
    assert formatting.month("2024-03-01") == "March 2024"
    assert formatting.date(None) == formatting.month(None) == formatting.money(None) == "–"
    assert formatting.service_name("npimaternity") == "Maternity"
    assert formatting.service_name("care") == "Medical care (including older people's care)"
    assert formatting.service_name("no-such-code") == "no-such-code"
    assert (
        formatting.sentence("monitoring results are confidential") == "Monitoring results are confidential."
    )


def test_key_questions_come_in_the_cqc_order_never_alphabetically():
    rows = [{"key_question": q} for q in ("Well-led", "Caring", "Effective", "Overall", "Responsive", "Safe")]
    ordered = [r["key_question"] for r in formatting.by_key_question(rows)]
    assert ordered == ["Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led"]


def test_the_explanation_lists_questions_in_order_and_never_overall_as_an_area_to_improve():
    from carelens.services.ratings import explain

    def rating(question: str, value: str) -> dict:
        return {"service": "Overall", "key_question": question, "rating": value, "published": True}

    given = [
        ("Well-led", "Inadequate"),
        ("Caring", "Requires improvement"),
        ("Overall", "Requires improvement"),
    ]
    given += [("Safe", "Requires improvement"), ("Responsive", "Good"), ("Effective", "Good")]
    text = explain({"name": "Clinic"}, [rating(q, r) for q, r in given])
    assert text.endswith("Areas needing improvement: safe, caring, well-led.")
    assert "ratings are safe: Requires improvement; effective: Good; caring: Requires improvement; " in text
    report = explain({"name": "Clinic"}, [rating("Overall", "Good") | {"report_date": "2019-12-18"}])
    assert "in the report of 18 December 2019" in report


@pytest.mark.parametrize("path", ["/organisations/RK9", "/organisations/RK950", "/league-tables"])
def test_no_jargon_or_iso_dates_on_public_pages(client, path):
    text = visible_text(client.get(path).text)
    assert not [word for word in JARGON if word in text], path
    assert not ISO_DATE.search(text), ISO_DATE.search(text)


def test_the_trusts_figures_are_percentages_and_its_limits_plain(client):
    text = visible_text(client.get("/organisations/RK9").text)
    assert re.search(r"Value \d+\.\d%", text)  # a proportion as "62.6%", never "0.626"
    assert "widened for the differences between organisations that chance alone does not explain" in text
    assert "Count" in text and "Out of" in text


def test_a_hospitals_services_are_named_as_the_cqc_names_them_in_order(client):
    """Derriford Hospital (RK950): CQC's service names, its key questions Safe → Well-led, the report's
    date in words, and the overall rating never an area needing improvement."""
    page = client.get("/organisations/RK950").text
    text = visible_text(page)
    assert "Maternity" in text and "Urgent and emergency services" in text
    assert "Medical care (including older people's care)" in text
    for code in ("npimaternity", "npioutpatients"):
        assert code not in text
    services = visible_text(page[page.index("Ratings of services") :])
    first = services[services.index("Medical care (including older people's care)") :][:2000]
    questions = re.findall(r"Question (Overall|Safe|Effective|Caring|Responsive|Well-led)", first)
    assert questions[:6] == ["Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led"]
    assert "18 December 2019" in text
    improvement = re.search(r"Areas needing improvement: ([^.]*)\.", text)
    assert improvement and "overall" not in improvement.group(1)
    assert improvement.group(1) == "safe, effective, responsive, well-led"  # in the CQC's order


def test_the_league_table_names_its_columns_and_writes_percentages(client):
    page = client.get("/league-tables").text
    table = section(page, "league-table")
    assert ">Out of " in table and "Denominator" not in table
    assert re.search(r"\d+\.\d%", visible_text(table))


def test_monitoring_reasons_are_sentences_with_titles_not_ids(client, accounts):
    sign_in(client, accounts["analyst"])
    table = section(client.get("/monitoring").text, "flags")
    text = visible_text(table)
    assert "z_adjusted" not in text and "risk limits" not in text and not re.search(r"\de-0\d", text)
    assert "further from its peers, in the worse direction, than chance alone is likely to explain" in text
    assert re.search(r"The figure, \d+\.\d%, compares with \d+\.\d%", text)
    assert "A&amp;E attendances waiting over 4 hours" in table and "ae_4hr_breach" not in text
    profile = visible_text(section(client.get("/organisations/RK9").text, "monitoring-flags"))
    assert "z_adjusted" not in profile and "The figure, " in profile


def test_the_scorecard_writes_money_with_its_unit(client, accounts):
    sign_in(client, accounts["commissioner"])
    text = visible_text(client.get("/commissioners/QOP").text)
    assert re.search(r"Target £\d+\.\d billion \(£[\d,]+\)", text)
    assert "Distance from target +0.13%" in text
    assert "0.00133" not in text and "Allocation per head £1,879" in text


@pytest.mark.parametrize("path", ["/monitoring", "/allocations", "/accountable-care"])
def test_a_refusal_is_a_sentence(client, path):
    page = client.get(path)
    assert page.status_code == 403
    message = re.search(r"</h1>\s*<p>([^<]+)</p>", page.text).group(1)
    assert message[0].isupper() and message.endswith("."), message
    assert 'href="/login"' in page.text
