"""Accountable care organisations: current settlements (savings against the benchmark, quality gate,
payment) and market concentration of the ACOs in reach, with the configured thresholds that explain
them (for roles with review work, as the services decide)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import systems as systems_service
from carelens.services._db import Db
from carelens.web.common import all_pages, indicator_names
from carelens.web.layout import render_page, store
from carelens.web.pages import NavLink

router = APIRouter(include_in_schema=False)

CONCENTRATION_TAGS = {
    "highly concentrated": "red",
    "moderately concentrated": "orange",
    "unconcentrated": "green",
}
"""Tag colours of the market-concentration bands (flagged = highly concentrated)."""


def visible_to(actor: Actor) -> bool:
    """For roles with review work (:func:`carelens.services.systems.has_review_work`)."""
    return systems_service.has_review_work(actor)


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("Accountable care", "/accountable-care", (80,))]


@router.get("/accountable-care", response_class=HTMLResponse)
def accountable_care(request: Request, actor: ActorDep):
    view = accountable_care_view(store(request), actor)
    return render_page(
        request,
        actor,
        "accountable_care.jinja",
        title="Accountable care organisations",
        concentration_tags=CONCENTRATION_TAGS,
        **view,
    )


def accountable_care_view(db: Db, actor: Actor) -> dict[str, Any]:
    """Current settlements and market concentration of the ACOs in reach, with the configured thresholds
    the page explains them by (the services say Forbidden to roles without review work)."""
    config = systems_service.method()[0]
    titles = indicator_names(db, actor)
    settlements = [
        s | {"quality_reason": _titled(s.get("quality_reason"), titles)}
        for s in all_pages(systems_service.aco_settlements, db=db, actor=actor)
    ]
    return {
        "settlements": settlements,
        "concentration": all_pages(systems_service.market_concentration, db=db, actor=actor),
        "hhi_moderate_above": config.hhi_moderate_above,
        "hhi_high_above": config.hhi_high_above,
        "shared_savings_rate": config.shared_savings_rate,
    }


def _titled(reason: str | None, titles: dict[str, tuple[str, str]]) -> str | None:
    """A quality gate's reason with its indicators named by title ("worse than peers on: Discharged to
    usual place of residence, 65+ (%)"), never by id."""
    head, found, ids = (reason or "").partition(": ")
    if not found:
        return reason
    return f"{head}: " + "; ".join(titles.get(i, (i,))[0] for i in ids.split(", "))
