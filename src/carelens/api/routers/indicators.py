"""Indicator definitions, observations and league tables."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from carelens.api.responses import OutputFormat, PageNumber, PageSize, respond
from carelens.http.security import ActorDep
from carelens.services.league import league_table
from carelens.services.observations import get_indicator, list_indicators, observations

router = APIRouter(tags=["indicators"])
IndicatorId = Annotated[str, Path(min_length=1, max_length=80)]


@router.get("/indicators", summary="Every indicator definition")
def get_indicators(request: Request, actor: ActorDep, format: OutputFormat = "json"):
    return respond(request, actor, list_indicators(request.app.state.engine, actor), format, "indicators")


@router.get("/indicators/{indicator_id}", summary="One indicator: its definition and periods with data")
def get_one_indicator(request: Request, actor: ActorDep, indicator_id: IndicatorId):
    return respond(request, actor, get_indicator(request.app.state.engine, actor, indicator_id))


@router.get(
    "/observations", summary="Indicator values per organisation and period (small numbers suppressed)"
)
def get_observations(
    request: Request,
    actor: ActorDep,
    indicator_id: Annotated[str | None, Query(max_length=80)] = None,
    org_code: Annotated[str | None, Query(max_length=40)] = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = observations(
        request.app.state.engine, actor, indicator_id, org_code, period_from, period_to, page, page_size
    )
    return respond(request, actor, result, format, "observations")


@router.get(
    "/league-tables/{indicator_id}",
    summary="Organisations ranked on one indicator, best first, each with the monitoring run's verdict",
)
def get_league_table(
    request: Request,
    actor: ActorDep,
    indicator_id: IndicatorId,
    period: Annotated[
        dt.date | None, Query(description="First day of a period the run judged; default its latest.")
    ] = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    run: Annotated[
        int | None, Query(ge=1, le=2**62, description="Monitoring run id; default the latest complete run.")
    ] = None,
    region: Annotated[
        str | None, Query(max_length=40, description="Only organisations in this NHS England region (code).")
    ] = None,
    sort: Annotated[
        Literal["rank", "band", "name", "type", "region", "value"] | None,
        Query(description="Order of the rows; default rank, or band for an indicator its publisher bands."),
    ] = None,
    order: Annotated[Literal["ascending", "descending"], Query()] = "ascending",
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    engine = request.app.state.engine
    result = league_table(
        engine,
        actor,
        indicator_id,
        period,
        kind,
        page,
        page_size,
        run_id=run,
        region=region,
        sort=sort,
        descending=order == "descending",
    )
    return respond(request, actor, result, format, f"league-{indicator_id}")
