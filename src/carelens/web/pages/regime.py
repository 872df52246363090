"""The failure regime on the web: the cases the actor owns (the chief inspector's provider cases in its
sector, the national board's NHS trust and commissioner cases) with the escalations due, and each
case's page with its history, its recovery actions and a form for each change the actor may make now
(:func:`carelens.services.planning.case_steps`).

Each form posts to the same service the API calls (move, escalate, add or complete a recovery
action): the rules, the guards, the audit event and the refusals are the services'. A guard's refusal
is shown in its own words with status 409, as the API answers it. Roles the regime's rules reach
nothing for are refused (403), a case outside the reach does not exist (404). Every form carries an
anti-forgery token (:mod:`carelens.web.forms`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from carelens.http.security import ActorDep
from carelens.model.access import Actor
from carelens.services import Invalid, NotFound, planning
from carelens.services import organisations as organisation_service
from carelens.services._db import Db
from carelens.web.common import all_pages, row_id
from carelens.web.forms import form_page, protected_page
from carelens.web.layout import pager_links, render_page, store
from carelens.web.pages import NavLink

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "carelens_regime_csrf"
"""The case forms' anti-forgery cookie (path /regime)."""
PAGE_SIZE = 50

REGIME_NAMES = {
    "provider": "Provider enforcement",
    "nhs_trust": "NHS trust oversight",
    "commissioner": "Commissioner intervention",
}
"""Display names of the regimes of ``config/plan/regime.yaml``."""
ROUTES = {
    "transitions": "move",
    "escalation": "escalate",
    "recovery-actions": "add_action",
    "recovery-action-done": "complete_action",
}
"""Each form's route (``POST /regime/cases/{id}/<route>``) and the change it makes."""
DONE = {
    "move": "The case has moved on.",
    "escalate": "The case is escalated.",
    "add_action": "The recovery action is added.",
    "complete_action": "The recovery action is done.",
}


def visible_to(actor: Actor) -> bool:
    """For the roles some regime's rule reaches (:func:`carelens.services.planning.may_see_regime`)."""
    return planning.may_see_regime(actor)


def nav_links(actor: Actor) -> list[NavLink]:
    return [NavLink("Failure regime", "/regime", (65,))]


def words(name: str | None) -> str:
    """A state or event name as words ('special_measures' → 'special measures')."""
    return (name or "").replace("_", " ")


def cases_view(db: Db, actor: Actor, regime: str | None, open_only: bool, page: int) -> dict[str, Any]:
    """The cases the actor sees (Forbidden, from the service, to roles that see none), and the open
    cases on its list whose next action is overdue today, most overdue first, with the step that
    escalates each; an overdue case links to its page when the actor sees the case itself (the board's
    list holds every regime's overdue cases, its reach of cases only its own regimes')."""
    today = dt.date.today()
    table = planning.regime_cases(db, actor, None, regime, open_only, page, PAGE_SIZE)
    overdue = all_pages(planning.overdue_actions, db=db, actor=actor, as_of=today)
    late = {row["id"]: row["days_overdue"] for row in overdue}
    seen = {row["id"] for row in all_pages(planning.regime_cases, db=db, actor=actor, open_only=True)}
    return {
        "table": table,
        "rows": [{**row, "days_overdue": late.get(row["id"])} for row in table.items],
        "overdue": [{**row, "linked": row["id"] in seen} for row in overdue],
        "today": today.isoformat(),
    }


@router.get("/regime", response_class=HTMLResponse)
def regime_cases(
    request: Request,
    actor: ActorDep,
    regime: Annotated[str, Query(max_length=30)] = "",
    cases: Annotated[str, Query(max_length=10)] = "open",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
):
    """The failure-regime cases the actor owns, open ones by default."""
    view = cases_view(store(request), actor, regime or None, cases != "all", page_number)
    if regime not in ("", *REGIME_NAMES) or cases not in ("open", "all"):  # after the service's 403
        raise Invalid("choose a regime and open or all cases from the lists")
    regimes = [("", "Every regime you see"), *REGIME_NAMES.items()]
    return render_page(
        request,
        actor,
        "regime.jinja",
        title="Failure regime",
        fields=[
            ("regime", "Regime", regimes, regime),
            ("cases", "Cases", [("open", "Open cases"), ("all", "Open and closed cases")], cases),
        ],
        regime_names=REGIME_NAMES,
        **view,
        **pager_links("/regime", {"regime": regime, "cases": cases}, view["table"]),
    )


def case_view(db: Db, actor: Actor, case_id: int) -> dict[str, Any]:
    """One case as the actor sees it (NotFound, from the services, outside its reach), with the
    changes it may make now."""
    case = planning.regime_case(db, actor, case_id)
    steps = planning.case_steps(db, actor, case_id)
    organisation = organisation_service.get_organisation(db, actor, case["org_code"])
    return {
        "case": case,
        "organisation": organisation,
        "events": [(event, words(event)) for event in steps["events"]],
        "escalate_to": steps["escalate_to"],
        "may_act": steps["actions"],
        "open_actions": [a for a in case["actions"] if a["status"] == "open"],
        "regime_name": REGIME_NAMES.get(case["regime"], words(case["regime"])),
        "words": words,
    }


def _case_page(
    request: Request,
    actor: Actor,
    case_id: int,
    errors: list | None = None,
    status: int = 200,
    done: str | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The case's page with a fresh anti-forgery token for its forms, never cached."""
    view = case_view(store(request), actor, case_id)
    name = view["organisation"]["name"] or view["case"]["org_code"]
    return protected_page(
        request,
        actor,
        "regime_case.jinja",
        CSRF_COOKIE,
        "/regime",
        status=status,
        title=f"{view['regime_name']}: {name}",
        errors=errors or [],
        done=DONE.get(done or ""),
        values=values or {},
        **view,
    )


@router.get("/regime/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, actor: ActorDep, case_id: str, done: Annotated[str, Query(max_length=20)] = ""
):
    return _case_page(request, actor, row_id(case_id, "regime case"), done=done)


def _due_date(text: str) -> dt.date:
    """A recovery action's due date from its form field (Invalid, saying so, otherwise)."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid("give the due date as a date (year-month-day)") from None


@router.post("/regime/cases/{case_id}/{route}", response_class=HTMLResponse)
def change_case(
    request: Request,
    actor: ActorDep,
    case_id: str,
    route: str,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    event: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    action: Annotated[str, Form(max_length=2000)] = "",
    owner: Annotated[str, Form(max_length=200)] = "",
    due_date: Annotated[str, Form(max_length=20)] = "",
    action_id: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
):
    """Make one change through its service, then show the case again (303) or, refused, the case with
    the refusal in words and its status (409 for a guard's)."""
    number = row_id(case_id, "regime case")
    change = ROUTES.get(route)
    if change is None:
        raise NotFound(f"no such change: {route}")
    values = dict(event=event, reason=reason, action=action, owner=owner, due_date=due_date, note=note)
    db = store(request)

    def act() -> None:
        match change:
            case "move":
                planning.move_case(db, actor, number, event, reason)
            case "escalate":
                planning.escalate_case(db, actor, number, reason)
            case "add_action":
                planning.add_recovery_action(db, actor, number, action, owner, _due_date(due_date))
            case "complete_action":
                done = planning.recovery_action(db, actor, row_id(action_id, "recovery action"))
                if done["case_id"] != number:
                    raise NotFound(f"no recovery action {action_id} on case {number}")
                planning.complete_recovery_action(db, actor, done["id"], note)

    def show(errors: list, status: int) -> HTMLResponse:
        return _case_page(request, actor, number, errors, status, values=values)

    done = f"/regime/cases/{number}?done={change}"
    return form_page(request, CSRF_COOKIE, csrf_token, act, show, f"#{route}", done)
