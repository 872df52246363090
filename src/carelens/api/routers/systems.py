"""Local system reviews and accountable care organisations: places ranked for review with why, the review
programme (directions, selection, budget what-if), reviews with findings and action plans, ACO
settlements and market concentration (HHI).

Published review reports are open to everyone. Review work follows the role's ``local_systems`` rule
(403 to roles it reaches nothing for; a place, ACO or unpublished review outside the reach is 404); the
programme needs a rule reaching every place. Read-only: changes are made with ``carelens systems
review ...`` and ``carelens aco settle``, which validate and audit them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from carelens.api.responses import OrgCode, OutputFormat, PageNumber, PageSize, RowId, respond
from carelens.http.security import ActorDep
from carelens.services import systems as service

router = APIRouter(prefix="/systems", tags=["systems"])
Period = Annotated[
    dt.date | None,
    Query(
        description="Period of the transition indicators (first day, e.g. 2017-04-01); default the latest."
    ),
]
Reference = Annotated[str | None, Query(min_length=1, max_length=60, description="Direction reference.")]
PlaceCode = Annotated[str | None, Query(min_length=1, max_length=40, description="Place code.")]
Year = Annotated[
    int | None, Query(ge=1990, le=2100, description="First year of the financial year (2024 = 2024-25).")
]
AcoCode = Annotated[str | None, Query(min_length=1, max_length=40, description="ACO code.")]


@router.get("/places", summary="Places ranked for review by the selection score (worst first), with why")
def get_places(
    request: Request,
    actor: ActorDep,
    period: Period = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.place_ranking(request.app.state.engine, actor, period, page, page_size)
    return respond(request, actor, result, format, "places-ranked")


@router.get(
    "/places/{code}", summary="A place: members, transition indicators against all places, rank, reviews"
)
def get_place(request: Request, actor: ActorDep, code: OrgCode, period: Period = None):
    return respond(request, actor, service.place(request.app.state.engine, actor, code, period))


@router.get("/directions", summary="Directions to review local systems with what each budget buys")
def get_directions(
    request: Request,
    actor: ActorDep,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.directions(request.app.state.engine, actor, page, page_size)
    return respond(request, actor, result, format, "review-directions")


@router.get(
    "/directions/{reference}", summary="A direction: programme figures, every place's selection, reviews"
)
def get_direction(
    request: Request, actor: ActorDep, reference: Annotated[str, Path(min_length=1, max_length=60)]
):
    return respond(request, actor, service.direction(request.app.state.engine, actor, reference))


@router.get("/programme-whatif", summary="What-if: how many reviews a budget buys and which places")
def get_programme_whatif(
    request: Request,
    actor: ActorDep,
    budget_gbp: Annotated[float, Query(ge=0, le=1e12, description="Programme budget, £.")],
    cost_per_review_gbp: Annotated[
        float | None,
        Query(gt=0, le=1e12, description="£ per review (default: the previous programme's, £2m / 23)."),
    ] = None,
    period: Period = None,
):
    result = service.programme_whatif(
        request.app.state.engine, actor, budget_gbp, cost_per_review_gbp, period
    )
    return respond(request, actor, result)


@router.get("/reviews", summary="Reviews you may see (published reports to everyone), by programme and place")
def get_reviews(
    request: Request,
    actor: ActorDep,
    reference: Reference = None,
    place_code: PlaceCode = None,
    status: Annotated[Literal["planned", "reported"] | None, Query(description="Review status.")] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.review_list(
        request.app.state.engine, actor, reference, place_code, status, page, page_size
    )
    return respond(request, actor, result, format, "system-reviews")


@router.get(
    "/reviews/{review_id}", summary="A review's findings by pathway stage (no rating) and action plan"
)
def get_review(request: Request, actor: ActorDep, review_id: RowId):
    return respond(request, actor, service.review(request.app.state.engine, actor, review_id))


@router.get("/actions", summary="Review action plans in reach, with overdue actions marked")
def get_actions(
    request: Request,
    actor: ActorDep,
    reference: Reference = None,
    place_code: PlaceCode = None,
    overdue_only: Annotated[bool, Query(description="Only open actions past their deadline.")] = False,
    as_of: Annotated[
        dt.date | None, Query(description="Date to judge deadlines on (default: today).")
    ] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.action_list(
        request.app.state.engine, actor, reference, place_code, overdue_only, as_of, page, page_size
    )
    return respond(request, actor, result, format, "review-actions")


@router.get(
    "/aco-settlements", summary="ACO settlements: savings against the benchmark, quality gate, payment"
)
def get_settlements(
    request: Request,
    actor: ActorDep,
    year: Year = None,
    aco_code: AcoCode = None,
    history: Annotated[bool, Query(description="Include superseded settlements.")] = False,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.aco_settlements(
        request.app.state.engine, actor, year, aco_code, history, page, page_size
    )
    return respond(request, actor, result, format, "aco-settlements")


@router.get(
    "/aco-settlements/{settlement_id}",
    summary="One ACO settlement: inputs, members, quality gate, market concentration per service line",
)
def get_settlement(request: Request, actor: ActorDep, settlement_id: RowId):
    return respond(request, actor, service.aco_settlement(request.app.state.engine, actor, settlement_id))


@router.get(
    "/aco-concentration",
    summary="Market concentration (HHI) per ACO and service line, most concentrated first",
)
def get_concentration(
    request: Request,
    actor: ActorDep,
    year: Year = None,
    aco_code: AcoCode = None,
    flagged_only: Annotated[
        bool, Query(description="Only highly concentrated lines (patient choice at risk).")
    ] = False,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.market_concentration(
        request.app.state.engine, actor, year, aco_code, flagged_only, page, page_size
    )
    return respond(request, actor, result, format, "aco-concentration")
