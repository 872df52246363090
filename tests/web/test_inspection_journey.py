"""A browser journey through an inspection's pages: one unannounced inspection from plan to publication
across five accounts (two inspectors of its team, the sector's chief inspector, the provider, the
public), with a factual-accuracy challenge. The public sees nothing before publication and everything
after; every step is in the audit log under the account that took it.

The store is the inspection tests' small one (tests/inspections/seed.py), its users created through the
services, served on loopback like the demo store (conftest.serve).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.inspections.seed import HOME, PROVIDER, SECTOR, seed

from .conftest import TEST_HASH, check_accessibility, press, serve, shot
from .conftest import signed_in as signed_in_as

expect = pytest.importorskip("playwright.sync_api").expect

PASSWORD = "a journey password"


def signed_in(browser, url: str, user_name: str | None, start: str):
    return signed_in_as(browser, url, user_name, start, PASSWORD)


FINDINGS = [
    ("Safe", "Requires improvement", "Medicines audits were missing for March", "MAR charts; audit file"),
    ("Effective", "Good", "Care plans are reviewed monthly", "Care plans"),
    ("Caring", "Good", "Residents spoke warmly of staff", "Conversations with residents"),
    ("Responsive", "Good", "Complaints are answered within a week", "Complaints log"),
    ("Well-led", "Good", "The manager knows the home well", "Staff interviews"),
]


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    """(base URL, engine, inspection id) of the small store served on loopback, with one account each
    for the two inspectors, the chief inspector and the provider."""
    from carelens.app import create_app
    from carelens.model.access import Role
    from carelens.services._db import writing
    from carelens.services.auth import NewUser, create_users, password_hasher
    from carelens.store.engine import create_engine
    from carelens.store.migrate import upgrade
    from carelens.store.schema_plan import plan_schedule

    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('journey') / 'store.db'}")
    upgrade(engine)
    inspection_id = seed(engine)
    with writing(engine) as connection:
        # the summary a saved schedule carries (the seed leaves it empty), which the plan page shows
        summary = dict.fromkeys(("inspections_scheduled", "inspections_demanded", "deadlines_met"), 1)
        summary |= dict(deadlines_in_horizon=1, overdue_inspected=0, overdue_at_start=0)
        connection.execute(plan_schedule.update().values(summary=summary))
        create_users(
            connection,
            [
                NewUser("ann", Role.INSPECTOR, PASSWORD, frozenset({HOME}), inspector_id="I1"),
                NewUser("bea", Role.INSPECTOR, PASSWORD, frozenset({HOME}), inspector_id="I2"),
                NewUser("chief", Role.CHIEF_INSPECTOR, PASSWORD, sector=SECTOR),
                NewUser("owner", Role.PROVIDER, PASSWORD, frozenset({PROVIDER})),
            ],
            by="journey-set-up",
            hasher=password_hasher(**TEST_HASH),
        )
    with serve(create_app(engine)) as url:
        yield url, engine, inspection_id
    engine.dispose()


def status_of(tab, url: str) -> int:
    return tab.goto(url).status


def test_an_unannounced_inspection_from_plan_to_publication_in_the_browser(browser, journey, tmp_path):
    url, engine, number = journey
    page = f"/inspections/{number}"
    public = signed_in(browser, url, None, "/")
    assert status_of(public, f"{url}{page}") == 404

    chief = signed_in(browser, url, "chief", page)
    expect(chief.locator("main")).to_contain_text("Unannounced window")
    press(chief, "Approve the plan", "The inspection plan is approved.")

    ann = signed_in(browser, url, "ann", "/plan")
    ann.locator(f'table#plan a[href="{page}"]').click()
    ann.wait_for_url(f"**{page}")
    press(ann, "Start the inspection", "The inspection has started.")
    bea = signed_in(browser, url, "bea", page)
    for n, (question, rating, finding, evidence) in enumerate(FINDINGS):
        tab = ann if n < 2 else bea
        tab.reload()
        tab.get_by_label("Key question", exact=True).select_option(question)
        tab.get_by_label("Your judgement", exact=True).select_option(rating)
        tab.get_by_label("What you found", exact=True).fill(finding)
        tab.get_by_label("Evidence", exact=True).fill(evidence)
        press(tab, "Record the finding", "The finding is recorded.")
    # A departure from the rules' overall rating without a rationale is refused, in words.
    ann.get_by_label("Overall rating", exact=True).select_option("Outstanding")
    ann.get_by_role("button", name="Propose the ratings").click()
    expect(ann.locator(".nhsuk-error-summary")).to_contain_text("a different rating needs a rationale")
    ann.get_by_label("Summary of the report", exact=True).fill(
        "A good home whose medicines audits need attention"
    )
    press(ann, "Propose the ratings", "The ratings are proposed.")
    shot(ann, tmp_path, "inspection-proposed")
    check_accessibility(ann)

    bea.reload()  # a second inspector may not approve: no such form
    assert bea.get_by_role("button", name="Approve the ratings").count() == 0
    chief.reload()
    press(chief, "Approve the ratings", "The ratings are approved.")

    owner = signed_in(browser, url, "owner", "/")
    assert status_of(owner, f"{url}{page}") == 404  # nothing until the draft is sent
    ann.reload()
    press(ann, "Send the draft report to the provider", "The draft report is sent to the provider.")
    assert status_of(public, f"{url}{page}") == 404
    assert status_of(owner, f"{url}{page}") == 200
    main = owner.locator("main")
    expect(main).to_contain_text("Medicines audits were missing for March")
    expect(main).not_to_contain_text("Unannounced window")
    owner.get_by_label("About", exact=True).select_option("Safe")
    owner.get_by_label("What is inaccurate, and what is right", exact=True).fill(
        "The March audit is in the second file"
    )
    press(owner, "Send the challenge", "Your factual-accuracy challenge is sent.")
    check_accessibility(owner)
    assert status_of(public, f"{url}{page}") == 404

    ann.reload()
    challenge = re.search(r"Decide challenge (\d+)", ann.locator("main").inner_text()).group(1)
    ann.get_by_label("Decision", exact=True).select_option("rejected")
    ann.get_by_label("Reasons", exact=True).fill("The second file holds February's audit, not March's")
    press(ann, f"Decide challenge {challenge}", "The challenge is decided.")
    chief.reload()
    press(chief, "Publish the report and ratings", "The report and its ratings are published.")

    assert status_of(public, f"{url}{page}") == 200
    main = public.locator("main")
    cells = [row.locator("td") for row in public.locator("table#ratings tbody tr").all()]
    shown = {c.nth(0).inner_text().strip(): c.nth(1).inner_text().strip() for c in cells}
    assert shown == {"Overall": "Good", **{question: rating for question, rating, _, _ in FINDINGS}}
    for _, _, finding, _ in FINDINGS:
        expect(main).to_contain_text(finding)
    expect(main).not_to_contain_text("Unannounced window")
    expect(main).not_to_contain_text("The March audit is in the second file")  # challenges are not public
    assert public.get_by_role("button").filter(has_text="Publish").count() == 0
    shot(public, tmp_path, "inspection-published")
    check_accessibility(public)
    for tab in (public, chief, ann, bea, owner):
        assert tab.csp_violations == []
        assert {url.split("/")[2] for url in tab.blocked} <= {"assets.nhs.uk"}  # the font, aborted
        tab.context.close()

    event = sa.table("audit_event", sa.column("id"), sa.column("user_name"), sa.column("action"))
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(event.c.user_name, event.c.action)
            .where(sa.or_(*(event.c.action.like(f"{p}.%") for p in ("plan", "inspection", "rating"))))
            .order_by(event.c.id)
        )
        steps = [tuple(row) for row in rows]
    assert steps == [
        ("chief", "plan.schedule_approved"),
        ("ann", "inspection.recorded"),
        ("ann", "inspection.finding"),
        ("ann", "inspection.finding"),
        ("bea", "inspection.finding"),
        ("bea", "inspection.finding"),
        ("bea", "inspection.finding"),
        *[("ann", "rating.proposed")] * 6,
        ("ann", "inspection.proposed"),
        ("chief", "inspection.approved"),
        ("ann", "inspection.draft_sent"),
        ("owner", "inspection.challenged"),
        ("ann", "inspection.challenge_rejected"),
        *[("chief", "rating.published")] * 6,
        ("chief", "inspection.published"),
    ]
