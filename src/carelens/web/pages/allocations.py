"""The allocation explorer: the latest saved allocation run and a what-if between two packaged scenarios,
over the commissioners in reach."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import NotFound, funding
from carelens.web.charts import whatif_charts
from carelens.web.layout import download_links, pager_links, render_page, store
from carelens.web.pages import NavLink
from carelens.web.settings import web_settings

router = APIRouter(include_in_schema=False)


def visible_to(actor: Actor) -> bool:
    """Offered to everyone the service shows allocations (:func:`carelens.services.funding.may_see`)."""
    return funding.may_see(actor)


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("Allocations", "/allocations", (50,))]


@router.get("/allocations", response_class=HTMLResponse)
def allocation_explorer(
    request: Request,
    actor: ActorDep,
    a: str | None = None,
    b: str | None = None,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    engine = store(request)
    scenarios = funding.scenarios(engine, actor)
    try:
        table = funding.allocations(
            engine, actor, page=page_number, page_size=web_settings().league_table_rows
        )
    except NotFound:
        table = None  # no allocation run saved yet
    names = [s["name"] for s in scenarios]
    a = a if a in names else (names[0] if names else None)
    b = b if b in names else next((n for n in names if n != a), a)
    comparison = funding.whatif(engine, actor, a, b) if a and b and a != b else None
    return render_page(
        request,
        actor,
        "allocations.jinja",
        title="Allocations",
        table=table,
        options=[(s["name"], f"{s['title']} ({s['year']})") for s in scenarios],
        a=a,
        b=b,
        comparison=comparison,
        charts=whatif_charts(comparison, web_settings().chart_width) if comparison else [],
        downloads=download_links("/allocations"),
        **pager_links("/allocations", {"a": a or "", "b": b or ""}, table),
    )
