"""The per-organisation report as PDF, made on the server with no browser.

Why this way: fpdf2 is pure Python (installs from PyPI anywhere, no system libraries) and the charts
come from the same Vega-Lite specs as the web page, rendered to PNG by vl-convert. Printing the HTML
with headless Chromium would need a browser on every server; WeasyPrint needs Pango from the system.
The printable HTML page (``/organisations/<code>/report``) is the same content for browsers.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from carelens.web.templating import format_number

REPLACEMENTS = {
    "–": "-",
    "—": "-",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
    "·": "-",
    "≥": ">=",
    "≤": "<=",
    "τ": "tau",
    "φ": "phi",
}
"""Characters outside the PDF core fonts' Latin-1 set, and what to print instead."""


def _text(value: Any) -> str:
    text = format_number(value) if not isinstance(value, str) else value
    for old, new in REPLACEMENTS.items():
        text = text.replace(old, new)
    return text.encode("latin-1", "replace").decode("latin-1")


def report_pdf(view: dict[str, Any]) -> bytes:
    """A PDF of one organisation's profile (:func:`carelens.web.pages.organisation.profile_view`)."""
    from fpdf import FPDF

    org = view["organisation"]
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(_text(f"carelens report: {org['name'] or org['code']}"))
    pdf.set_author("carelens")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str, size: int) -> None:
        pdf.set_font("Helvetica", "B", size)
        pdf.multi_cell(width, size * 0.5, _text(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def para(text: str, size: int = 10) -> None:
        pdf.set_font("Helvetica", "", size)
        pdf.multi_cell(width, 5, _text(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def table(head: list[str], rows: list[list[Any]]) -> None:
        pdf.set_font("Helvetica", "", 9)
        with pdf.table(width=width, text_align="LEFT", line_height=5) as out:
            out.row([_text(h) for h in head])
            for row in rows:
                out.row([_text(v) for v in row])
        pdf.ln(2)

    heading(org["name"] or org["code"], 18)
    para(f"{view['kind_name']} - code {org['code']} - report made {dt.date.today():%d %B %Y}", 9)
    heading("Ratings", 14)
    para(view["explanation"])
    if view["overall_ratings"]:
        table(
            ["Question", "Rating", "Report date"],
            [[r["key_question"], r["rating"], r["report_date"] or "-"] for r in view["overall_ratings"]],
        )
    if view["provider_ratings"]:
        table(
            ["Question", "Rating", "From", "Location ratings it came from", "Status"],
            [
                [
                    r["key_question"],
                    r["rating"],
                    r["effective_date"],
                    r["ratings"],
                    "published" if r["published"] else "proposed, not published",
                ]
                for r in view["provider_ratings"]
            ],
        )
        para(f"Rule: {view['provider_ratings'][0]['rule']}.", 9)
    if view["service_ratings"]:
        table(
            ["Service", "Question", "Rating", "Report date"],
            [
                [r["service"], r["key_question"], r["rating"], r["report_date"] or "-"]
                for r in view["service_ratings"]
            ],
        )
    heading("Figures compared with similar organisations", 14)
    if view["any_suppressed"]:
        para(view["suppression_note"], 9)
    if not view["panels"]:
        para("There are no published figures for this organisation.")
    for panel in view["panels"]:
        heading(panel.title, 11)
        shown = "suppressed" if panel.suppressed else None
        comparison = (
            f"{panel.comparison}: {panel.comparison_text}" if panel.comparison_text else "not compared"
        )
        table(
            ["Latest period", "Value", "Numerator", "Denominator or expected", "Compared with peers"],
            [
                [
                    panel.period,
                    shown or panel.value,
                    shown or panel.numerator,
                    shown or panel.denominator,
                    comparison,
                ]
            ],
        )
        for name, note in (("funnel", panel.funnel_note), ("spc", panel.spc_note)):
            chart = panel.charts.get(name)
            if chart is not None:
                pdf.image(
                    io.BytesIO(chart.png(scale=2)), w=min(width, 150), alt_text=_text(chart.description)
                )
            if note:
                para(note, 8)
    return bytes(pdf.output())
