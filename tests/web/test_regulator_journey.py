"""A browser journey through the regulator's pages (chromium): a member of staff raises a concern about
a trust through the public form, an analyst triages it as validated and the next monitoring run shows
it as one more elevated risk where the trust's monitoring is shown; the chief inspector of hospitals
finds a special-measures case overdue on the failure regime's list, is told in words why it may not
leave special measures, and escalates it; the national board adds a recovery action, with its owner
and due date, to its commissioner intervention and completes it. Every change is in the audit log
under the account that made it.

The store is the small regulator store (tests/web/regulator_store.py), served on loopback like the
demo store (conftest.serve).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from carelens.model.dates import date_in_words

from .conftest import check_accessibility, press, serve, shot
from .conftest import signed_in as signed_in_as
from .regulator_store import (
    COMMISSIONER,
    CONCERNED,
    IN_SPECIAL_MEASURES,
    PASSWORD,
    SET_UP,
    audit_trail,
    elevated,
    last_event,
    monitor,
    seed,
)

expect = pytest.importorskip("playwright.sync_api").expect


def signed_in(browser, url: str, user_name: str | None, start: str):
    return signed_in_as(browser, url, user_name, start, PASSWORD)


@pytest.fixture(scope="module")
def regulator(tmp_path_factory):
    """(base URL, engine, case ids, the first monitoring run's id) of the regulator store on loopback."""
    from carelens.app import create_app
    from carelens.store.engine import create_engine
    from carelens.store.migrate import upgrade

    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('regulator') / 'store.db'}")
    upgrade(engine)
    cases = seed(engine)
    first_run = monitor(engine)
    with serve(create_app(engine)) as url:
        yield url, engine, cases, first_run
    engine.dispose()


def header_links(tab) -> list[str]:
    """The paths the header links: the role's own pages, then the others."""
    links = tab.locator("a.carelens-role-nav__link, a.nhsuk-header__navigation-link")
    return links.evaluate_all("links => links.map(a => a.pathname)")


def test_the_regulator_at_work_in_the_browser(browser, regulator, tmp_path):
    url, engine, cases, first_run = regulator
    start = last_event(engine)

    # A member of staff raises a concern through the public form (not signed in).
    public = signed_in(browser, url, None, f"/organisations/{CONCERNED}/feedback")
    public.get_by_label("Raise a concern").check()
    public.get_by_label("I work there").check()
    public.get_by_label(re.compile("^What happened")).fill(
        "Night shifts run with half the nurses the rota needs"
    )
    public.get_by_role("button", name="Send").click()
    expect(public.locator("main")).to_contain_text("We have received your concern")
    reference = re.search(r"reference (\d+)", public.locator("main").inner_text()).group(1)
    assert public.goto(f"{url}/concerns").status == 404  # never public

    # The analyst triages it from the concerns page its header links.
    analyst = signed_in(browser, url, "analyst", "/")
    assert "/concerns" in header_links(analyst) and "/regime" in header_links(analyst)
    analyst.goto(f"{url}/concerns")
    expect(analyst.locator("table#submissions")).to_contain_text("Night shifts run with half the nurses")
    analyst.get_by_label(f"Decision on concern {reference}", exact=True).select_option("validated")
    analyst.get_by_label(f"Reason for concern {reference}", exact=True).fill(
        "Two nurses on the ward confirmed the rota gaps"
    )
    press(analyst, f"Triage concern {reference}", f"Concern {reference} is triaged.")
    expect(analyst.locator("table#submissions")).to_contain_text("Validated: it stands")
    check_accessibility(analyst)

    # The next monitoring run (carelens monitor, by the analyst) counts it as an elevated risk, and the
    # trust's page shows it where its monitoring is shown.
    before = elevated(engine, first_run, CONCERNED)
    second_run = monitor(engine)
    after = elevated(engine, second_run, CONCERNED)
    assert after == before + 1
    analyst.goto(f"{url}/organisations/{CONCERNED}")
    monitoring = analyst.locator("section[aria-labelledby='monitoring-heading']")
    expect(monitoring).to_contain_text(f"From monitoring run {second_run}")
    expect(monitoring).to_contain_text(f"{after} elevated risks")

    # The chief inspector of hospitals finds the overdue special-measures case on its list.
    case = cases["provider"]
    chief = signed_in(browser, url, "chief", "/regime")
    overdue = chief.locator("table#overdue")
    expect(overdue).to_contain_text("re-inspect within 6 months")
    expect(overdue).to_contain_text("propose cancellation")
    overdue.get_by_role("link", name=f"Case {case}", exact=True).click()
    chief.wait_for_url(f"**/regime/cases/{case}")
    # Leaving special measures without a re-inspection is refused, in words, as the API's 409.
    chief.get_by_label("Step", exact=True).select_option("exit_special_measures")
    chief.get_by_label("Why", exact=True).fill("The trust says staffing has improved")
    with chief.expect_response(lambda r: r.request.method == "POST") as answer:
        chief.get_by_role("button", name="Move the case").click()
    assert answer.value.status == 409
    expect(chief.locator(".nhsuk-error-summary")).to_contain_text(
        f"no completed re-inspection of {IN_SPECIAL_MEASURES} since it entered special measures"
    )
    chief.get_by_label("Why escalate", exact=True).fill("No re-inspection within six months")
    press(chief, "Escalate the case", "The case is escalated.")
    expect(chief.locator("table#history")).to_contain_text("special measures to cancellation proposed")
    shot(chief, tmp_path, "regime-escalated")
    check_accessibility(chief)

    # The national board sets its commissioner intervention a recovery action and completes it.
    board = signed_in(browser, url, "board", "/regime?regime=commissioner")
    board.locator("table#cases").get_by_role("link", name=f"Case {cases['commissioner']}").click()
    board.wait_for_url(f"**/regime/cases/{cases['commissioner']}")
    due = dt.date.today() + dt.timedelta(days=60)
    board.get_by_label("What must be done", exact=True).fill("Agree a financial recovery plan")
    board.get_by_label("Owner", exact=True).fill(f"Chief finance officer, {COMMISSIONER}")
    board.get_by_label("Due by", exact=True).fill(due.isoformat())
    press(board, "Add the recovery action", "The recovery action is added.")
    actions = board.locator("table#action-list")
    expect(actions).to_contain_text(f"Chief finance officer, {COMMISSIONER}")
    expect(actions).to_contain_text(date_in_words(due))  # as people write it
    action = re.search(r"Mark action (\d+) done", board.locator("main").inner_text()).group(1)
    board.get_by_label(f"Evidence that action {action} is done", exact=True).fill("Plan signed off on 1 May")
    press(board, f"Mark action {action} done", "The recovery action is done.")
    expect(actions).to_contain_text("Plan signed off on 1 May")
    check_accessibility(board)
    shot(board, tmp_path, "regime-recovery-action")

    for tab in (public, analyst, chief, board):
        assert tab.csp_violations == []
        assert {u.split("/")[2] for u in tab.blocked} <= {"assets.nhs.uk"}  # the font, aborted
        tab.context.close()

    assert audit_trail(engine, start, "intel.", "monitor.", "regime.") == [
        ("anonymous", "intel.concern"),
        ("analyst", "intel.triaged"),
        ("analyst", "monitor.run"),
        ("chief", "regime.propose_cancellation"),
        ("board", "regime.action.added"),
        ("board", "regime.action.done"),
    ]
    assert SET_UP not in {user for user, _ in audit_trail(engine, start, "")}
