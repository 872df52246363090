"""Intelligence from people: share an experience of care or raise a concern (anyone, rate-limited);
the submissions and their triage (the roles that handle them only: 404 to everyone else)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from carelens.api.responses import OutputFormat, PageNumber, PageSize, respond
from carelens.http.security import ActorDep, client_address, submission_guard
from carelens.services.intel import MAX_TEXT, experience_indicator, submission, submissions, submit, triage

router = APIRouter(prefix="/intel", tags=["intelligence from people"])

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
OrgCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")]
RATE_LIMITED = {
    404: {"description": "No such organisation"},
    429: {"description": "Too many submissions from this address or user: see Retry-After"},
}


class ExperienceIn(BaseModel):
    org_code: OrgCode
    sentiment: Literal["positive", "neutral", "negative"]
    text: Text
    submitter: Literal["public", "staff"] = "public"


class ConcernIn(BaseModel):
    org_code: OrgCode
    text: Text
    submitter: Literal["public", "staff"] = "staff"


class TriageIn(BaseModel):
    status: Literal["validated", "not_validated", "closed"]
    reason: Text


@router.post("/experiences", status_code=201, summary="Share an experience of care", responses=RATE_LIMITED)
def post_experience(request: Request, actor: ActorDep, body: ExperienceIn) -> dict:
    """Anyone may share one, signed in or not; it is never published."""
    return submit(
        request.app.state.engine,
        actor,
        "experience",
        body.org_code,
        body.text,
        body.submitter,
        body.sentiment,
        address=client_address(request),
        guard=submission_guard(request.app),
    )


@router.post("/concerns", status_code=201, summary="Raise a concern (whistleblowing)", responses=RATE_LIMITED)
def post_concern(request: Request, actor: ActorDep, body: ConcernIn) -> dict:
    """Anyone may raise one, signed in or not; it is never published and an analyst triages it."""
    return submit(
        request.app.state.engine,
        actor,
        "concern",
        body.org_code,
        body.text,
        body.submitter,
        address=client_address(request),
        guard=submission_guard(request.app),
    )


@router.get("/submissions", summary="Experiences and concerns (the roles that handle them, in reach)")
def get_submissions(
    request: Request,
    actor: ActorDep,
    kind: Annotated[Literal["experience", "concern"] | None, Query()] = None,
    org_code: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: PageNumber = 1,
    page_size: PageSize = None,
    format: OutputFormat = "json",
):
    result = submissions(request.app.state.engine, actor, kind, org_code, status, page, page_size)
    return respond(request, actor, result, format, "submissions")


@router.get("/submissions/{submission_id}", summary="One experience or concern (handlers in reach)")
def get_submission(request: Request, actor: ActorDep, submission_id: int):
    return respond(request, actor, submission(request.app.state.engine, actor, submission_id))


@router.post(
    "/submissions/{submission_id}/triage",
    summary="Triage a concern: validated or not validated (with a reason), later closed (analysts; audited)",
)
def post_triage(request: Request, actor: ActorDep, submission_id: int, body: TriageIn) -> dict:
    return triage(request.app.state.engine, actor, submission_id, body.status, body.reason)


@router.get("/experience-indicator", summary="Experiences by sentiment per organisation and month")
def get_experience_indicator(
    request: Request, actor: ActorDep, org_code: Annotated[str | None, Query(max_length=40)] = None
):
    return respond(request, actor, experience_indicator(request.app.state.engine, actor, org_code))
