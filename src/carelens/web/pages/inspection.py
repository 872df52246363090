"""One inspection's life on a page: its stage, findings, proposed (or published) ratings, report and
factual-accuracy challenges as :func:`carelens.services.inspections.report` shows them to the actor,
with a form for each step the actor may take now (:func:`carelens.services.inspections.steps`).

Each form posts to the step's route, which calls the same service step the API calls: the rules, the
audit event and the refusals (in words) are the service's. Until publication the page answers 404 to
anyone the inspection's plan does not reach, except the provider once the draft is sent to it. Every
form carries an anti-forgery token (:mod:`carelens.web.forms`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import Forbidden, NotFound, planning
from carelens.services import inspections as service
from carelens.services import organisations as organisation_service
from carelens.services._db import Db
from carelens.web.common import inspection_row, row_id
from carelens.web.forms import form_page, protected_page
from carelens.web.layout import store

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "carelens_inspection_csrf"
"""The inspection forms' anti-forgery cookie (path /inspections)."""

STAGE_NAMES = {
    "not started": "Not started",
    "open": "In progress: findings being recorded",
    "proposed": "Ratings proposed, waiting for a chief inspector's approval",
    "approved": "Ratings approved, draft report not yet sent",
    "sent": "Draft report sent to the provider for factual accuracy",
    "published": "Published",
}
ROUTE_STEPS = {
    "plan-approval": "approve_plan",
    "start": "start",
    "findings": "finding",
    "proposal": "propose",
    "approval": "approve",
    "draft-report": "send",
    "challenges": "challenge",
    "challenge-decision": "decide",
    "publication": "publish",
}
"""Each form's route (``POST /inspections/{id}/<route>``) and the service step it takes."""
DONE = {
    "approve_plan": "The inspection plan is approved.",
    "start": "The inspection has started.",
    "finding": "The finding is recorded.",
    "propose": "The ratings are proposed.",
    "approve": "The ratings are approved.",
    "send": "The draft report is sent to the provider.",
    "challenge": "Your factual-accuracy challenge is sent.",
    "decide": "The challenge is decided.",
    "publish": "The report and its ratings are published.",
}


def visible_to(actor: Actor) -> bool:
    """Anyone may open a published inspection; the service decides about the others (no header link)."""
    return True


def inspection_view(db: Db, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """The report as the actor may see it, the plan's details when the actor sees the plan, and the
    steps it may take now (NotFound, from the services, to anyone who may not see the inspection)."""
    found = service.report(db, actor, inspection_id)
    try:
        planned = inspection_row(planning.inspection(db, actor, inspection_id), actor.inspector_id)
    except NotFound:  # the provider reads a draft before the inspection is completed
        planned = None
    organisation = organisation_service.get_organisation(db, actor, found["org_code"])
    return {
        "inspection": found,
        "planned": planned,
        "organisation": organisation,
        "stage_name": STAGE_NAMES.get(found["stage"], found["stage"]),
        "undecided": [c for c in found["challenges"] if c["decision"] is None],
        **service.steps(db, actor, inspection_id),
    }


def _page(
    request: Request,
    actor: Actor,
    inspection_id: int,
    errors: list | None = None,
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    """The page with a fresh anti-forgery token for its forms, never cached."""
    view = inspection_view(store(request), actor, inspection_id)
    name = view["organisation"]["name"] or view["inspection"]["org_code"]
    return protected_page(
        request,
        actor,
        "inspection.jinja",
        CSRF_COOKIE,
        "/inspections",
        status=status,
        title=f"Inspection of {name}",
        errors=errors or [],
        done=DONE.get(done or ""),
        key_questions=[(q, q) for q in service.KEY_QUESTIONS],
        ratings=[(r, r) for r in service.rating_scale()],
        **view,
    )


@router.get("/inspections/{inspection_id}", response_class=HTMLResponse)
def inspection_page(request: Request, actor: ActorDep, inspection_id: str, done: str = ""):
    return _page(request, actor, row_id(inspection_id, "inspection"), done=done)


@router.post("/inspections/{inspection_id}/{route}", response_class=HTMLResponse)
def take_step(
    request: Request,
    actor: ActorDep,
    inspection_id: str,
    route: str,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    key_question: Annotated[str, Form(max_length=40)] = "",
    rating: Annotated[str, Form(max_length=40)] = "",
    finding: Annotated[str, Form(max_length=20_000)] = "",
    evidence: Annotated[str, Form(max_length=20_000)] = "",
    overall: Annotated[str, Form(max_length=40)] = "",
    rationale: Annotated[str, Form(max_length=20_000)] = "",
    summary: Annotated[str, Form(max_length=20_000)] = "",
    text: Annotated[str, Form(max_length=20_000)] = "",
    challenge_id: Annotated[str, Form(max_length=20)] = "",
    decision: Annotated[str, Form(max_length=20)] = "",
    reasons: Annotated[str, Form(max_length=20_000)] = "",
):
    """Take one step through its service, then show the page again (303) or, refused, the page with the
    service's reason and status."""
    number = row_id(inspection_id, "inspection")
    step = ROUTE_STEPS.get(route)
    if step is None:
        raise NotFound(f"no such step: {route}")
    db = store(request)

    def act() -> None:
        match step:
            case "approve_plan":
                schedule_id = service.steps(db, actor, number)["schedule_id"]
                if schedule_id is None:
                    raise Forbidden("inspection plans are approved by a chief inspector")
                service.approve_plan(db, actor, schedule_id)
            case "start":
                service.start(db, actor, number)
            case "finding":
                lines = evidence.splitlines()
                service.record_finding(db, actor, number, key_question, rating, finding, lines)
            case "propose":
                service.propose(db, actor, number, overall or None, rationale or None, summary or None)
            case "approve":
                service.approve(db, actor, number)
            case "send":
                service.send_draft(db, actor, number)
            case "challenge":
                service.challenge(db, actor, number, text, key_question or None)
            case "decide":
                if not challenge_id.isdigit():
                    raise NotFound(f"no challenge {challenge_id}")
                service.decide_challenge(db, actor, number, int(challenge_id), decision, reasons)
            case "publish":
                service.publish(db, actor, number)

    def show(errors: list, status: int) -> HTMLResponse:
        return _page(request, actor, number, errors, status)

    return form_page(
        request, CSRF_COOKIE, csrf_token, act, show, f"#{route}", f"/inspections/{number}?done={step}"
    )
