"""Experiences and concerns sent by the public and staff, for the roles that handle them
(:func:`carelens.services.intel.may_handle`: 404 to everyone else, as the service answers), with a
form to triage each concern the actor may move on (:func:`carelens.services.intel.triage_moves`).

Each form posts to the same service step the API calls (:func:`carelens.services.intel.triage`): the
rules, the audit event and the refusals in words are the service's. Submissions are never public: the
page is never cached, and every form carries an anti-forgery token (:mod:`carelens.web.forms`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import Invalid
from carelens.services import intel as service
from carelens.services._db import Db
from carelens.web.common import row_id
from carelens.web.forms import form_page, protected_page
from carelens.web.layout import pager_links, store
from carelens.web.pages import NavLink

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "carelens_concerns_csrf"
"""The triage forms' anti-forgery cookie (path /concerns)."""
PAGE_SIZE = 50

STATUS_NAMES = {
    "new": "New: to be triaged",
    "validated": "Validated: it stands",
    "not_validated": "Not validated",
    "closed": "Closed: no longer stands",
    "recorded": "Recorded",
}
"""Display names of a submission's statuses (an experience is recorded, a concern triaged)."""
KIND_OPTIONS = [
    ("", "Experiences and concerns"),
    ("concern", "Concerns only"),
    ("experience", "Experiences only"),
]
STATUS_OPTIONS = [("", "Any status"), *((k, v) for k, v in STATUS_NAMES.items() if k != "recorded")]


def visible_to(actor: Actor) -> bool:
    """For the roles that handle submissions (:func:`carelens.services.intel.may_handle`)."""
    return service.may_handle(actor)


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("Concerns", "/concerns", (45,))]


def concerns_view(db: Db, actor: Actor, kind: str | None, status: str | None, page: int) -> dict[str, Any]:
    """The submissions the actor handles (NotFound, from the service, to anyone else), newest first,
    each with the triage moves the actor may make on it."""
    table = service.submissions(db, actor, kind, None, status, page, PAGE_SIZE)
    rows = [
        {
            **row,
            "status_name": STATUS_NAMES.get(row["status"], row["status"]),
            "moves": [(m, STATUS_NAMES.get(m, m)) for m in service.triage_moves(actor, row)],
        }
        for row in table.items
    ]
    return {"table": table, "rows": rows}


def _page(
    request: Request,
    actor: Actor,
    kind: str = "",
    status: str = "",
    page: int = 1,
    errors: list | None = None,
    code: int = 200,
    done: str = "",
) -> HTMLResponse:
    """The page with a fresh anti-forgery token for its forms, never cached."""
    known = kind in service.KINDS, status in STATUS_NAMES
    view = concerns_view(
        store(request), actor, kind if known[0] else None, status if known[1] else None, page
    )
    if (kind and not known[0]) or (status and not known[1]):  # after the service's 404 to others
        raise Invalid("choose what to show from the lists")
    return protected_page(
        request,
        actor,
        "concerns.jinja",
        CSRF_COOKIE,
        "/concerns",
        status=code,
        title="Experiences and concerns",
        errors=errors or [],
        done=done,
        fields=[("kind", "Show", KIND_OPTIONS, kind), ("status", "Status", STATUS_OPTIONS, status)],
        **view,
        **pager_links("/concerns", {"kind": kind, "status": status}, view["table"]),
    )


@router.get("/concerns", response_class=HTMLResponse)
def concerns_page(
    request: Request,
    actor: ActorDep,
    kind: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    done: Annotated[str, Query(max_length=20)] = "",
):
    triaged = f"Concern {done} is triaged." if done.isdigit() else ""
    return _page(request, actor, kind, status, page_number, done=triaged)


@router.post("/concerns/{submission_id}/triage", response_class=HTMLResponse)
def triage_concern(
    request: Request,
    actor: ActorDep,
    submission_id: str,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    status: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=service.MAX_TEXT * 2)] = "",
):
    """Triage one concern through its service, then show the list again (303) or, refused, the list
    with the service's reason and status."""
    number = row_id(submission_id, "submission")
    return form_page(
        request,
        CSRF_COOKIE,
        csrf_token,
        lambda: service.triage(store(request), actor, number, status, reason),
        lambda errors, code: _page(request, actor, errors=errors, code=code),
        f"#triage-{number}",
        f"/concerns?done={number}",
    )
