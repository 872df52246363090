"""Ratings: search current ratings, one rating with its explanation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from carelens.api.responses import OutputFormat, PageNumber, PageSize, RowId, respond
from carelens.http.security import ActorDep
from carelens.services.ratings import get_rating, search_ratings

router = APIRouter(prefix="/ratings", tags=["ratings"])


@router.get("", summary="Current ratings (published ones, plus proposals for roles entitled to them)")
def list_ratings(
    request: Request,
    actor: ActorDep,
    rating: Annotated[str | None, Query(max_length=40)] = None,
    key_question: Annotated[str | None, Query(max_length=20)] = None,
    org_code: Annotated[str | None, Query(max_length=40)] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = search_ratings(request.app.state.engine, actor, rating, key_question, org_code, page, page_size)
    return respond(request, actor, result, format, "ratings")


@router.get("/{rating_id}", summary="One rating with a plain-English explanation")
def one_rating(request: Request, actor: ActorDep, rating_id: RowId):
    return respond(request, actor, get_rating(request.app.state.engine, actor, rating_id))
