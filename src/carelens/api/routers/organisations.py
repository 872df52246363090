"""Organisations: search, profile, ratings (current and history)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from carelens.api.responses import OrgCode, OutputFormat, PageNumber, PageSize, respond
from carelens.http.security import ActorDep
from carelens.services.organisations import organisation_profile, search_organisations
from carelens.services.ratings import explain, visible_ratings

router = APIRouter(prefix="/organisations", tags=["organisations"])


@router.get("", summary="Search organisations by name, code or place")
def list_organisations(
    request: Request,
    actor: ActorDep,
    q: Annotated[str | None, Query(max_length=200, description="Name, code or place.")] = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    sector: Annotated[str | None, Query(max_length=30)] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    engine = request.app.state.engine
    result = search_organisations(engine, actor, q, kind, sector, page, page_size)
    return respond(request, actor, result, format, "organisations")


@router.get(
    "/{code}",
    summary="Organisation profile: links, ratings (a trust's aggregated from its locations, with the rule) "
    "with explanation, latest figures",
)
def get_profile(request: Request, actor: ActorDep, code: OrgCode):
    return respond(request, actor, organisation_profile(request.app.state.engine, actor, code))


@router.get(
    "/{code}/ratings",
    summary="An organisation's ratings (current, or the whole history) and its current provider ratings "
    "aggregated from its locations' ratings",
)
def get_ratings(
    request: Request,
    actor: ActorDep,
    code: OrgCode,
    history: Annotated[bool, Query(description="Every rating ever, not only the current ones.")] = False,
    format: OutputFormat = "json",
):
    from carelens.services.assessment import provider_ratings
    from carelens.services.organisations import get_organisation

    engine = request.app.state.engine
    organisation = get_organisation(engine, actor, code)
    ratings = visible_ratings(engine, actor, code, organisation["sector"], history=history)
    if format == "csv":
        return respond(request, actor, ratings, format, f"ratings-{code}")
    current = [r for r in ratings if r["current"]]
    aggregated = provider_ratings(engine, actor, code)
    return respond(
        request,
        actor,
        {
            "ratings": ratings,
            "provider_ratings": aggregated,
            "explanation": explain(organisation, current, aggregated),
        },
    )
