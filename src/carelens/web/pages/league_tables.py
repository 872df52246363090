"""League tables: organisations ranked on an indicator with their stored verdicts (published figures,
open to everyone)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services.league import league_table
from carelens.services.observations import list_indicators
from carelens.web.common import KIND_NAMES, VALUE_FORMATS, suppression_note
from carelens.web.formatting import figure
from carelens.web.layout import pager_links, render_page, store
from carelens.web.pages import NavLink
from carelens.web.settings import web_settings
from carelens.web.templating import marked, nhs_tag, org_link

router = APIRouter(include_in_schema=False)

VERDICT_COLOURS = {
    "worse": "orange",
    "better": "blue",
    "as expected": "grey",
    "higher": "purple",
    "lower": "purple",
    "not compared": "white",
    "not assessed": "white",
    "suppressed": "white",
}
"""Tag colours of the verdicts (as the design system's ``flag_tag``)."""


def visible_to(actor: Actor) -> bool:
    """League tables are published: for everyone."""
    return True


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("League tables", "/league-tables", (30,))]


@router.get("/league-tables", response_class=HTMLResponse)
def league_tables(
    request: Request,
    actor: ActorDep,
    indicator: str | None = None,
    period: Annotated[date | None, Query(description="A period the monitoring run judged.")] = None,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    engine = store(request)
    rankable = [
        i for i in list_indicators(engine, actor) if i["polarity"] in ("higher_is_better", "lower_is_better")
    ]
    chosen = next((i for i in rankable if i["id"] == indicator), rankable[0] if rankable else None)
    table = None
    if chosen is not None:
        rows = web_settings().league_table_rows
        table = league_table(engine, actor, chosen["id"], period=period, page=page_number, page_size=rows)
    params = {"indicator": chosen["id"] if chosen else ""} | (
        {"period": period.isoformat()} if period else {}
    )
    return render_page(
        request,
        actor,
        "league.jinja",
        title="League tables",
        indicators=rankable,
        options=[(i["id"], i["title"]) for i in rankable],
        chosen=chosen,
        table=table,
        value_format=VALUE_FORMATS.get(chosen["value_type"], "number") if chosen else "number",
        league_rows=league_rows,
        kind_names=KIND_NAMES,
        suppression_note=suppression_note(),
        **pager_links("/league-tables", params, table),
    )


def league_rows(table, value_format: str) -> list[list]:
    """The rows of a league table page: rank, organisation, type, value, numerator, size, and the stored
    verdict (marked with its figures for machines: :func:`carelens.web.templating.marked`)."""
    rows = []
    for r in table.items:
        c = r["comparison"]
        hidden = r["suppressed"]
        verdict = marked(
            nhs_tag(c["verdict"], VERDICT_COLOURS.get(c["verdict"], "grey")),
            org=r["org_code"],
            verdict=c["verdict"],
            lower=c["lower"],
            upper=c["upper"],
            peers=c["peers"],
            run=c["run_id"],
        )
        size = r["expected"] if r["expected"] is not None else r["denominator"]
        rows.append(
            [
                r["rank"] if r["rank"] is not None else "–",
                org_link(r["org_code"], r["name"]),
                KIND_NAMES.get(r["kind"], r["kind"]),
                "suppressed" if hidden else figure(r["value"], value_format),
                "suppressed" if hidden else r["numerator"],
                "suppressed" if hidden else size,
                verdict,
            ]
        )
    return rows
