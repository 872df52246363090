"""Plain English on the pages (issue 19): each wording the issue quotes from the demo pages, as a
regression test against the same pages, and the formatter every page uses (carelens.web.formatting)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from carelens.model.access import Role
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


# --- every page, for every role ------------------------------------------------------------------------

RAW_FLOAT = re.compile(r"(?<![\d.])\d+\.\d{4,}\b")
"""A number printed as the computer holds it ("0.62634"), not as people write it."""
SNAKE_CASE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
"""An identifier ("value_type", "ae_4hr_breach"), never a word."""
METHOD_JARGON = re.compile(r"z_adjusted|tau2|\|z\||\bphi\b|O/E")
"""The stored method's shorthand: analysts' pages show it, explained; nobody else's."""
DOUBLED_WORD = re.compile(r"\b([A-Za-z]{2,}) \1\b", re.IGNORECASE)
"""The same word twice in a row ("within within")."""
BLOCK = re.compile(
    r"</?(?:h[1-6]|p|div|section|caption|th|td|tr|li|dt|dd|summary|legend|label|option)\b[^>]*>"
)
"""Tags that end a run of words: a heading's last word and the next paragraph's first are not doubled."""


def service_code_faults(page: str) -> list[str]:
    """Service codes of the CQC's API shown for a service's name: a code glued from a word of the name
    ("npimaternity", "childrens") anywhere, or any code as the whole text of a cell or term
    ("population")."""
    from carelens.web.settings import web_settings

    codes = web_settings().service_names
    text = visible_text(page)
    cells = {html.unescape(t).strip() for t in re.findall(r">([^<>]+)<", page)}
    glued = [  # a code made of a word of the name and more letters: no reader's word
        code
        for code, name in codes.items()
        if any(word in code and word != code for word in re.findall(r"[a-z]{4,}", name.lower()))
    ]
    return [
        f"service code {code}"
        for code in codes
        if code in cells or (code in glued and re.search(rf"\b{code}\b", text))
    ]


def plain_english_faults(page: str, analyst: bool = False) -> list[str]:
    """What in a page's visible text is not written for people: ISO dates, raw floats, service codes and
    doubled words (within a paragraph, heading or cell); identifiers and the method's shorthand too,
    unless the page is an analyst's (which explains them)."""
    text = visible_text(page)
    faults = [f"ISO date {m.group()}" for m in ISO_DATE.finditer(text)]
    faults += [f"raw number {m.group()}" for m in RAW_FLOAT.finditer(text)]
    if not analyst:
        faults += [f"identifier {m.group()}" for m in SNAKE_CASE.finditer(text)]
        faults += [f"jargon {m.group()}" for m in METHOD_JARGON.finditer(text)]
    faults += service_code_faults(page)
    runs = visible_text(BLOCK.sub(" ¶ ", page))
    faults += [f"doubled word {m.group()!r}" for m in DOUBLED_WORD.finditer(runs)]
    return sorted(set(faults))


def html_pages() -> list[str]:
    """Every page of the page matrix that answers with HTML (not a download), then a hospital with
    service ratings and the provider's own profile."""
    from .test_page_matrix import MATRIX

    matrix = [
        path
        for method, path, _ in MATRIX
        if method == "GET" and not re.search(r"\.(csv|xlsx|pdf)(\?|$)", path)
    ]
    return list(dict.fromkeys([*matrix, "/organisations/RK950", "/organisations/{provider}"]))


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_every_page_reads_plainly(app, accounts, examples, role):
    """Every page a role opens (and the error page of each it may not) is written for people: no ISO
    dates, numbers to four or more decimals, service codes or the same word twice in a row; and, but
    for analysts (whose pages explain them), no snake_case identifiers or the comparison method's
    shorthand (|z|, tau2, z_adjusted)."""
    found = {}
    with TestClient(app) as client:
        if role is not Role.PUBLIC:
            sign_in(client, accounts[role.value])
        for path in html_pages():
            url = path.format(**examples)
            response = client.get(url)
            assert response.headers["content-type"].startswith("text/html"), url
            faults = plain_english_faults(response.text, analyst=formatting.reads_technical_detail(role))
            if faults:
                found[url] = faults
    assert not found, "\n".join(f"{url}: {'; '.join(faults)}" for url, faults in found.items())


def test_the_method_is_plain_for_everyone_and_explained_for_analysts(client, accounts):
    """The SHMI's "How this is measured and compared": a funnel plot against similar organisations and the
    95% range in words for the public; the stored method after it for an analyst, its shorthand
    explained."""
    public = visible_text(client.get("/organisations/RK9/indicators/shmi").text)
    assert "on a funnel plot against similar organisations" in public
    assert "outside the range expected at 95%" in public and "Technical detail" not in public
    sign_in(client, accounts["analyst"])
    analyst = visible_text(client.get("/organisations/RK9/indicators/shmi").text)
    assert "Technical detail: funnel (ratio O/E, log scale, rank trim" in analyst
    assert "|z| is how many standard errors" in analyst and "τ² (tau2)" in analyst
