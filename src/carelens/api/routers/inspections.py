"""An inspection's life and rating approval as write routes (docs/inspections.md): each calls one
service step, which checks the actor's role and reach and writes the change with its audit event.

Steps on an inspection the actor may not see answer 404 (never 403), as its plan does; a step the actor
may see but is not its to take answers 403; a step out of turn, or bad input, 400.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from carelens.api.responses import RowId, respond
from carelens.http.security import ActorDep
from carelens.services import assessment
from carelens.services import inspections as service

router = APIRouter(tags=["inspections"])

KeyQuestion = Literal["Safe", "Effective", "Caring", "Responsive", "Well-led"]
Rating = Literal["Outstanding", "Good", "Requires improvement", "Inadequate"]
Text = Annotated[str, Field(min_length=1, max_length=20_000)]


class FindingIn(BaseModel):
    key_question: KeyQuestion
    rating: Rating
    finding: Text
    evidence: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=200)


class ProposalIn(BaseModel):
    overall: Rating | None = Field(
        default=None, description="Default: what the rules give from the findings."
    )
    rationale: Annotated[str, Field(max_length=20_000)] | None = Field(
        default=None, description="Why the overall rating departs from the rules' (required if it does)."
    )
    summary: Annotated[str, Field(max_length=20_000)] | None = None


class ChallengeIn(BaseModel):
    text: Text
    key_question: KeyQuestion | None = None


class DecisionIn(BaseModel):
    decision: Literal["accepted", "rejected"]
    reasons: Text


@router.get("/inspections/{inspection_id}/report", summary="An inspection's report as you may see it")
def get_report(request: Request, actor: ActorDep, inspection_id: RowId):
    return respond(request, actor, service.report(request.app.state.engine, actor, inspection_id))


@router.post("/plan/schedules/{schedule_id}/approval", summary="Approve a draft schedule (a chief inspector)")
def post_plan_approval(request: Request, actor: ActorDep, schedule_id: RowId) -> dict:
    return service.approve_plan(request.app.state.engine, actor, schedule_id)


@router.post("/inspections/{inspection_id}/start", summary="Start an inspection (its team)")
def post_start(request: Request, actor: ActorDep, inspection_id: RowId) -> dict:
    return service.start(request.app.state.engine, actor, inspection_id)


@router.post("/inspections/{inspection_id}/findings", summary="Record a finding on a key question (its team)")
def post_finding(request: Request, actor: ActorDep, inspection_id: RowId, finding: FindingIn) -> dict:
    return service.record_finding(
        request.app.state.engine,
        actor,
        inspection_id,
        finding.key_question,
        finding.rating,
        finding.finding,
        finding.evidence,
    )


@router.post(
    "/inspections/{inspection_id}/proposal", summary="Propose the ratings from the findings (its team)"
)
def post_proposal(request: Request, actor: ActorDep, inspection_id: RowId, proposal: ProposalIn) -> dict:
    return service.propose(
        request.app.state.engine, actor, inspection_id, proposal.overall, proposal.rationale, proposal.summary
    )


@router.post(
    "/inspections/{inspection_id}/approval",
    summary="Approve the proposed ratings (a chief inspector of the sector, not the proposer)",
)
def post_approval(request: Request, actor: ActorDep, inspection_id: RowId) -> dict:
    return service.approve(request.app.state.engine, actor, inspection_id)


@router.post("/inspections/{inspection_id}/draft-report", summary="Send the draft report to the provider")
def post_draft_report(request: Request, actor: ActorDep, inspection_id: RowId) -> dict:
    return service.send_draft(request.app.state.engine, actor, inspection_id)


@router.post(
    "/inspections/{inspection_id}/challenges",
    summary="Challenge the draft report's factual accuracy (the provider, within the window)",
)
def post_challenge(request: Request, actor: ActorDep, inspection_id: RowId, challenge: ChallengeIn) -> dict:
    return service.challenge(
        request.app.state.engine, actor, inspection_id, challenge.text, challenge.key_question
    )


@router.put(
    "/inspections/{inspection_id}/challenges/{challenge_id}",
    summary="Accept or reject a factual-accuracy challenge with reasons",
)
def put_challenge(
    request: Request, actor: ActorDep, inspection_id: RowId, challenge_id: RowId, decision: DecisionIn
) -> dict:
    return service.decide_challenge(
        request.app.state.engine, actor, inspection_id, challenge_id, decision.decision, decision.reasons
    )


@router.post("/inspections/{inspection_id}/publication", summary="Publish the report and its ratings")
def post_publication(request: Request, actor: ActorDep, inspection_id: RowId) -> dict:
    return service.publish(request.app.state.engine, actor, inspection_id)


@router.post(
    "/assessed-ratings/{rating_id}/approval",
    summary="Approve and publish a draft rating (a chief inspector of the sector, not its proposer)",
)
def post_rating_approval(request: Request, actor: ActorDep, rating_id: RowId) -> dict:
    new_id = assessment.approve_rating(request.app.state.engine, actor, rating_id)
    return assessment.get_assessed_rating(request.app.state.engine, actor, new_id)
