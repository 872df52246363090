"""Inspection planning and the failure regime: the plan an actor may see (an inspector's assignments
with their confidential windows), one inspection, an organisation's inspections, regime cases and
overdue actions.

Planned inspections and unannounced windows are 404 -- never 403 -- to anyone not entitled
(providers, the public, the national board, policy makers); responses to signed-in actors are
``Cache-Control: no-store``. Failure-regime routes are for the regulator's roles and the national
board, each seeing the regimes it owns (403 for others). Changes (open, move, escalate a case; add and
complete recovery actions) are audited as the signed-in actor's; a guard's refusal is 409 with the
reason in words, bad input 422.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

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


Reason = Annotated[str, Field(min_length=1, max_length=2000, description="Why (recorded).")]
EffectiveDate = Annotated[dt.date | None, Field(description="Effective date (default: today).")]


class CaseIn(BaseModel):
    regime: str = Field(max_length=30, description="provider, nhs_trust or commissioner")
    org_code: str = Field(min_length=1, max_length=40)
    reason: Reason
    at: EffectiveDate = None


class MoveIn(BaseModel):
    event: str = Field(min_length=1, max_length=40, description="e.g. warning_notice, exit_special_measures")
    reason: Reason
    at: EffectiveDate = None


class EscalationIn(BaseModel):
    reason: Reason
    at: EffectiveDate = None


class ActionIn(BaseModel):
    action: str = Field(min_length=1, max_length=2000)
    owner: str = Field(min_length=1, max_length=200)
    due_date: dt.date


class ActionDoneIn(BaseModel):
    status: Literal["done"] = "done"
    note: str = Field(min_length=1, max_length=2000, description="The evidence it was done.")
    on: EffectiveDate = None


@router.post("/regime/cases", status_code=201, summary="Open a failure-regime case (audited)")
def post_regime_case(request: Request, actor: ActorDep, case: CaseIn) -> dict:
    engine = request.app.state.engine
    case_id = service.open_case(engine, actor, case.regime, case.org_code, case.reason, case.at)
    return service.regime_case(engine, actor, case_id)


@router.post(
    "/regime/cases/{case_id}/transitions",
    summary="Move a case; a guard's refusal is 409 with the reason (audited)",
)
def post_regime_transition(request: Request, actor: ActorDep, case_id: RowId, move: MoveIn) -> dict:
    return service.move_case(request.app.state.engine, actor, case_id, move.event, move.reason, move.at)


@router.post(
    "/regime/cases/{case_id}/escalations",
    summary="Take an overdue case to its next step (enforcement; cancellation last) (audited)",
)
def post_regime_escalation(request: Request, actor: ActorDep, case_id: RowId, body: EscalationIn) -> dict:
    return service.escalate_case(request.app.state.engine, actor, case_id, body.reason, body.at)


@router.post(
    "/regime/cases/{case_id}/actions", status_code=201, summary="Add a recovery action to a case (audited)"
)
def post_recovery_action(request: Request, actor: ActorDep, case_id: RowId, body: ActionIn) -> dict:
    engine = request.app.state.engine
    return service.add_recovery_action(engine, actor, case_id, body.action, body.owner, body.due_date)


@router.put("/regime/actions/{action_id}", summary="Mark a recovery action done, with its evidence (audited)")
def put_recovery_action(request: Request, actor: ActorDep, action_id: RowId, body: ActionDoneIn) -> dict:
    return service.complete_recovery_action(request.app.state.engine, actor, action_id, body.note, body.on)
