"""Local system reviews: the review reports (published ones to everyone), and for the roles whose rule
gives them review work, places ranked for review with why, overdue actions and, for those who see the
whole programme, its directions and budget what-if."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import NotFound
from carelens.services import systems as systems_service
from carelens.services._db import Db
from carelens.web.common import all_pages, day
from carelens.web.formatting import date
from carelens.web.layout import pager_links, render_page, store
from carelens.web.pages import NavLink
from carelens.web.settings import web_settings

router = APIRouter(include_in_schema=False)

REVIEW_STATUS_TAGS = {"planned": ("Planned, not yet reported", "grey"), "reported": ("Reported", "green")}
"""How a review's status shows on the pages (text, tag colour)."""


def visible_to(actor: Actor) -> bool:
    """Published review reports are open to everyone."""
    return True


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("System reviews", "/system-reviews", (70,))]


@router.get("/system-reviews", response_class=HTMLResponse)
def system_reviews(
    request: Request,
    actor: ActorDep,
    period: str | None = None,
    budget: str | None = None,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    """Reviews of local systems, and the review work the services allow the actor."""
    rows = web_settings().league_table_rows
    view = system_reviews_view(store(request), actor, period, budget, page_number, rows)
    return render_page(
        request,
        actor,
        "system_reviews.jinja",
        status=400 if view["errors"] else 200,
        title="Local system reviews",
        status_tags=REVIEW_STATUS_TAGS,
        **view,
        **pager_links(
            "/system-reviews", {"period": view["period"] or "", "budget": budget or ""}, view["ranking"]
        ),
    )


@router.get("/system-reviews/{review_id}", response_class=HTMLResponse)
def system_review(request: Request, actor: ActorDep, review_id: str):
    """One review: findings by pathway stage (never a rating) and, for those who track it, its action plan."""
    if not review_id.isdigit() or not 0 < int(review_id) < 2**62:
        raise NotFound(f"no review {review_id}")
    found = systems_service.review(store(request), actor, int(review_id))
    title = f"Local system review: {found['place_name'] or found['place_code']}"
    return render_page(
        request, actor, "system_review.jinja", title=title, review=found, status_tags=REVIEW_STATUS_TAGS
    )


def system_reviews_view(
    db: Db, actor: Actor, period: str | None, budget: str | None, page: int, rows: int
) -> dict[str, Any]:
    """The local system reviews page: the reviews the actor may see (published reports to everyone);
    for roles that see review work, places ranked for review with why and overdue actions; for roles
    that see the whole programme, its directions and the budget what-if. ``errors`` name bad input."""
    view: dict[str, Any] = {
        "reviews": all_pages(systems_service.review_list, db=db, actor=actor),
        "periods": [],
        "period_options": [],
        "period": None,
        "ranking": None,
        "overdue": None,
        "directions": None,
        "budget": budget or "",
        "whatif": None,
        "errors": [],
        "review_work": systems_service.has_review_work(actor),
    }
    if not view["review_work"]:
        return view
    view["periods"] = systems_service.place_periods(db, actor)
    view["period_options"] = [(p, f"Period from {date(p)}") for p in view["periods"]]
    if period and period not in view["periods"]:
        view["errors"].append({"text": "Choose a period from the list", "href": "#period"})
    view["period"] = period if period in view["periods"] else next(iter(view["periods"]), None)
    if view["period"]:
        chosen = day(view["period"])
        view["ranking"] = systems_service.place_ranking(db, actor, chosen, page=page, page_size=rows)
    view["overdue"] = systems_service.action_list(db, actor, overdue_only=True, page_size=rows)
    if not systems_service.sees_programme(actor):
        return view
    view["directions"] = all_pages(systems_service.directions, db=db, actor=actor)
    if budget:
        amount = _pounds(budget)
        if amount is None:
            view["errors"].append(
                {"text": "Enter the budget in pounds, for example 2000000", "href": "#budget"}
            )
        elif view["period"]:
            view["whatif"] = systems_service.programme_whatif(db, actor, amount, period=day(view["period"]))
    return view


def _pounds(text: str) -> float | None:
    """An amount of pounds typed into a form ('£2,000,000' or '2000000'); None when it is not one."""
    try:
        amount = float(text.replace("£", "").replace(",", "").strip())
    except ValueError:
        return None
    return amount if 0 <= amount < 1e12 else None
