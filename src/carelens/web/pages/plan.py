"""The inspection plan: the latest schedule as the actor may see it, and the failure-regime cases in its
reach. Planned inspections and their unannounced windows are secret: roles without the inspection-plans
right get 404, never 403, as the services decide."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import Forbidden, Invalid, planning
from carelens.services._db import Db
from carelens.web.common import PLAN_STATUS_NAMES, all_pages, day, inspection_row
from carelens.web.layout import pager_links, render_page, store
from carelens.web.pages import NavLink
from carelens.web.settings import web_settings

router = APIRouter(include_in_schema=False)


def visible_to(actor: Actor) -> bool:
    """For roles that may see inspection plans (:func:`carelens.services.planning.may_see_plans`)."""
    return planning.may_see_plans(actor)


def title(actor: Actor) -> str:
    """An inspector's plan is its own assignments."""
    return "My inspection plan" if planning.plans_own_assignments(actor) else "Inspection plan"


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink(title(actor), "/plan", (60,))]


@router.get("/plan", response_class=HTMLResponse)
def inspection_plan(
    request: Request,
    actor: ActorDep,
    status: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    """The latest inspection schedule as the actor may see it."""
    settings = web_settings()
    view = plan_view(
        store(request), actor, status or None, page_number, settings.plan_rows, settings.regime_case_rows
    )
    return render_page(
        request,
        actor,
        "plan.jinja",
        title=title(actor),
        status_filter=status,
        options=[("", "All inspections"), *PLAN_STATUS_NAMES.items()],
        **view,
        **pager_links("/plan", {"status": status}, view["table"]),
    )


def plan_view(
    db: Db, actor: Actor, status: str | None, page: int, page_size: int, regime_rows: int
) -> dict[str, Any]:
    """The inspection plan page: the latest schedule's summary, the inspections in it ``actor`` may see
    (the services raise NotFound for roles without the inspection-plans right) and the failure-regime
    cases in its reach."""
    schedule = planning.schedule_summary(db, actor)
    if status and status not in PLAN_STATUS_NAMES:
        names = ", ".join(name.lower() for name in PLAN_STATUS_NAMES.values())
        raise Invalid(f"there is no inspection status {status!r}: choose one of {names}")
    table = planning.inspection_plan(db, actor, schedule["id"], page=page, page_size=page_size, status=status)
    return {
        "schedule": schedule,
        "table": table,
        "rows": [inspection_row(row, actor.inspector_id) for row in table.items],
        "regime": regime_panel(db, actor, regime_rows, day(schedule["as_of"])),
    }


def regime_panel(db: Db, actor: Actor, rows: int, as_of: dt.date) -> dict[str, Any] | None:
    """Open failure-regime cases in the actor's reach, the earliest deadline first, with days overdue on
    ``as_of`` (the plan page uses the plan's date: the enforcement a plan serves is judged on the same
    day); None when the role may not see the regime (the service says 403)."""
    try:
        cases = all_pages(planning.regime_cases, db=db, actor=actor, open_only=True)
    except Forbidden:
        return None
    late = all_pages(planning.overdue_actions, db=db, actor=actor, as_of=as_of)
    overdue = {r["id"]: r["days_overdue"] for r in late}
    cases.sort(key=lambda c: (c["deadline"] is None, c["deadline"] or "", c["id"]))
    return {
        "total": len(cases),
        "overdue": len(overdue),
        "as_of": as_of.isoformat(),
        "cases": [{**c, "days_overdue": overdue.get(c["id"])} for c in cases[:rows]],
    }
