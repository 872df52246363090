"""The concerns and failure-regime pages on the small regulator store (tests/web/regulator_store.py):
each form needs its own anti-forgery token and changes nothing without it; the forms offered are the
changes the services accept for the actor; a guard's refusal reads on the page as the API says it,
with the same status (409); every change is audited under the account that made it."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from carelens.model.access import ANONYMOUS
from carelens.services.intel import submission, submit
from carelens.services.planning import regime_case
from carelens.store.engine import create_engine
from carelens.store.migrate import upgrade

from .regulator_store import (
    ACCOUNTS,
    CONCERNED,
    IN_SPECIAL_MEASURES,
    PASSWORD,
    audit_trail,
    last_event,
    seed,
)

ANALYST, CHIEF = ACCOUNTS["analyst"], ACCOUNTS["chief"]


@pytest.fixture
def store(tmp_path):
    """(engine, app, case ids) of a fresh regulator store."""
    from carelens.app import create_app

    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    cases = seed(engine)
    yield engine, create_app(engine), cases
    engine.dispose()


def client_of(app, user_name: str) -> TestClient:
    """A client signed in through the sign-in form."""
    client = TestClient(app)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    signed = client.post(
        "/login",
        data={"user_name": user_name, "password": PASSWORD, "next": "/", "csrf_token": token},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text[:500]
    return client


def token_of(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def cookie_token(client: TestClient, cookie: str) -> str:
    """The token a page without forms still sets in its form cookie (what a form of it would carry)."""
    return client.cookies.get(cookie)


def errors_of(page) -> list[str]:
    """The texts of the page's error summary."""
    summary = re.search(r'nhsuk-error-summary__list">(.*?)</ul>', page.text, re.DOTALL).group(1)
    items = summary.split("</li>")[:-1]
    return [html.unescape(" ".join(re.sub(r"<[^>]+>", "", item).split())) for item in items]


def test_a_concern_is_triaged_only_with_the_forms_token_by_an_analyst(store):
    engine, app, _ = store
    sent = submit(engine, ANONYMOUS, "concern", CONCERNED, "rota gaps", "staff")
    analyst = client_of(app, "analyst")
    page = analyst.get("/concerns")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"]
    assert "carelens_concerns_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/concerns" in cookie
    assert f"Triage concern {sent['id']}" in page.text and "rota gaps" in page.text
    form = {"status": "validated", "reason": "two staff on the ward say so"}
    path = f"/concerns/{sent['id']}/triage"
    before = last_event(engine)
    for forged in ({}, {"csrf_token": "forged-by-another-site"}):
        refused = analyst.post(path, data=form | forged, follow_redirects=False)
        assert refused.status_code == 400 and "Your form had expired" in refused.text
    assert submission(engine, ANALYST, sent["id"])["status"] == "new" and last_event(engine) == before
    # A move the triage does not allow is refused in the service's words, with nothing written.
    # (each page its own token: the last refusal's, not the first page's)
    stale = analyst.post(path, data=form | {"csrf_token": token_of(page)})
    assert stale.status_code == 400
    wrong = analyst.post(path, data=form | {"status": "closed", "csrf_token": token_of(stale)})
    assert wrong.status_code == 400
    assert errors_of(wrong) == ["a concern that is new may become validated, not_validated, not 'closed'"]
    done = analyst.post(path, data=form | {"csrf_token": token_of(wrong)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/concerns?done={sent['id']}"
    assert f"Concern {sent['id']} is triaged." in analyst.get(done.headers["location"]).text
    row = submission(engine, ANALYST, sent["id"])
    assert (row["status"], row["triaged_by"], row["triage_reason"]) == (
        "validated",
        "analyst",
        form["reason"],
    )
    assert audit_trail(engine, before, "intel.") == [("analyst", "intel.triaged")]

    # The chief inspector of the trust's sector reads the concern, is offered no triage, and is refused
    # one in the service's words.
    chief = client_of(app, "chief")
    page = chief.get("/concerns")
    assert page.status_code == 200 and "rota gaps" in page.text and "Triage concern" not in page.text
    token = cookie_token(chief, "carelens_concerns_csrf")
    refused = chief.post(path, data={"status": "closed", "reason": "x", "csrf_token": token})
    assert refused.status_code == 403 and errors_of(refused) == ["concerns are triaged by an analyst"]
    # The national board does not handle submissions: as if there were none.
    assert client_of(app, "board").get("/concerns").status_code == 404


def test_a_guards_refusal_reads_on_the_page_as_the_api_says_it(store):
    engine, app, cases = store
    case = cases["provider"]
    chief = client_of(app, "chief")
    page = chief.get(f"/regime/cases/{case}")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert "carelens_regime_csrf=" in cookie and "SameSite=strict" in cookie and "Path=/regime" in cookie
    for button in ("Escalate the case", "Move the case", "Add the recovery action"):
        assert button in page.text
    before = last_event(engine)
    move = {"event": "exit_special_measures", "reason": "the trust says it has improved"}
    forged = chief.post(f"/regime/cases/{case}/transitions", data=move | {"csrf_token": "forged"})
    assert forged.status_code == 400 and last_event(engine) == before
    refused = chief.post(f"/regime/cases/{case}/transitions", data=move | {"csrf_token": token_of(forged)})
    assert refused.status_code == 409
    (reason,) = errors_of(refused)
    assert reason.startswith(f"'exit_special_measures' refused for case {case}: no completed re-inspection")
    # The API refuses the same move with the same status and the same words.
    from carelens.services.auth import login

    token = login(engine, "chief", PASSWORD, kind="api")[0]
    api = TestClient(app).post(
        f"/api/v1/regime/cases/{case}/transitions", json=move, headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 409 and [p["reason"] for p in api.json()["problems"]] == [reason]
    assert regime_case(engine, CHIEF, case)["state"] == "special_measures"
    assert last_event(engine) == before + 1  # the API's sign-in only: no change was written
    assert audit_trail(engine, before, "regime.") == []


def test_the_forms_offered_are_the_changes_the_services_accept(store):
    _, app, cases = store
    # The analyst reads every case but changes none: no form.
    analyst = client_of(app, "analyst")
    for case in cases.values():
        page = analyst.get(f"/regime/cases/{case}")
        assert page.status_code == 200 and "What you can do now" not in page.text
    refused = analyst.post(
        f"/regime/cases/{cases['provider']}/escalation",
        data={"reason": "late", "csrf_token": cookie_token(analyst, "carelens_regime_csrf")},
    )
    assert refused.status_code == 403
    # The commissioner case is the national board's: not in the chief inspector's reach, and it is
    # not overdue, so the board may move it on and set recovery actions but not escalate it.
    chief = client_of(app, "chief")
    assert chief.get(f"/regime/cases/{cases['commissioner']}").status_code == 404
    board = client_of(app, "board")
    page = board.get(f"/regime/cases/{cases['commissioner']}")
    assert "Escalate the case" not in page.text and "Add the recovery action" in page.text
    assert re.findall(r'<option value="(\w+)"', page.text) == ["exit_intervention", "give_directions"]
    # The lists: the chief inspector's overdue provider case, the board's own commissioner case.
    listed = chief.get("/regime")
    overdue = re.search(r'id="overdue".*?</table>', listed.text, re.DOTALL).group(0)
    assert f">Case {cases['provider']}<" in overdue and "propose cancellation" in overdue
    # The board's list of escalations due holds the provider case too (every regime's overdue cases),
    # but the case itself is the regulator's: named, not linked, and 404 to the board.
    everything = board.get("/regime").text
    overdue = re.search(r'id="overdue".*?</table>', everything, re.DOTALL).group(0)
    assert (
        f"Case {cases['provider']}" in overdue and f'href="/regime/cases/{cases["provider"]}"' not in overdue
    )
    assert board.get(f"/regime/cases/{cases['provider']}").status_code == 404
    mine = board.get("/regime?regime=commissioner").text
    cases_table = re.search(r'id="cases".*?</table>', mine, re.DOTALL).group(0)
    assert f">Case {cases['commissioner']}<" in cases_table and IN_SPECIAL_MEASURES not in cases_table


def test_no_change_the_services_refuse_for_want_of_a_right_or_a_turn_is_offered(store):
    """Each change not offered to an account (case_steps) is refused by its service when tried, writing
    nothing: the page never hides a change the services would accept for want of a form."""
    from carelens.errors import InputError
    from carelens.plan.config import load_regimes
    from carelens.services import ServiceError
    from carelens.services.planning import case_steps, escalate_case, move_case

    engine, _, cases = store
    before = last_event(engine)
    for actor in ACCOUNTS.values():
        for case in cases.values():
            try:
                steps = case_steps(engine, actor, case)
            except ServiceError:  # a case the account may not see: every change refused alike
                steps = {"events": [], "escalate_to": None, "actions": False}
            regime = "provider" if case == cases["provider"] else "commissioner"
            for event in set(load_regimes()[regime].transitions) - set(steps["events"]):
                with pytest.raises((ServiceError, InputError)):
                    move_case(engine, actor, case, event, "tried")
            if steps["escalate_to"] is None:
                with pytest.raises((ServiceError, InputError)):
                    escalate_case(engine, actor, case, "tried")
    assert last_event(engine) == before
    # What is offered is taken: the chief inspector's escalation of the overdue provider case.
    steps = case_steps(engine, CHIEF, cases["provider"])
    assert steps["escalate_to"] == "propose_cancellation" and steps["actions"]
    assert escalate_case(engine, CHIEF, cases["provider"], "overdue")["state"] == "cancellation_proposed"
