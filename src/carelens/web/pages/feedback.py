"""Share an experience of care or raise a concern about an organisation: a form for everyone, signed in
or not (:mod:`carelens.services.intel` records it, rate-limited, and shows it only to those who handle
such submissions).

The form carries an anti-forgery token (double submit, :mod:`carelens.web.forms`: :data:`CSRF_COOKIE`), so
another site cannot send a submission in a visitor's name from their browser.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep, client_address, submission_guard
from carelens.model.access import Actor
from carelens.services import organisations as organisation_service
from carelens.services.intel import MAX_TEXT, SENTIMENTS, submit
from carelens.web.forms import form_page, protected_page
from carelens.web.layout import render_page, store

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "carelens_feedback_csrf"
"""The form's anti-forgery cookie (HttpOnly, SameSite=Strict, path /organisations): the form's hidden
field must match it."""


def visible_to(actor: Actor) -> bool:
    """Anyone may share an experience or raise a concern."""
    return True


def _form(
    request: Request, actor: Actor, code: str, errors: list, status: int = 200, **values
) -> HTMLResponse:
    """The form with a fresh anti-forgery token (cookie and hidden field), never cached."""
    organisation = organisation_service.get_organisation(store(request), actor, code)
    return protected_page(
        request,
        actor,
        "feedback.jinja",
        CSRF_COOKIE,
        "/organisations",
        status=status,
        title=f"Share your experience of {organisation['name'] or code}",
        organisation=organisation,
        errors=errors,
        sentiments=SENTIMENTS,
        max_text=MAX_TEXT,
        values=values,
        sent=None,
    )


@router.get("/organisations/{code}/feedback", response_class=HTMLResponse)
def feedback_form(request: Request, actor: ActorDep, code: str):
    return _form(request, actor, code, [])


@router.post("/organisations/{code}/feedback", response_class=HTMLResponse)
def feedback_submit(
    request: Request,
    actor: ActorDep,
    code: str,
    kind: Annotated[str, Form(max_length=20)] = "experience",
    submitter: Annotated[str, Form(max_length=20)] = "public",
    sentiment: Annotated[str, Form(max_length=20)] = "",
    text: Annotated[str, Form(max_length=MAX_TEXT * 2)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
):
    """Record the submission (the service checks every field and the rate limit) and say it arrived."""
    values = dict(kind=kind, submitter=submitter, sentiment=sentiment, text=text)

    def act():
        return submit(
            store(request),
            actor,
            kind,
            code,
            text,
            submitter,
            (sentiment or None) if kind == "experience" else None,
            address=client_address(request),
            guard=submission_guard(request.app),
        )

    def show(errors: list, status: int) -> HTMLResponse:
        return _form(request, actor, code, errors, status, **values)

    return form_page(
        request, CSRF_COOKIE, csrf_token, act, show, "#text", lambda sent: _thanks(request, actor, code, sent)
    )


def _thanks(request: Request, actor: Actor, code: str, sent) -> HTMLResponse:
    """The page saying the submission arrived; the form's cookie is spent."""
    organisation = organisation_service.get_organisation(store(request), actor, code)
    response = render_page(
        request,
        actor,
        "feedback.jinja",
        title="Thank you",
        organisation=organisation,
        errors=[],
        sent=sent,
    )
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(CSRF_COOKIE, path="/organisations")
    return response
