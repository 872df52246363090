"""Allocations (saved runs, per-commissioner results, formula what-if) and commissioner scorecards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from carelens.api.responses import OrgCode, OutputFormat, PageNumber, PageSize, respond
from carelens.http.security import ActorDep
from carelens.services import funding as service

router = APIRouter(tags=["allocations"])
Scenario = Annotated[str, Query(min_length=1, max_length=60, description="A packaged scenario name.")]


@router.get("/allocations/runs", summary="Saved allocation runs, newest first")
def get_runs(
    request: Request,
    actor: ActorDep,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.allocation_runs(request.app.state.engine, actor, page, page_size)
    return respond(request, actor, result, format, "allocation-runs")


@router.get(
    "/allocations", summary="Targets and allocations per commissioner (a saved run; default the latest)"
)
def get_allocations(
    request: Request,
    actor: ActorDep,
    run_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.allocations(request.app.state.engine, actor, run_id, page, page_size)
    return respond(request, actor, result, format, "allocations")


@router.get("/allocations/scenarios", summary="Packaged allocation scenarios")
def get_scenarios(request: Request, actor: ActorDep):
    return respond(request, actor, service.scenarios(request.app.state.engine, actor))


@router.get("/allocations/whatif", summary="Formula what-if: who gains and who loses from scenario a to b")
def get_whatif(request: Request, actor: ActorDep, a: Scenario, b: Scenario):
    return respond(request, actor, service.whatif(request.app.state.engine, actor, a, b))


@router.get("/commissioners/{code}/scorecard", summary="A commissioner's scorecard against its peers")
def get_scorecard(
    request: Request,
    actor: ActorDep,
    code: OrgCode,
    run_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
):
    return respond(
        request, actor, service.commissioner_scorecard(request.app.state.engine, actor, code, run_id)
    )
