"""The Jinja2 environment of the web pages.

All design-system markup lives in one template folder, ``templates/<DESIGN_SYSTEM>/``: its
``layout.jinja`` (the page frame) and ``ui.jinja`` (every component a page uses: tables, tags, forms,
figures...). Pages in ``templates/pages/`` use only those macros and plain semantic HTML, so another
look (e.g. GOV.UK Frontend for a regulator) is a new folder with the same two files.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader
from markupsafe import Markup, escape

from carelens.web import formatting
from carelens.web.formatting import number as format_number

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
DESIGN_SYSTEM = "nhsuk"
"""Folder of ``templates/`` holding the design-system layer (NHS.UK frontend, components from the
``nhsuk-frontend-jinja`` package; its CSS and JS are vendored in ``static/nhsuk/``)."""


@cache
def environment() -> Environment:
    """The shared template environment (autoescaped; chained undefined as the NHS.UK macros need)."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(TEMPLATES_DIR), PackageLoader("nhsuk_frontend_jinja")]),
        undefined=ChainableUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # packaged templates do not change while serving (no stat() per render)
    )
    env.globals["design"] = DESIGN_SYSTEM
    env.filters.update(formatting.filters())
    env.globals["count_labels"] = formatting.count_labels
    env.globals["peer_group_name"] = formatting.peer_group_name
    env.globals["reads_technical_detail"] = formatting.reads_technical_detail
    env.filters["exact"] = exact
    env.filters["combine"] = lambda a, b: {**a, **b}
    env.globals["table_cells"] = table_cells
    env.globals["sort_as"] = SortAs
    env.globals["nhs_table"] = nhs_table
    env.globals["nhs_tag"] = nhs_tag
    env.globals["nhs_summary"] = nhs_summary
    env.globals["site_part"] = site_part
    env.globals["nhs_details"] = nhs_details
    env.globals["nhs_warning"] = nhs_warning
    env.globals["marked"] = marked
    env.globals["org_link"] = org_link
    env.globals["inspection_link"] = inspection_link
    env.globals["case_link"] = case_link
    env.globals["download_links"] = download_links
    return env


def render(template: str, **context) -> str:
    """Render ``pages/<template>`` with ``context``."""
    return environment().get_template(f"pages/{template}").render(**context)


def exact(value) -> str:
    """A value written so it reads back exactly (for machine-readable attributes): full float precision,
    empty for missing."""
    if value is None or value != value:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


class SortAs(NamedTuple):
    """A table cell shown as ``shown`` (text or Markup) and sorted in the browser by ``value``, the raw
    number or ISO date ("2.7%" by 0.027, "18 December 2019" by 2019-12-18); None sorts last."""

    shown: Any
    value: Any


def table_cells(head, rows, numeric=()) -> dict:
    """Head and rows in the shape the design system's table macro takes; ``numeric`` columns are
    right-aligned and formatted with :func:`format_number`, and sorted by their raw number. Cells that
    are Markup are kept as HTML; a :class:`SortAs` cell carries the value it sorts by (``sort``)."""

    def cell(value, i):
        entry = {"format": "numeric"} if i in numeric else {}
        if isinstance(value, SortAs):
            value, entry = value.shown, entry | {"sort": exact(value.value)}
        elif i in numeric and not isinstance(value, Markup):
            entry |= {"sort": exact(value) if isinstance(value, int | float) else ""}
        if isinstance(value, Markup):
            return entry | {"html": value}
        return entry | {
            "text": format_number(value) if i in numeric else ("–" if value is None else str(value))
        }

    return {
        "head": [{"text": t} | ({"format": "numeric"} if i in numeric else {}) for i, t in enumerate(head)],
        "rows": [[cell(v, i) for i, v in enumerate(row)] for row in rows],
    }


def nhs_tag(text, colour: str = "grey"):
    """The NHS.UK tag component's markup (``<strong class="nhsuk-tag nhsuk-tag--grey">``), built directly:
    pages show one per table row, and the component macro costs more than the rest of a row."""
    return Markup(f'<strong class="nhsuk-tag nhsuk-tag--{_html(colour)}">{_html(text)}</strong>')


def site_part(part: str, account: str | None = None, nav=None, own=None):
    """The site ``header`` (for a signed-in account's label, or the public; ``own``: the role's own
    pages, ``nav``: the other pages), ``breadcrumbs`` (``nav``: the parent pages) or ``footer``, as
    HTML. Drawn by ``templates/<design>/site_parts.jinja``, once per combination."""
    return _site_part(part, account, _nav_key(nav), _nav_key(own))


def _nav_key(links) -> tuple:
    return tuple((item["text"], item["href"], bool(item.get("current"))) for item in links or ())


@lru_cache(maxsize=1024)
def _site_part(part: str, account: str | None, nav: tuple, own: tuple):
    def items(links):
        return [{"text": text, "href": href, "current": current} for text, href, current in links]

    template = environment().get_template(f"{DESIGN_SYSTEM}/site_parts.jinja")
    return Markup(template.render(part=part, account=account, nav=items(nav), own=items(own)))


def nhs_details(summary, html):
    """The NHS.UK details (expander) component's markup, built directly (one per indicator panel)."""
    return Markup(
        '<details class="nhsuk-details"><summary class="nhsuk-details__summary">'
        '<span class="nhsuk-details__summary-text">{}</span></summary>'
        '<div class="nhsuk-details__text">{}</div></details>'
    ).format(summary, html)


def nhs_warning(heading, html):
    """The NHS.UK warning callout's markup, built directly."""
    return Markup(
        '<div class="nhsuk-card nhsuk-card--warning"><div class="nhsuk-card__content">'
        '<h3 class="nhsuk-card__heading"><span role="text"><span class="nhsuk-u-visually-hidden">'
        "Important: </span>{}</span></h3>{}</div></div>"
    ).format(heading, html)


def marked(inner, **data):
    """``inner`` (Markup or text) in a ``<span>`` carrying ``data-*`` attributes (values written with
    :func:`exact`), so tests and scripts can read a figure off a page exactly."""
    attributes = "".join(f' data-{k.replace("_", "-")}="{_html(exact(v))}"' for k, v in data.items())
    return Markup(f'<span class="carelens-verdict"{attributes}>{_html(inner)}</span>')


def _html(value) -> str:
    """Text escaped for HTML, Markup as it is (``escape`` leaves Markup alone)."""
    return str(escape(value))


def nhs_summary(pairs):
    """The NHS.UK summary list component's markup (key, value pairs; a value is text, escaped, or
    Markup), built directly like :func:`nhs_table`."""
    rows = "".join(
        '<div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">'
        + _html(key)
        + '</dt><dd class="nhsuk-summary-list__value">'
        + _html(value)
        + "</dd></div>"
        for key, value in pairs
    )
    return Markup('<dl class="nhsuk-summary-list">' + rows + "</dl>")


def nhs_table(caption, head, rows, numeric=(), id=None, sort=None, sortable=False):
    """The NHS.UK responsive table component's markup, built directly (the component macro renders
    every cell through nested attribute macros: 80 ms for a 50-row league page, this under 1 ms). Cells
    are text (escaped; numbers in ``numeric`` columns formatted with :func:`format_number`) or Markup.
    ``sort`` makes columns sortable: column index -> (link that sorts by it, its ``aria-sort`` state:
    ascending, descending or none); the sorting is the server's, so it works without scripts and across
    pages. ``sortable`` marks a table that holds all its rows for sorting in the browser
    (``static/sortable-tables.js``): every column (or only those ``sort`` links), by each cell's
    ``data-sort-value`` (:class:`SortAs`, the raw number of a numeric column) or its text; the script
    turns each heading (or its link) into a button."""
    sort = sort or {}
    cells = table_cells(head, rows, numeric)
    out = [
        '<table class="nhsuk-table nhsuk-table--responsive"'
        + (f' id="{_html(id)}"' if id else "")
        + (" data-sortable" if sortable else "")
        + ' role="table"><caption class="nhsuk-table__caption nhsuk-table__caption--s">'
        + _html(caption)
        + '</caption><thead class="nhsuk-table__head" role="rowgroup"><tr class="nhsuk-table__row" role="row">'
    ]
    headings = []
    for n, h in enumerate(cells["head"]):
        numeric_class = " nhsuk-table__header--numeric" if h.get("format") == "numeric" else ""
        text = _html(h["text"])
        label, sorted_as = text, ""
        if n in sort:
            href, state = sort[n]
            sorted_as = f' data-sort aria-sort="{_html(state)}"'
            label = f'<a class="nhsuk-link" href="{_html(href)}">{text}</a>'
        elif sortable and not sort:
            sorted_as = " data-sort"
        out.append(
            f'<th class="nhsuk-table__header{numeric_class}" scope="col" role="columnheader"{sorted_as}>'
            f"{label}</th>"
        )
        headings.append(f'<span class="nhsuk-table__heading" aria-hidden="true">{text} </span>')
    out.append('</tr></thead><tbody class="nhsuk-table__body">')
    for row in cells["rows"]:
        out.append('<tr class="nhsuk-table__row" role="row">')
        for heading, cell in zip(headings, row, strict=False):
            numeric_class = " nhsuk-table__cell--numeric" if cell.get("format") == "numeric" else ""
            content = _html(cell["html"]) if "html" in cell else _html(cell["text"])
            sorted_by = f' data-sort-value="{_html(cell["sort"])}"' if "sort" in cell else ""
            out.append(
                f'<td class="nhsuk-table__cell{numeric_class}" role="cell"{sorted_by}>{heading}{content}</td>'
            )
        out.append("</tr>")
    out.append("</tbody></table>")
    return Markup("".join(out))


def org_link(code: str, name: str | None = None):
    """A link to an organisation's profile (HTML-safe), for table cells and lists."""
    from urllib.parse import quote

    return Markup(f'<a href="/organisations/{_html(quote(code, safe=""))}">{_html(name or code)}</a>')


def inspection_link(inspection_id: int, text: str):
    """A link to an inspection's page (HTML-safe), for table cells."""
    return Markup(f'<a href="/inspections/{int(inspection_id)}">{_html(text)}</a>')


def case_link(case_id: int, text: str):
    """A link to a failure-regime case's page (HTML-safe), for table cells."""
    return Markup(f'<a href="/regime/cases/{int(case_id)}">{_html(text)}</a>')


def download_links(path: str, params: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The links a page shows under a table: (text, address) of its CSV and Excel downloads
    (``web/pages/downloads.py``); ``path`` is without the extension, ``params`` the table's query
    parameters (its filters and order)."""
    from urllib.parse import urlencode

    query = f"?{urlencode(params)}" if params else ""
    return [("CSV", f"{path}.csv{query}"), ("Excel (XLSX)", f"{path}.xlsx{query}")]
