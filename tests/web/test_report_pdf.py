"""One report (issue 19): the PDF is the printable HTML report printed, so it has the same sections as the
HTML (rating history and definitions included), keeps any character of an organisation's name, and says
"Confidential" in its header and footer when it holds confidential sections, which those not entitled
never get, in HTML or PDF.

The text of each PDF is extracted with pypdf. BRANSHOLME HEALTH CENTRE (NNF09) has one indicator and a
risk flag in the demo's monitoring run; Derriford Hospital (RK950) has service ratings and earlier ratings.
"""

from __future__ import annotations

import html
import io
import re

import pytest
import sqlalchemy as sa

from .conftest import sign_in

pypdf = pytest.importorskip("pypdf")

FLAGGED = "NNF09"
RATED = "RK950"


def pdf_text(content: bytes) -> str:
    """The PDF's text, pages joined, runs of white space as one space."""
    assert content.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def pdf_pages(content: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(content)).pages]


def headings(page: str) -> list[str]:
    """The report's headings as a reader sees them, in order: h1 to h3, tables' captions and the titles
    of expandable definitions."""
    page = re.sub(r'<span class="nhsuk-u-visually-hidden">[^<]*</span>', "", page)  # not printed
    found = re.findall(r"<(h[1-3]|caption|summary)\b([^>]*)>([\s\S]*?)</\1>", page)
    texts = [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inner)).split())
        for _, attributes, inner in found
        if "visually-hidden" not in attributes  # the site footer's "Support links": not printed
    ]
    return [t for t in texts if t]


def report(client, code: str) -> tuple[str, bytes]:
    page = client.get(f"/organisations/{code}/report")
    pdf = client.get(f"/organisations/{code}/report.pdf")
    assert page.status_code == 200 and pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    return page.text, pdf.content


def in_order(text: str, wanted: list[str]) -> list[str]:
    """The items of ``wanted`` not found in ``text`` after the previous one."""
    missing, at = [], 0
    for item in wanted:
        found = text.find(item, at)
        if found < 0:
            missing.append(item)
        else:
            at = found + len(item)
    return missing


@pytest.mark.parametrize(("role", "code"), [("public", RATED), ("analyst", FLAGGED)])
def test_the_pdf_has_the_html_reports_sections_in_order(client, accounts, role, code):
    if role != "public":
        sign_in(client, accounts[role])
    page, pdf = report(client, code)
    wanted = headings(page)
    assert len(wanted) >= 4, wanted
    text = pdf_text(pdf)
    assert not in_order(text, wanted), (in_order(text, wanted), text[:3000])
    if code == RATED:  # what the hand-written PDF dropped: definitions (and earlier ratings, when any)
        assert "Ratings of services" in wanted and "What the ratings mean" in wanted
        assert "Inspectors ask five questions of every service" in text
        assert "Maternity" in text and "18 December 2019" in text
    else:
        assert "How this is measured and compared" in text


def test_an_analysts_report_is_marked_confidential_in_header_and_footer(client, accounts):
    sign_in(client, accounts["analyst"])
    page, pdf = report(client, FLAGGED)
    assert "Monitoring flags Confidential" in headings(page)
    assert page.count('class="carelens-confidential"') == 2  # above and below the report
    pages = pdf_pages(pdf)
    text = " ".join(pages)
    assert "Monitoring flags Confidential" in text and "Flagged indicators and why" in text
    for number, content in enumerate(pages, start=1):
        # the header's and the footer's marking, on every page
        assert content.count("Confidential") >= 2, (number, content[-300:])
        assert f"Page {number} of {len(pages)}" in content


@pytest.mark.parametrize("role", ["public", "provider"])
def test_those_not_entitled_get_no_confidential_section_in_html_or_pdf(client, accounts, role):
    if role != "public":
        sign_in(client, accounts[role])
        assert FLAGGED not in accounts[role].organisations
    page, pdf = report(client, FLAGGED)
    text = pdf_text(pdf)
    for shown in (page, text):
        assert "Monitoring flags" not in shown and "Flagged indicators" not in shown
        assert "Confidential" not in shown and "risk" not in re.sub(r"<[^>]+>", "", shown).lower()
    # the check can fail: the analyst's report of the same organisation has the section
    sign_in(client, accounts["analyst"])
    assert "Monitoring flags" in pdf_text(client.get(f"/organisations/{FLAGGED}/report.pdf").content)


def test_a_name_outside_latin_1_prints_as_it_is_written(client, web_engine):
    """The hand-written PDF printed '?' for characters outside Latin-1."""
    from carelens.store import schema

    name = "Canolfan Iechyd Ŵy’r Ŷd – Łódź Œuvre"
    code = "ZZUNICODE1"
    with web_engine.begin() as c:
        c.execute(sa.insert(schema.organisation).values(code=code, name=name, kind="care_home"))
    try:
        page, pdf = report(client, code)
        assert html.escape(name, quote=False) in page or name in html.unescape(page)
        text = pdf_text(pdf)
        assert name in text and "?" not in text.replace("?)", "")
        assert pypdf.PdfReader(io.BytesIO(pdf)).metadata.title == f"Report: {name}"
    finally:
        with web_engine.begin() as c:
            c.execute(sa.delete(schema.organisation).where(schema.organisation.c.code == code))
