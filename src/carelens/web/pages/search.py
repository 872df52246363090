"""Finding an organisation by name, code or place (the directory is published: open to everyone)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services.organisations import search_organisations
from carelens.web.common import KIND_NAMES
from carelens.web.layout import pager_links, render_page, store
from carelens.web.pages import NavLink
from carelens.web.settings import web_settings

router = APIRouter(include_in_schema=False)


def visible_to(actor: Actor) -> bool:
    """The directory is published: for everyone."""
    return True


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("Find an organisation", "/search", (20,))]


@router.get("/search", response_class=HTMLResponse)
def search(
    request: Request, actor: ActorDep, q: str = "", page_number: Annotated[int, Query(alias="page", ge=1)] = 1
):
    results = None
    if q.strip():
        size = web_settings().search_results
        results = search_organisations(store(request), actor, q=q, page=page_number, page_size=size)
    return render_page(
        request,
        actor,
        "search.jinja",
        title=f"Search results for {q}" if q.strip() else "Find an organisation",
        q=q,
        results=results,
        kind_names=KIND_NAMES,
        **pager_links("/search", {"q": q}, results),
    )
