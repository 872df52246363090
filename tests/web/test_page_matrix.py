"""The page permission matrix: every page x every role -> the status it must get, and the header's links
for every role, as the API's matrix does for its routes (tests/api/test_permissions.py).

Expectations are written out here, not derived from the role rules, so a change to the rules that
changes who sees which page fails until the matrix is changed too. Inspection plans answer 404 -- never
403 -- to the roles the inspection-plans rule does not reach (providers, the public, the national board,
policy makers), so that they do not learn a plan exists. Paths name the demo store's accounts and rows
in braces (:func:`examples`).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from carelens.model.access import Role

from .conftest import sign_in

R = list(Role)
ALL_200 = dict.fromkeys(R, 200)


def only(status_for_others: int, **allowed: int) -> dict[Role, int]:
    """Expected statuses: ``allowed`` roles (by value) get theirs, everyone else ``status_for_others``."""
    return {role: allowed.get(role.value, status_for_others) for role in R}


SEE_ALL = dict(analyst=200, national_board=200, admin=200, policy_maker=200)
"""Roles whose confidential-data rule reaches every organisation."""
PLANNERS = dict(inspector=200, chief_inspector=200, analyst=200, admin=200)
"""Roles whose inspection-plans rule reaches something."""
REVIEW_WORK = dict(analyst=200, chief_inspector=200, national_board=200, admin=200, policy_maker=200)
"""Roles whose local-systems rule reaches every place and ACO (the whole review programme)."""
HANDLERS = dict(inspector=200, chief_inspector=200, analyst=200, admin=200)
"""Roles that handle experiences and concerns (in their reach of confidential data)."""
REGIME = dict(inspector=200, chief_inspector=200, analyst=200, national_board=200, admin=200)
"""Roles some failure regime's rule reaches (the inspector: the organisations it is tied to)."""
CASE = dict(inspector=200, chief_inspector=200, analyst=200, national_board=404, admin=200)
"""Who opens the demo's provider case of a care home the demo inspector is tied to (adult social care,
the demo chief inspector's sector as the sector most in the failure regime; provider cases are not the
national board's): 404 outside the reach."""
NOT_YOURS = {**CASE, "inspector": 404}
"""The same for a provider case of a care home the demo inspector is not tied to."""
REFUSED_WITHOUT_TOKEN = {role: 400 if status == 200 else status for role, status in CASE.items()}
"""A change posted without the form's token: 400 to whoever may see the case."""

MATRIX: list[tuple[str, str, dict[Role, int]]] = [
    ("GET", "/", ALL_200),
    ("GET", "/about", ALL_200),
    ("GET", "/login", ALL_200),
    ("POST", "/login", dict.fromkeys(R, 400)),  # without the form's anti-forgery token
    ("POST", "/logout", dict.fromkeys(R, 303)),
    ("GET", "/search", ALL_200),
    ("GET", "/search?q=plymouth", ALL_200),
    ("GET", "/search.csv?q=plymouth", ALL_200),
    ("GET", "/search.xlsx?q=derriford", ALL_200),
    ("GET", "/search.csv", dict.fromkeys(R, 400)),
    ("GET", "/organisations/RK9", ALL_200),
    ("GET", "/organisations/NOPE", dict.fromkeys(R, 404)),
    ("GET", "/organisations/RK9/indicators/shmi", ALL_200),
    ("GET", "/organisations/RK9/indicators/nope", dict.fromkeys(R, 404)),
    ("GET", "/organisations/NOPE/indicators/shmi", dict.fromkeys(R, 404)),
    ("GET", "/organisations/RK9/report", ALL_200),
    ("GET", "/organisations/NOPE/report", dict.fromkeys(R, 404)),
    ("GET", "/organisations/RK9/report.pdf", ALL_200),
    ("GET", "/organisations/RK9/charts/spine.csv", ALL_200),
    ("GET", "/organisations/NOPE/charts/spine.csv", dict.fromkeys(R, 404)),
    ("GET", "/organisations/RK9/charts/shmi/funnel.csv", ALL_200),
    ("GET", "/organisations/RK9/charts/shmi/spc.csv", ALL_200),
    ("GET", "/organisations/RK9/charts/shmi/compare.csv", ALL_200),
    ("GET", "/organisations/RK9/charts/shmi/nope.csv", dict.fromkeys(R, 404)),
    ("GET", "/organisations/RK9/charts/nope/funnel.csv", dict.fromkeys(R, 404)),
    ("GET", "/organisations/NOPE/report.pdf", dict.fromkeys(R, 404)),
    ("GET", "/organisations/RK9/feedback", ALL_200),
    ("GET", "/organisations/NOPE/feedback", dict.fromkeys(R, 404)),
    ("POST", "/organisations/RK9/feedback", dict.fromkeys(R, 400)),  # no anti-forgery token: refused
    ("GET", "/league-tables", ALL_200),
    ("GET", "/league-tables?page=0", dict.fromkeys(R, 400)),  # the 400 page, not JSON
    ("GET", "/league-tables?indicator=shmi&sort=nope", dict.fromkeys(R, 400)),
    # Downloads answer as the page of their table does, with every row the page would show the role.
    ("GET", "/league-tables.csv?indicator=shmi", ALL_200),
    ("GET", "/league-tables.xlsx?indicator=shmi", ALL_200),
    ("GET", "/league-tables.pdf?indicator=shmi", dict.fromkeys(R, 400)),
    ("GET", "/monitoring/flags.csv", only(200, public=403)),
    ("GET", "/monitoring/flags.xlsx?risks_only=true", only(200, public=403)),
    ("GET", "/allocations.csv", only(403, commissioner=200, **SEE_ALL)),
    ("GET", "/allocations.xlsx", only(403, commissioner=200, **SEE_ALL)),
    ("GET", "/commissioners/{commissioner}/scorecard.xlsx", only(404, commissioner=200, **SEE_ALL)),
    ("GET", "/commissioners/{other_commissioner}/scorecard.csv", only(404, **SEE_ALL)),
    ("GET", "/commissioners/{commissioner}/interventions.csv", only(404, commissioner=200, **SEE_ALL)),
    ("GET", "/commissioners/{other_commissioner}/budgets.xlsx", only(404, **SEE_ALL)),
    ("GET", "/commissioners/{commissioner}/nope.csv", dict.fromkeys(R, 400)),
    ("GET", "/monitoring/movers.csv", only(200, public=403)),
    ("GET", "/monitoring/movers.xlsx", only(200, public=403)),
    # An organisation's ratings and inspections: everyone, holding what the profile shows the role.
    ("GET", "/organisations/RK950/ratings.csv", ALL_200),
    ("GET", "/organisations/NOPE/ratings.xlsx", dict.fromkeys(R, 404)),
    ("GET", "/organisations/{inspection_org}/inspections.csv", ALL_200),
    ("GET", "/organisations/NOPE/inspections.csv", dict.fromkeys(R, 404)),
    # An organisation's flagged indicators: to those its monitoring results reach (404, as the profile
    # shows the others no such table); its figures compared but not scored: as the profile.
    ("GET", "/organisations/RK9/flags.csv", only(404, **SEE_ALL)),
    ("GET", "/organisations/{provider}/flags.xlsx", only(404, provider=200, **SEE_ALL)),
    ("GET", "/organisations/NOPE/flags.csv", dict.fromkeys(R, 404)),
    ("GET", "/organisations/RK9/other-indicators.csv", ALL_200),
    ("GET", "/organisations/NOPE/other-indicators.xlsx", dict.fromkeys(R, 404)),
    ("GET", "/monitoring/bands.csv", only(200, public=403)),
    ("GET", "/monitoring/indicators.xlsx", only(200, public=403)),
    ("GET", "/monitoring/nope.csv", dict.fromkeys(R, 400)),
    (
        "GET",
        "/allocations/whatif/commissioners.csv?a=2024_25&b=age_weighted",
        only(403, commissioner=200, **SEE_ALL),
    ),
    (
        "GET",
        "/allocations/whatif/deciles.xlsx?a=2024_25&b=nope",
        only(403, **dict.fromkeys(["commissioner", *SEE_ALL], 400)),
    ),
    ("GET", "/accountable-care/settlements.csv", only(403, commissioner=200, **REVIEW_WORK)),
    ("GET", "/accountable-care/concentration.xlsx", only(403, commissioner=200, **REVIEW_WORK)),
    ("GET", "/system-reviews/whatif.csv?budget=2000000", only(403, **REVIEW_WORK)),
    ("GET", "/system-reviews/overdue-actions.csv", only(403, commissioner=200, **REVIEW_WORK)),
    ("GET", "/system-reviews/whatif.xlsx?budget=lots", dict.fromkeys(R, 400)),
    # Every role but the public may open the overview; it shows only the organisations in reach.
    ("GET", "/monitoring", only(200, public=403)),
    ("GET", "/monitoring?page=2&size=10", only(200, public=403)),
    ("GET", "/monitoring?page=0", dict.fromkeys(R, 400)),
    ("GET", "/monitoring?size=junk", dict.fromkeys(R, 400)),
    ("GET", "/commissioners/{commissioner}", only(404, commissioner=200, **SEE_ALL)),
    ("GET", "/commissioners/{other_commissioner}", only(404, **SEE_ALL)),
    # Money is the business of those who see every organisation and of commissioners (their area).
    ("GET", "/allocations", only(403, commissioner=200, **SEE_ALL)),
    ("GET", "/plan", only(404, **PLANNERS)),
    ("GET", "/plan?status=nope", only(404, **dict.fromkeys(PLANNERS, 400))),
    ("GET", "/plan.csv", only(404, **PLANNERS)),
    ("GET", "/plan.xlsx?status=planned", only(404, **PLANNERS)),
    ("GET", "/system-reviews", ALL_200),
    ("GET", "/system-reviews?budget=lots", only(200, **dict.fromkeys(REVIEW_WORK, 400))),
    ("GET", "/system-reviews/ranking.csv", only(403, commissioner=200, **REVIEW_WORK)),
    ("GET", "/system-reviews/ranking.xlsx", only(403, commissioner=200, **REVIEW_WORK)),
    ("GET", "/system-reviews/{unpublished_review}", only(404, **REVIEW_WORK)),
    ("GET", "/system-reviews/reviews.csv", ALL_200),
    ("GET", "/system-reviews/directions.xlsx", only(403, **REVIEW_WORK)),
    ("GET", "/system-reviews/{unpublished_review}/actions.csv", only(404, **REVIEW_WORK)),
    ("GET", "/system-reviews/not-a-number/actions.xlsx", dict.fromkeys(R, 404)),
    ("GET", "/system-reviews/not-a-number", dict.fromkeys(R, 404)),
    ("GET", "/accountable-care", only(403, commissioner=200, **REVIEW_WORK)),
    # A planned inspection is as secret as its plan: 404 to everyone its plan does not reach (the demo
    # chief inspector's sector is the inspection's, adult social care).
    (
        "GET",
        "/inspections/{inspection}",
        only(404, inspector=200, analyst=200, admin=200, chief_inspector=200),
    ),
    ("GET", "/inspections/not-a-number", dict.fromkeys(R, 404)),
    (
        "GET",
        "/inspections/{inspection}/ratings.csv",
        only(404, inspector=200, analyst=200, admin=200, chief_inspector=200),
    ),
    (
        "GET",
        "/inspections/{inspection}/findings.xlsx",
        only(404, inspector=200, analyst=200, admin=200, chief_inspector=200),
    ),
    (
        "GET",
        "/inspections/{inspection}/challenges.csv",
        only(404, inspector=200, analyst=200, admin=200, chief_inspector=200),
    ),
    ("GET", "/inspections/not-a-number/ratings.csv", dict.fromkeys(R, 404)),
    ("GET", "/inspections/{inspection}/nope.csv", dict.fromkeys(R, 400)),
    # A step without the form's anti-forgery token: refused (400) to whoever may see the inspection.
    (
        "POST",
        "/inspections/{inspection}/start",
        only(404, inspector=400, chief_inspector=400, analyst=400, admin=400),
    ),
    ("POST", "/inspections/{inspection}/no-such-step", dict.fromkeys(R, 404)),
    # Submissions are never public: 404 to every role that does not handle them, as the service says.
    ("GET", "/concerns", only(404, **HANDLERS)),
    ("GET", "/concerns?kind=experience&status=recorded", only(404, **HANDLERS)),
    ("GET", "/concerns?kind=nope", only(404, **dict.fromkeys(HANDLERS, 400))),
    ("GET", "/concerns/submissions.csv", only(404, **HANDLERS)),
    ("GET", "/concerns/submissions.xlsx?kind=concern&status=recorded", only(404, **HANDLERS)),
    ("GET", "/concerns/submissions.csv?kind=nope", only(404, **dict.fromkeys(HANDLERS, 400))),
    ("POST", "/concerns/1/triage", only(404, **dict.fromkeys(HANDLERS, 400))),  # no token
    ("POST", "/concerns/not-a-number/triage", dict.fromkeys(R, 404)),
    # Failure-regime cases: 403 to roles no regime's rule reaches; a case outside the reach is 404
    # (the demo case is a provider case in the demo chief inspector's sector, which the national
    # board's rule for provider cases does not reach).
    ("GET", "/regime", only(403, **REGIME)),
    ("GET", "/regime?regime=commissioner&cases=all", only(403, **REGIME)),
    ("GET", "/regime?cases=nope", only(403, **dict.fromkeys(REGIME, 400))),
    ("GET", "/regime/cases.csv", only(403, **REGIME)),
    ("GET", "/regime/cases.xlsx?regime=commissioner&cases=all", only(403, **REGIME)),
    ("GET", "/regime/cases.csv?cases=nope", only(403, **dict.fromkeys(REGIME, 400))),
    ("GET", "/regime/overdue.csv", only(403, **REGIME)),
    ("GET", "/regime/overdue.xlsx", only(403, **REGIME)),
    ("GET", "/regime/cases/{case}/history.csv", only(403, **CASE)),
    ("GET", "/regime/cases/{case}/actions.xlsx", only(403, **CASE)),
    ("GET", "/regime/cases/{other_case}/history.csv", only(403, **NOT_YOURS)),
    ("GET", "/regime/cases/not-a-number/actions.csv", dict.fromkeys(R, 404)),
    ("GET", "/regime/cases/{case}/nope.csv", dict.fromkeys(R, 400)),
    ("GET", "/regime/cases/{case}", only(403, **CASE)),
    ("GET", "/regime/cases/{other_case}", only(403, **NOT_YOURS)),
    ("GET", "/regime/cases/not-a-number", dict.fromkeys(R, 404)),
    (
        "POST",
        "/regime/cases/{case}/escalation",
        only(403, **{r: 400 if s == 200 else s for r, s in CASE.items()}),
    ),
    ("POST", "/regime/cases/{case}/no-such-change", dict.fromkeys(R, 404)),
]
TEMPLATES = {
    "/organisations/{code}": "/organisations/RK9",
    "/organisations/{code}/indicators/{indicator_id}": "/organisations/RK9/indicators/shmi",
    "/organisations/{code}/report": "/organisations/RK9/report",
    "/organisations/{code}/report.pdf": "/organisations/RK9/report.pdf",
    "/organisations/{code}/charts/spine.csv": "/organisations/RK9/charts/spine.csv",
    "/organisations/{code}/charts/{indicator_id}/{chart}.csv": "/organisations/RK9/charts/shmi/funnel.csv",
    "/organisations/{code}/feedback": "/organisations/RK9/feedback",
    "/commissioners/{code}": "/commissioners/{commissioner}",
    "/commissioners/{code}/scorecard.{file_format}": "/commissioners/{commissioner}/scorecard.xlsx",
    "/commissioners/{code}/{table}.{file_format}": "/commissioners/{commissioner}/interventions.csv",
    "/monitoring/movers.{file_format}": "/monitoring/movers.csv",
    "/search.{file_format}": "/search.csv",
    "/organisations/{code}/ratings.{file_format}": "/organisations/RK950/ratings.csv",
    "/organisations/{code}/inspections.{file_format}": "/organisations/{inspection_org}/inspections.csv",
    "/organisations/{code}/flags.{file_format}": "/organisations/RK9/flags.csv",
    "/organisations/{code}/other-indicators.{file_format}": "/organisations/RK9/other-indicators.csv",
    "/monitoring/{table}.{file_format}": "/monitoring/bands.csv",
    "/regime/overdue.{file_format}": "/regime/overdue.csv",
    "/regime/cases/{case_id}/{table}.{file_format}": "/regime/cases/{case}/history.csv",
    "/allocations/whatif/{table}.{file_format}": "/allocations/whatif/commissioners.csv",
    "/accountable-care/{table}.{file_format}": "/accountable-care/settlements.csv",
    "/system-reviews/whatif.{file_format}": "/system-reviews/whatif.csv",
    "/system-reviews/overdue-actions.{file_format}": "/system-reviews/overdue-actions.csv",
    "/regime/cases.{file_format}": "/regime/cases.csv",
    "/concerns/submissions.{file_format}": "/concerns/submissions.csv",
    "/league-tables.{file_format}": "/league-tables.csv",
    "/monitoring/flags.{file_format}": "/monitoring/flags.csv",
    "/allocations.{file_format}": "/allocations.csv",
    "/plan.{file_format}": "/plan.csv",
    "/system-reviews/ranking.{file_format}": "/system-reviews/ranking.csv",
    "/system-reviews/{review_id}": "/system-reviews/{unpublished_review}",
    "/system-reviews/{table}.{file_format}": "/system-reviews/reviews.csv",
    "/system-reviews/{review_id}/actions.{file_format}": "/system-reviews/{unpublished_review}/actions.csv",
    "/inspections/{inspection_id}/{table}.{file_format}": "/inspections/{inspection}/ratings.csv",
    "/inspections/{inspection_id}": "/inspections/{inspection}",
    "/inspections/{inspection_id}/{route}": "/inspections/{inspection}/start",
    "/concerns/{submission_id}/triage": "/concerns/1/triage",
    "/regime/cases/{case_id}": "/regime/cases/{case}",
    "/regime/cases/{case_id}/{route}": "/regime/cases/{case}/escalation",
}
"""The matrix's path for each page route with path parameters."""

NAVIGATION: dict[Role, tuple[list[str], list[str]]] = {
    Role.PUBLIC: ([], ["/search", "/league-tables", "/system-reviews"]),
    Role.PROVIDER: (
        ["/organisations/{provider}", "/monitoring"],
        ["/search", "/league-tables", "/system-reviews"],
    ),
    Role.COMMISSIONER: (
        ["/commissioners/{commissioner}", "/organisations/{commissioner}", "/allocations"],
        ["/search", "/league-tables", "/monitoring", "/system-reviews", "/accountable-care"],
    ),
    Role.INSPECTOR: (
        ["/plan"],
        ["/search", "/league-tables", "/monitoring", "/concerns", "/regime", "/system-reviews"],
    ),
    Role.ANALYST: (
        ["/monitoring", "/concerns", "/league-tables", "/plan"],
        ["/search", "/allocations", "/regime", "/system-reviews", "/accountable-care"],
    ),
    Role.CHIEF_INSPECTOR: (
        ["/plan", "/regime", "/monitoring"],
        ["/search", "/league-tables", "/concerns", "/system-reviews", "/accountable-care"],
    ),
    Role.NATIONAL_BOARD: (
        ["/monitoring", "/regime", "/allocations", "/system-reviews"],
        ["/search", "/league-tables", "/accountable-care"],
    ),
    Role.ADMIN: (
        ["/monitoring", "/plan"],
        [
            "/search",
            "/league-tables",
            "/concerns",
            "/allocations",
            "/regime",
            "/system-reviews",
            "/accountable-care",
        ],
    ),
    Role.POLICY_MAKER: (
        ["/allocations", "/system-reviews"],
        ["/search", "/league-tables", "/monitoring", "/accountable-care"],
    ),
}
"""The header's links for each role, in order: its own pages (the bar that never hides a link; the first
is where signing in lands), then the other pages. A page is linked exactly when its service shows the
actor something (its ``visible_to``), so a provider, commissioner or inspector is offered the monitoring
overview of the organisations in its reach (the demo accounts: a provider and a commissioner with
one organisation each; the inspector's organisations are its assignments, listed in its plan)."""


@pytest.fixture(scope="module")
def clients(app, accounts):
    """A client per role, signed in as that role's demo account (the public's is not signed in)."""
    opened = {}
    for role in R:
        client = opened[role] = TestClient(app)
        client.__enter__()
        if role is not Role.PUBLIC:
            sign_in(client, accounts[role.value])
    yield opened
    for client in opened.values():
        client.__exit__(None, None, None)


@pytest.mark.parametrize("role", R, ids=[r.value for r in R])
@pytest.mark.parametrize(("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_page_permission_matrix(app, clients, accounts, examples, method, path, expected, role):
    url = path.format(**examples)
    if method == "POST" and path == "/logout":  # signing out must not end the shared client's session
        with TestClient(app) as client:
            if role is not Role.PUBLIC:
                sign_in(client, accounts[role.value])
            response = client.post(url, follow_redirects=False)
    else:
        response = clients[role].request(method, url, follow_redirects=False)
    assert response.status_code == expected[role], response.text[:500]
    if response.status_code in (403, 404):
        assert response.headers["content-type"].startswith("text/html")  # an error page, not JSON


@pytest.mark.parametrize("role", R, ids=[r.value for r in R])
def test_the_header_links_what_each_role_uses(clients, examples, role):
    html = clients[role].get("/").text
    own = re.findall(r'carelens-role-nav__link" href="([^"]+)"', html)
    other = re.findall(r'nhsuk-header__navigation-link" href="([^"]+)"', html)
    expected_own, expected_other = NAVIGATION[role]
    assert own == [link.format(**examples) for link in expected_own]
    assert other == [link.format(**examples) for link in expected_other]
    if own:  # the role's own pages come first
        assert html.index('aria-label="Your pages"') < html.index('aria-label="Other pages"')


@pytest.mark.parametrize("role", R, ids=[r.value for r in R])
def test_signing_in_lands_on_the_role_own_first_page(app, accounts, examples, role):
    """Signing in with nothing to come back to leads to the role's first own page (home for none)."""
    if role is Role.PUBLIC:
        pytest.skip("the public does not sign in")
    with TestClient(app) as client:
        response = sign_in(client, accounts[role.value])
    own = NAVIGATION[role][0]
    assert response.headers["location"] == (own[0].format(**examples) if own else "/")


def test_every_page_route_is_in_the_matrix():
    """A new page must be added to the matrix (with its expected status for every role)."""
    from carelens.web.pages import page_routers

    routes = {(m, r.path) for router in page_routers() for r in router.routes for m in r.methods}
    assert ("GET", "/") in routes
    covered = {(m, p.split("?")[0]) for m, p, _ in MATRIX}
    missing = sorted(f"{m} {path}" for m, path in routes if (m, TEMPLATES.get(path, path)) not in covered)
    assert missing == []


def test_every_page_module_says_who_it_is_for():
    """Each page module declares ``visible_to(actor)``; the header asks it (a page with links)."""
    from carelens.web.pages import page_modules

    assert [m.__name__ for m in page_modules() if not callable(getattr(m, "visible_to", None))] == []
