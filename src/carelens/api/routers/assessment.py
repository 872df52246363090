"""Assessed ratings (with explanation and history, and the rating at a date) and segmentation league tables."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request

from carelens.api.responses import OrgCode, OutputFormat, PageNumber, PageSize, RowId, respond
from carelens.http.security import ActorDep
from carelens.services import assessment as service
from carelens.services.organisations import get_organisation

router = APIRouter(tags=["assessment"])


@router.get(
    "/assessed-ratings", summary="Ratings decided by the rules (published; proposals for those entitled)"
)
def list_assessed(
    request: Request,
    actor: ActorDep,
    org_code: Annotated[str | None, Query(max_length=40)] = None,
    key_question: Annotated[str | None, Query(max_length=20)] = None,
    history: Annotated[bool, Query(description="Every row, not only the current ones.")] = False,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.assessed_ratings(
        request.app.state.engine, actor, org_code, key_question, history, page, page_size
    )
    return respond(request, actor, result, format, "assessed-ratings")


@router.get("/assessed-ratings/{rating_id}", summary="One assessed rating with its plain-English explanation")
def one_assessed(request: Request, actor: ActorDep, rating_id: RowId):
    return respond(request, actor, service.get_assessed_rating(request.app.state.engine, actor, rating_id))


@router.get("/organisations/{code}/ratings-at", summary="An organisation's ratings in effect on a date")
def ratings_at(
    request: Request,
    actor: ActorDep,
    code: OrgCode,
    date: Annotated[dt.date, Query(description="The date (YYYY-MM-DD).")],
    format: OutputFormat = "json",
):
    engine = request.app.state.engine
    get_organisation(engine, actor, code)
    result = service.ratings_at_date(engine, actor, code, date)
    return respond(request, actor, result, format, f"ratings-{code}-{date}")


@router.get("/segmentation", summary="NHS Oversight Framework segments and league tables by trust type")
def segmentation(
    request: Request,
    actor: ActorDep,
    trust_type: Annotated[str | None, Query(max_length=40)] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = service.segmentation_table(request.app.state.engine, actor, trust_type, page, page_size)
    return respond(request, actor, result, format, "segmentation")
