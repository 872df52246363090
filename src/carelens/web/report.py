"""The per-organisation report as PDF: the printable HTML report (``templates/pages/report.jinja``), the
same page a browser prints, laid out for paper by WeasyPrint.

Why this way: one template means the PDF has every section of the HTML report (ratings and their
history, definitions, monitoring flags for those entitled) and can never drift from it; WeasyPrint
writes Unicode text with embedded fonts (any organisation's name prints as it is written) and needs no
browser on the server, only Pango, which Debian installs with it. The page's stylesheets, fonts and
images are read from the package's static folder; nothing is fetched from the network. Confidential
sections are marked in the page header and footer by the print stylesheet (``carelens.css``,
``@page`` margin boxes), for browsers and the PDF alike.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from carelens.services._db import Kept
from carelens.web.templating import STATIC_DIR

BASE_URL = "https://carelens.invalid/"
"""Where the report's root-relative links (``/static/...``) are resolved; never contacted."""


SVG_DATA = "data:image/svg+xml;base64,"
"""How the report's charts are written as images (:func:`_charts_as_images`)."""


def _static_fetcher():
    """A WeasyPrint URL fetcher that serves ``/static/...`` from the package and the page's own charts
    (SVG data addresses) and refuses anything else (no network: a report is made from what carelens
    holds)."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    root = Path(STATIC_DIR).resolve()

    class StaticFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            if url.startswith(SVG_DATA):  # a chart of the page, made an image by _charts_as_images
                return URLFetcherResponse(
                    url, base64.b64decode(url.removeprefix(SVG_DATA)), {"Content-Type": "image/svg+xml"}
                )
            if f"{parts.scheme}://{parts.netloc}/" != BASE_URL or not parts.path.startswith("/static/"):
                raise ValueError(f"the report reads only its own static files, not {url}")
            path = (root / unquote(parts.path.removeprefix("/static/"))).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                raise ValueError(f"no static file {parts.path}")
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": _content_type(path)})

    return StaticFetcher()


def _content_type(path: Path) -> str:
    return {
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".woff2": "font/woff2",
        ".woff": "font/woff",
    }.get(path.suffix, "application/octet-stream")


SVG = re.compile(r"<svg\b([^>]*)>[\s\S]*?</svg>")
LABEL = re.compile(r'\baria-label="([^"]*)"')
CLASS = re.compile(r'\bclass="([^"]*)"')


def _charts_as_images(html: str) -> str:
    """Each inline SVG drawing of the page as an image of the same SVG (alt text: its label).

    WeasyPrint matches the page's stylesheets against every element of the document: a report's charts
    hold tens of thousands of elements, which made a PDF take minutes. As images they are drawn by the
    same SVG renderer, outside the page's cascade (the drawings carry their own styles), in seconds."""

    def image(match: re.Match) -> str:
        svg, attributes = match.group(0), match.group(1)
        if "xmlns=" not in attributes:
            svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
        label = LABEL.search(attributes)
        css_class = CLASS.search(attributes)
        data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        return (
            f'<img class="{css_class.group(1) if css_class else ""}" alt="{label.group(1) if label else ""}"'
            f' src="{SVG_DATA}{data}">'
        )

    return SVG.sub(image, html)


STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/[^"]+)">')


@cache
def _stylesheet(href: str):
    """A stylesheet of the package's static folder, parsed once (the design system's takes seconds)."""
    from weasyprint import CSS

    return CSS(url=BASE_URL + href.lstrip("/"), url_fetcher=_static_fetcher())


SITE_FRAME = re.compile(r"<(header|footer|nav)\b[\s\S]*?</\1>")
"""The site's header (with the signed-in account), navigation and footer: hidden on paper anyway."""
PRINTED_KEPT = 16
PRINTED = Kept(PRINTED_KEPT)
"""The latest PDFs made, by a digest of what they print: a report the same for many readers (the
public's) is printed once."""


def report_pdf(html: str, title: str) -> bytes:
    """The printable report's HTML (:func:`carelens.web.pages.organisation.organisation_report`'s page)
    as a PDF, titled ``title``. The site's frame is left out before printing (the print stylesheet hides
    it), so the PDF depends only on the report itself."""
    printed = SITE_FRAME.sub("", html)
    key = hashlib.sha256(f"{title}\0{printed}".encode()).hexdigest()
    return PRINTED.get(key, lambda: _print(printed, title))


def _print(html: str, title: str) -> bytes:
    from weasyprint import HTML

    # the design system's stylesheet holds rules for screens WeasyPrint skips, each logged as a warning
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    fetcher = _static_fetcher()
    stylesheets = [_stylesheet(href) for href in STYLESHEET.findall(html)]
    page = HTML(string=_charts_as_images(STYLESHEET.sub("", html)), base_url=BASE_URL, url_fetcher=fetcher)
    document = page.render(stylesheets=stylesheets)
    document.metadata.title = title
    document.metadata.authors = ["carelens"]
    return document.write_pdf()
