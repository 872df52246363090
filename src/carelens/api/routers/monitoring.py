"""Monitoring: runs, flags with why, priority bands, biggest movers, an organisation's intelligence profile.

Confidential: the public may not use these routes (403); other roles see the organisations their
``confidential_data`` rule reaches (a profile outside it is 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from carelens.api.responses import OrgCode, OutputFormat, PageNumber, PageSize, RowId, respond
from carelens.http.security import ActorDep
from carelens.services import monitoring as service

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
RunId = Annotated[int | None, Query(ge=1, le=2**62, description="Monitoring run id (default: the latest).")]


@router.get("/runs", summary="Stored monitoring runs, newest first")
def get_runs(
    request: Request,
    actor: ActorDep,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.monitoring_runs(request.app.state.engine, actor, page, page_size)
    return respond(request, actor, result, format, "monitoring-runs")


@router.get("/runs/{run_id}", summary="One run with counts of flags and bands (organisations in reach)")
def get_run(request: Request, actor: ActorDep, run_id: RowId):
    return respond(request, actor, service.run_summary(request.app.state.engine, actor, run_id))


@router.get("/flags", summary="Flags with the reason for each (risks first)")
def get_flags(
    request: Request,
    actor: ActorDep,
    run_id: RunId = None,
    org_code: Annotated[str | None, Query(max_length=40)] = None,
    indicator_id: Annotated[str | None, Query(max_length=80)] = None,
    flag: Annotated[str | None, Query(max_length=30)] = None,
    risks_only: Annotated[bool, Query(description="Only risks and control-chart alerts.")] = False,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.flags(
        request.app.state.engine, actor, run_id, org_code, indicator_id, flag, risks_only, page, page_size
    )
    return respond(request, actor, result, format, "monitoring-flags")


@router.get("/bands", summary="Organisations by priority band (1 = highest risk) and score")
def get_bands(
    request: Request,
    actor: ActorDep,
    run_id: RunId = None,
    band: Annotated[int | None, Query(ge=1, le=99)] = None,
    change: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.priority_bands(
        request.app.state.engine, actor, run_id, band, change, kind, page, page_size
    )
    return respond(request, actor, result, format, "priority-bands")


@router.get("/movers", summary="Biggest movers between bands since the previous run")
def get_movers(
    request: Request,
    actor: ActorDep,
    run_id: RunId = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    format: OutputFormat = "json",
):
    result = service.biggest_movers(request.app.state.engine, actor, run_id, limit)
    return respond(request, actor, result, format, "movers")


@router.get("/organisations/{code}", summary="An organisation's intelligence profile: every flag and why")
def get_intelligence(
    request: Request,
    actor: ActorDep,
    code: OrgCode,
    run_id: RunId = None,
):
    return respond(
        request, actor, service.intelligence_profile(request.app.state.engine, actor, code, run_id)
    )
