"""A commissioner's scorecard: its allocation against target among its peers, its assessment, budgets
and interventions (for those whose rule reaches the commissioner, as the services decide)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import funding
from carelens.services.organisations import own_organisations
from carelens.web.layout import download_links, render_page, store
from carelens.web.pages import OWN_ORGANISATION_LINKS, NavLink

router = APIRouter(include_in_schema=False)

MEASURE_NAMES = {
    "distance_from_target": "Distance from target (allocation above (+) or below (−) target)",
    "need_index_core": "Need index (core services; 1 = national average)",
    "allocation_per_head_gbp": "Allocation per head",
}
RATING_NAMES = {
    "outstanding": "Outstanding",
    "good": "Good",
    "requires_improvement": "Requires improvement",
    "inadequate": "Inadequate",
}


def visible_to(actor: Actor) -> bool:
    """The header links a commissioner's own scorecard (:func:`carelens.services.funding.has_own_scorecard`)."""
    return funding.has_own_scorecard(actor)


def nav_links(actor: Actor) -> list[NavLink]:
    """Each own organisation's scorecard, before its profile: a commissioner's first page."""
    own = own_organisations(actor)[:OWN_ORGANISATION_LINKS]
    return [
        NavLink(f"Scorecard ({code})", f"/commissioners/{code}", (10, n, 0)) for n, code in enumerate(own)
    ]


@router.get("/commissioners/{code}", response_class=HTMLResponse)
def commissioner_scorecard(request: Request, actor: ActorDep, code: str):
    card = funding.commissioner_scorecard(store(request), actor, code)
    name = card["commissioner"]["name"] or code
    return render_page(
        request,
        actor,
        "scorecard.jinja",
        title=f"Scorecard: {name}",
        card=card,
        measure_names=MEASURE_NAMES,
        rating_names=RATING_NAMES,
        downloads=download_links(f"/commissioners/{quote(code, safe='')}/scorecard"),
    )
