"""Inspection planning and the failure regime: the plan an actor may see (an inspector's assignments
with their confidential windows), one inspection, an organisation's inspections, regime cases and
overdue actions.

Planned inspections and unannounced windows are 404 -- never 403 -- to anyone not entitled
(providers, the public, the national board, policy makers); responses to signed-in actors are
``Cache-Control: no-store``. Failure-regime routes are for the regulator's roles (403 for others).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from carelens.api.responses import OrgCode, OutputFormat, PageNumber, PageSize, RowId, respond
from carelens.http.security import ActorDep
from carelens.services import planning as service

router = APIRouter(tags=["planning"])
ScheduleId = Annotated[
    int | None, Query(ge=1, le=2**62, description="Saved schedule id (default: the latest).")
]
PlanStatus = Annotated[
    Literal[service.INSPECTION_STATUSES] | None,
    Query(description="Only inspections with this status (unscheduled: could not be scheduled, and why)."),
]


@router.get("/plan", summary="The inspection plan you may see: inspections, windows and teams")
def get_plan(
    request: Request,
    actor: ActorDep,
    schedule_id: ScheduleId = None,
    status: PlanStatus = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.inspection_plan(request.app.state.engine, actor, schedule_id, page, page_size, status)
    return respond(request, actor, result, format, "inspection-plan")


@router.get("/plan/schedule", summary="A saved schedule's status and summary (default: the latest)")
def get_schedule(request: Request, actor: ActorDep, schedule_id: ScheduleId = None):
    return respond(request, actor, service.schedule_summary(request.app.state.engine, actor, schedule_id))


@router.get("/inspections/{inspection_id}", summary="One inspection (a planned one only if you may see it)")
def get_inspection(request: Request, actor: ActorDep, inspection_id: RowId):
    return respond(request, actor, service.inspection(request.app.state.engine, actor, inspection_id))


@router.get(
    "/organisations/{code}/inspections",
    summary="An organisation's inspections (completed ones only, unless you may see the plan)",
)
def get_organisation_inspections(
    request: Request,
    actor: ActorDep,
    code: OrgCode,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.organisation_inspections(request.app.state.engine, actor, code, page, page_size)
    return respond(request, actor, result, format, f"inspections-{code}")


@router.get("/regime/cases", summary="Failure-regime cases (regulator roles)")
def get_regime_cases(
    request: Request,
    actor: ActorDep,
    org_code: Annotated[str | None, Query(max_length=40)] = None,
    regime: Annotated[str | None, Query(max_length=30)] = None,
    open_only: Annotated[bool, Query(description="Only cases still open.")] = False,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.regime_cases(
        request.app.state.engine, actor, org_code, regime, open_only, page, page_size
    )
    return respond(request, actor, result, format, "regime-cases")


@router.get("/regime/cases/{case_id}", summary="One failure-regime case with every transition")
def get_regime_case(request: Request, actor: ActorDep, case_id: RowId):
    return respond(request, actor, service.regime_case(request.app.state.engine, actor, case_id))


@router.get("/regime/overdue", summary="Open cases whose next action is overdue, most overdue first")
def get_overdue(
    request: Request,
    actor: ActorDep,
    as_of: Annotated[
        dt.date | None, Query(description="Date to judge deadlines on (default: today).")
    ] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.overdue_actions(request.app.state.engine, actor, as_of, page, page_size)
    return respond(request, actor, result, format, "regime-overdue")
