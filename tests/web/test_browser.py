"""Browser journeys: Playwright drives Debian's chromium against a real uvicorn server on loopback
(the ``browser`` and ``page`` fixtures of conftest.py).

Every request to another host is aborted (the NHS font falls back to Arial, which Debian's
fonts-liberation matches width for width). Each journey takes screenshots (in the folder named by
``$CARELENS_TEST_ARTEFACTS`` if set, else in pytest's tmp folder) and runs axe-core, which must find no
serious or critical violation.
"""

from __future__ import annotations

import pytest

from carelens.model.access import Role

from .conftest import check_accessibility, shot
from .test_page_matrix import NAVIGATION

expect = pytest.importorskip("playwright.sync_api").expect

SIGNED_IN = [role for role in Role if role is not Role.PUBLIC]


def sign_in(page, live_server, account) -> None:
    """Sign in through the form; wait for the landing page (the role's own first page)."""
    page.goto(f"{live_server}/login")
    page.get_by_label("User name").fill(account.user_name)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.endswith("/login"))
    page.wait_for_load_state()


def own_links(page):
    """The header's bar of the role's own pages."""
    return page.get_by_role("navigation", name="Your pages").get_by_role("link")


def assert_own_links_shown(page) -> list[str]:
    """Every own link is on screen, inside the viewport's width, and none is in the "More" menu: gives
    their paths."""
    links = own_links(page)
    width = page.viewport_size["width"]
    hrefs = []
    for n in range(links.count()):
        link = links.nth(n)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (link.inner_text(), box, width)
        hrefs.append(link.get_attribute("href"))
    assert page.locator(".nhsuk-header__menu-list .carelens-role-nav__link").count() == 0
    return hrefs


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("role", SIGNED_IN, ids=[r.value for r in SIGNED_IN])
def test_each_role_reaches_its_own_pages_from_the_header(page, live_server, accounts, role, width, tmp_path):
    """Signed in, a role lands on its own first page; every one of its own pages is a link in the header,
    on screen without opening "More", at a phone's width and a laptop's (and at any width between 390
    and 1600 pixels), and each opens."""
    page.set_default_timeout(60_000)  # some pages take seconds to draw on a busy machine
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, accounts[role.value])
    own = {
        "provider": accounts["provider"].organisations[0],
        "commissioner": accounts["commissioner"].organisations[0],
    }
    expected = [path.format(**own) for path in NAVIGATION[role][0]]
    assert page.url == f"{live_server}{expected[0]}"
    shot(page, tmp_path, f"{role.value}-{width}-landing")
    assert assert_own_links_shown(page) == expected
    for other_width in (390, 600, 768, 1024, 1100, 1280, 1440, 1600):
        page.set_viewport_size({"width": other_width, "height": 900})
        page.wait_for_timeout(50)  # the header's script re-lays its links out on resize
        assert assert_own_links_shown(page) == expected, other_width
    page.set_viewport_size({"width": width, "height": 900})
    for path in expected[1:]:
        own_links(page).and_(page.locator(f'[href="{path}"]')).click()
        page.wait_for_url(f"{live_server}{path}")
        assert (
            page.locator(f'.carelens-role-nav__link[href="{path}"]').get_attribute("aria-current") == "page"
        )
        assert assert_own_links_shown(page) == expected
        shot(page, tmp_path, f"{role.value}-{width}-{path.strip('/').replace('/', '-')}")
    check_accessibility(page)


def test_public_finds_a_hospital_and_reads_its_ratings(page, live_server, tmp_path):
    page.goto(live_server)
    check_accessibility(page)
    page.locator("main").get_by_label("Search by name, code or place").fill("RK9")
    page.locator("main").get_by_role("button", name="Search").click()
    page.locator('main a[href="/organisations/RK9"]').click()
    page.wait_for_url("**/organisations/RK9")
    expect(page.get_by_role("heading", name="Ratings")).to_be_visible()
    assert page.get_by_role("img", name="Funnel plot").count() >= 2
    shot(page, tmp_path, "public-profile")
    check_accessibility(page)
    assert any("assets.nhs.uk" in url for url in page.blocked), "the remote font request was blocked"
    assert page.csp_violations == []  # the design system's scripts and styles all run under the policy
    assert page.evaluate("document.body.classList.contains('js-enabled')")  # its inline script, by hash


@pytest.mark.parametrize(
    ("path", "shows"),
    [
        ("/docs", '.opblock-summary-path:has-text("/api/v1/organisations")'),
        ("/redoc", 'h2:has-text("Create a user (administrators only")'),
    ],
)
def test_api_documentation_is_served_from_the_package(page, live_server, path, shows, tmp_path):
    """Swagger UI and ReDoc load from /static (nothing from another host) and run under their page's
    Content-Security-Policy."""
    response = page.goto(f"{live_server}{path}")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(shows).first).to_be_visible(timeout=30_000)
    shot(page, tmp_path, path.strip("/"))
    assert page.blocked == []
    # ReDoc's sidebar shows its maker's logo from the maker's site: the policy stops that, and only that.
    assert [v for v in page.csp_violations if "https://cdn.redoc.ly/redoc/logo-mini.svg" not in v] == []


def test_provider_sees_own_organisation(page, live_server, accounts, tmp_path):
    account = accounts["provider"]
    sign_in(page, live_server, account)
    own = account.organisations[0]
    page.get_by_role("link", name=f"My organisation ({own})").click()
    page.wait_for_url(f"**/organisations/{own}")
    expect(page.get_by_role("heading", name="Ratings")).to_be_visible()
    shot(page, tmp_path, "provider-profile")
    check_accessibility(page)


def test_inspector_reads_its_plan_and_opens_an_organisation_from_it(page, live_server, accounts, tmp_path):
    account = accounts["inspector"]
    sign_in(page, live_server, account)
    page.get_by_role("link", name="My inspection plan").click()
    page.wait_for_url("**/plan")
    expect(page.get_by_role("heading", name="My inspection plan")).to_be_visible()
    plan = page.locator("table#plan")
    expect(plan).to_be_visible()
    expect(plan.get_by_text("unannounced").first).to_be_visible()
    plan.scroll_into_view_if_needed()
    shot(page, tmp_path, "inspector-plan")
    check_accessibility(page)
    first = plan.locator('a[href^="/organisations/"]').first
    code = first.get_attribute("href").rsplit("/", 1)[-1]
    assert code in account.organisations
    first.click()
    page.wait_for_url(f"**/organisations/{code}")
    expect(page.get_by_role("heading", name="Inspections", exact=True)).to_be_visible()
    inspections = page.locator("table#inspections")
    expect(inspections).to_contain_text("Planned")
    inspections.scroll_into_view_if_needed()
    shot(page, tmp_path, "inspector-organisation")
    check_accessibility(page)


def test_analyst_explores_a_league_table(page, live_server, accounts, tmp_path):
    sign_in(page, live_server, accounts["analyst"])
    page.goto(f"{live_server}/league-tables")
    page.get_by_label("Indicator").select_option("shmi")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**indicator=shmi*")
    expect(
        page.get_by_role("heading", name="Summary Hospital-level Mortality Indicator (SHMI)")
    ).to_be_visible()
    shot(page, tmp_path, "analyst-league")
    check_accessibility(page)


def test_analyst_reads_the_monitoring_overview(page, live_server, accounts, tmp_path):
    sign_in(page, live_server, accounts["analyst"])
    page.get_by_role("link", name="Monitoring").click()
    page.wait_for_url("**/monitoring")
    expect(page.get_by_role("heading", name="Priority bands")).to_be_visible()
    expect(page.get_by_role("heading", name="Biggest movers since the last run")).to_be_visible()
    shot(page, tmp_path, "analyst-monitoring")
    check_accessibility(page)


def test_commissioner_reads_its_scorecard(page, live_server, accounts, tmp_path):
    account = accounts["commissioner"]
    sign_in(page, live_server, account)
    own = account.organisations[0]
    page.get_by_role("link", name=f"Scorecard ({own})").click()
    page.wait_for_url(f"**/commissioners/{own}")
    expect(page.get_by_role("heading", name="Compared with its peers")).to_be_visible()
    shot(page, tmp_path, "commissioner-scorecard")
    check_accessibility(page)


def test_national_board_explores_system_reviews_and_accountable_care(page, live_server, accounts, tmp_path):
    sign_in(page, live_server, accounts["national_board"])
    page.get_by_role("link", name="System reviews").click()
    page.wait_for_url("**/system-reviews")
    expect(page.get_by_role("heading", name="Places ranked for review")).to_be_visible()
    assert page.get_by_role("table", name="Places by selection score").count() == 1
    page.get_by_label("Programme budget (£)").fill("500000")
    page.get_by_role("button", name="Plan the programme").click()
    page.wait_for_url("**budget=500000*")
    expect(page.locator("#whatif")).to_contain_text("Nothing is stored")
    shot(page, tmp_path, "board-system-reviews")
    check_accessibility(page)
    page.get_by_role("link", name="Accountable care").click()
    page.wait_for_url("**/accountable-care")
    expect(page.get_by_role("heading", name="Market concentration")).to_be_visible()
    shot(page, tmp_path, "board-accountable-care")
    check_accessibility(page)
