"""The monitoring overview: the latest run's bands over the organisations in reach, the biggest movers,
and the risk flags with why."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import monitoring as monitoring_service
from carelens.services._db import Db
from carelens.web.common import KIND_NAMES, indicator_names
from carelens.web.formatting import flag_reason
from carelens.web.layout import PageNumber, PageSize, download_links, pager_links, render_page, store
from carelens.web.pages import NavLink

router = APIRouter(include_in_schema=False)


def visible_to(actor: Actor) -> bool:
    """Offered to everyone the service shows some results (:func:`carelens.services.monitoring.may_see`)."""
    return monitoring_service.may_see(actor)


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("Monitoring", "/monitoring", (40,))]


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(request: Request, actor: ActorDep, page: PageNumber = 1, size: PageSize = None):
    view = monitoring_view(store(request), actor, flag_page=page, flag_rows=size or FLAG_ROWS)
    params = {"size": str(size)} if size else {}
    return render_page(
        request,
        actor,
        "monitoring.jinja",
        title="Monitoring overview",
        kind_names=KIND_NAMES,
        flag_downloads=download_links("/monitoring/flags"),
        risk_downloads=download_links("/monitoring/flags", {"risks_only": "true"}),
        **pager_links("/monitoring", params, view["flags"]),
        **view,
    )


FLAG_ROWS = 50
"""Flags a page of the overview lists (``?size=`` asks for another number)."""


def monitoring_view(
    db: Db, actor: Actor, flag_rows: int = FLAG_ROWS, movers: int = 20, flag_page: int = 1
) -> dict:
    """The monitoring overview: bands of the latest run, biggest movers, a page of flags and why (each
    flag's indicator by its title, its reason in words)."""
    flags = monitoring_service.flags(db, actor, risks_only=True, page=flag_page, page_size=flag_rows)
    names = indicator_names(db, actor)
    for row in flags.items:
        title, value_format = names.get(row["indicator_id"], (row["indicator_id"], "number"))
        row |= {"title": title, "why": flag_reason(row, value_format)}
    return {
        "summary": monitoring_service.run_summary(db, actor),
        "movers": monitoring_service.biggest_movers(db, actor, limit=movers),
        "flags": flags,
    }
