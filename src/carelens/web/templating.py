"""The Jinja2 environment of the web pages.

All design-system markup lives in one template folder, ``templates/<DESIGN_SYSTEM>/``: its
``layout.jinja`` (the page frame) and ``ui.jinja`` (every component a page uses: tables, tags, forms,
figures...). Pages in ``templates/pages/`` use only those macros and plain semantic HTML, so another
look (e.g. GOV.UK Frontend for a regulator) is a new folder with the same two files.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader

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
    )
    env.globals["design"] = DESIGN_SYSTEM
    env.filters["number"] = format_number
    env.filters["figure"] = format_figure
    env.filters["exact"] = exact
    env.filters["combine"] = lambda a, b: {**a, **b}
    env.globals["table_cells"] = table_cells
    env.globals["org_link"] = org_link
    return env


def render(template: str, **context) -> str:
    """Render ``pages/<template>`` with ``context``."""
    return environment().get_template(f"pages/{template}").render(**context)


def format_number(value, digits: int = 3) -> str:
    """A figure for display: text as is (e.g. "suppressed"), whole numbers with thousands separators,
    numbers of 100 or more rounded to whole numbers, others to ``digits`` significant figures; missing values as an en dash."""
    if value is None or value != value:  # None or NaN
        return "–"
    if isinstance(value, str):
        return value
    if abs(value) >= 100 or (float(value).is_integer() and abs(value) >= 1):
        return f"{round(value):,}"
    return f"{value:.{digits}g}"


def format_figure(value, style: str = "number") -> str:
    """An indicator's figure as readers expect it: a proportion as a percentage ("2.7%"), a ratio to two
    decimals, other numbers with thousands separators; text as is; missing as an en dash."""
    from carelens.web.charts import format_value

    if isinstance(value, str):
        return value
    if value is None or value != value:
        return "–"
    if style == "percent":
        return format_value(value, "percent", 0.001)
    if style == "ratio":
        return format_value(value, "ratio")
    return format_number(value)


def exact(value) -> str:
    """A value written so it reads back exactly (for machine-readable attributes): full float precision,
    empty for missing."""
    if value is None or value != value:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def table_cells(head, rows, numeric=()) -> dict:
    """Head and rows in the shape the design system's table macro takes; ``numeric`` columns are
    right-aligned and formatted with :func:`format_number`. Cells that are Markup are kept as HTML."""
    from markupsafe import Markup

    def cell(value, i):
        entry = {"format": "numeric"} if i in numeric else {}
        if isinstance(value, Markup):
            return entry | {"html": value}
        return entry | {
            "text": format_number(value) if i in numeric else ("–" if value is None else str(value))
        }

    return {
        "head": [{"text": t} | ({"format": "numeric"} if i in numeric else {}) for i, t in enumerate(head)],
        "rows": [[cell(v, i) for i, v in enumerate(row)] for row in rows],
    }


def org_link(code: str, name: str | None = None):
    """A link to an organisation's profile (HTML-safe), for table cells and lists."""
    from urllib.parse import quote

    from markupsafe import Markup, escape

    return Markup('<a href="/organisations/{}">{}</a>').format(quote(code, safe=""), escape(name or code))
