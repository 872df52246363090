"""A demo store (the packaged real data, the demo's jobs -- monitoring, ratings, an allocation, an
inspection schedule and the failure regime -- and one demo user per role) served to the page tests.

``web_engine`` loads the store once per session; ``client`` is FastAPI's TestClient over it;
``live_server`` runs the same app with uvicorn in a thread on a free loopback port for the browser;
``browser`` and ``page`` are Playwright's Debian chromium and a fresh context of it for a journey.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

TEST_HASH = dict(memory_kib=1024, time_cost=1)
"""Cheap password hashing to create the accounts (the real cost is a setting of the services; a hash is
re-made at that cost when its account first signs in)."""


@pytest.fixture(scope="session")
def web_store(tmp_path_factory):
    """(engine, demo accounts by role value) over a fresh SQLite demo store."""
    from carelens.demo.jobs import run_demo_jobs
    from carelens.demo.store import load_demo_store
    from carelens.services.auth import create_demo_users, password_hasher
    from carelens.store.engine import create_engine
    from carelens.store.migrate import upgrade

    path = tmp_path_factory.mktemp("web") / "demo.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    load_demo_store(engine)
    run_demo_jobs(engine)  # as `carelens demo` does: monitoring, ratings, allocation, inspection plan, regime
    # after the jobs, as in the demo: the inspector account is tied to its assignments in the saved plan
    accounts = {a.role.value: a for a in create_demo_users(engine, password_hasher(**TEST_HASH))}
    yield engine, accounts
    engine.dispose()


@pytest.fixture(scope="session")
def web_engine(web_store):
    return web_store[0]


@pytest.fixture(scope="session")
def accounts(web_store):
    """Demo accounts by role value (user_name, password, organisations)."""
    return web_store[1]


@pytest.fixture(scope="session")
def examples(accounts, web_engine) -> dict[str, str]:
    """The demo store's values for the braces in the page matrix's paths (tests/web/test_page_matrix.py:
    ``MATRIX`` and ``NAVIGATION``)."""
    from carelens.store.schema_plan import plan_assignment, plan_inspection
    from carelens.store.schema_plan import plan_regime_case as c
    from carelens.store.schema_systems import systems_review

    commissioner = accounts["commissioner"].organisations[0]
    i, a = plan_inspection, plan_assignment
    with web_engine.connect() as connection:
        # Every demo review is planned (unpublished); the last stays so whatever other tests publish.
        last_review = connection.execute(sa.select(sa.func.max(systems_review.c.id))).scalar_one()
        # The planned inspection the demo inspector leads with the highest risk.
        inspection, inspection_org = connection.execute(
            sa.select(i.c.id, i.c.org_code)
            .join(a, a.c.inspection_id == i.c.id)
            .where(a.c.inspector_id == accounts["inspector"].inspector_id, a.c.lead.is_(True))
            .where(i.c.status == "planned")
            .order_by(i.c.risk.desc(), i.c.id)
            .limit(1)
        ).one()
        # Open provider cases: the first of an organisation the demo inspector is tied to, and the first
        # of one it is not.
        inspector_orgs = set(accounts["inspector"].organisations)
        cases = connection.execute(
            sa.select(c.c.id, c.c.org_code)
            .where(c.c.regime == "provider", c.c.closed.is_(False))
            .order_by(c.c.id)
        ).all()
        case = next(row.id for row in cases if row.org_code in inspector_orgs)
        other_case = next(row.id for row in cases if row.org_code not in inspector_orgs)
    return {
        "provider": accounts["provider"].organisations[0],
        "commissioner": commissioner,
        "other_commissioner": next(c for c in ("QE1", "QGH", "QR1") if c != commissioner),
        "unpublished_review": str(last_review),
        "inspection": str(inspection),
        "inspection_org": inspection_org,
        "case": str(case),
        "other_case": str(other_case),
    }


@pytest.fixture(scope="session")
def app(web_engine):
    from carelens.app import create_app

    return create_app(web_engine)


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def csrf_token(client: TestClient) -> str:
    """Open the sign-in form, as a browser would before posting it: its anti-forgery token (the
    matching cookie stays on the client)."""
    form = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found, form.text[:500]
    return found.group(1)


def sign_in(client: TestClient, account, next_path: str = "/"):
    """Sign in through the login form (the session cookie stays on the client); gives the redirect."""
    response = client.post(
        "/login",
        data={
            "user_name": account.user_name,
            "password": account.password,
            "next": next_path,
            "csrf_token": csrf_token(client),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    return response


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app):
    """``app`` served by uvicorn on 127.0.0.1 in a background thread; gives its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(app):
    """The demo store's app served on loopback (:func:`serve`); yields its base URL."""
    with serve(app) as url:
        yield url


CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).with_name("axe.min.js")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium not installed (apt-get install chromium); CI must run the browser tests")
        pytest.skip("chromium not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def open_tab(browser):
    """A tab in a fresh browser context (no cookies) whose requests to other hosts are aborted and
    counted (``tab.blocked``), Content-Security-Policy violations collected (``tab.csp_violations``) and
    axe-core loaded; close it with ``tab.context.close()``."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    blocked: list[str] = []

    def only_loopback(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    # axe-core goes in as an init script: the pages' Content-Security-Policy forbids adding inline scripts.
    context.add_init_script(path=str(AXE))
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.blocked = blocked
    tab.csp_violations = []
    tab.on(
        "console",
        lambda message: "Content Security Policy" in message.text and tab.csp_violations.append(message.text),
    )
    return tab


@pytest.fixture
def page(browser, live_server):
    """A fresh tab (:func:`open_tab`) for a journey against ``live_server``."""
    tab = open_tab(browser)
    yield tab
    tab.context.close()


def signed_in(browser, url: str, user_name: str | None, start: str, password: str):
    """A fresh tab (:func:`open_tab`) signed in as ``user_name`` (None: the public) through the sign-in
    form and opened at ``start`` (signing in lands on the role's own page first)."""
    tab = open_tab(browser)
    if user_name:
        tab.goto(f"{url}/login?next={start}")
        tab.get_by_label("User name", exact=True).fill(user_name)
        tab.get_by_label("Password", exact=True).fill(password)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_url(lambda address: "/login" not in address)
        if tab.url != f"{url}{start}":
            tab.goto(f"{url}{start}")
    else:
        tab.goto(f"{url}{start}")
    return tab


def press(tab, button: str, done: str) -> None:
    """Press a form's button and check the page says it was done, in words rather than markup."""
    from playwright.sync_api import expect

    tab.get_by_role("button", name=button).click()
    expect(tab.locator("main")).to_contain_text(done)
    expect(tab.locator("main")).not_to_contain_text("<p>")


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations of what the tab shows, one line each."""
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def check_accessibility(page) -> None:
    bad = serious_violations(page)
    assert not bad, "\n".join(bad)


ARTEFACTS_VARIABLE = "CARELENS_TEST_ARTEFACTS"
"""A folder to keep the browser journeys' screenshots in (made if missing), e.g. for CI to upload;
unset, they go to the test's pytest tmp folder."""


def shot(page, tmp_path, name: str) -> Path:
    """A screenshot of what the tab shows, named ``name``.png, in ``$CARELENS_TEST_ARTEFACTS`` or else
    the test's tmp folder."""
    folder = Path(os.environ.get(ARTEFACTS_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000
    return path


@pytest.fixture
def rating_history(web_engine):
    """RK950 given 35 earlier (superseded) overall ratings and one proposed, unpublished rating, taken out
    again afterwards: the demo's ratings are all current and published."""
    import datetime as dt

    import sqlalchemy as sa

    from carelens.store import schema

    r = schema.rating
    with web_engine.begin() as connection:
        source = connection.execute(
            sa.select(r.c.import_id).where(r.c.org_code == "RK950").limit(1)
        ).scalar_one()
        first = connection.execute(sa.select(sa.func.max(r.c.id))).scalar_one() + 1
        rating = dict(
            org_code="RK950", level="location", service="Overall", report_link_id=None, import_id=source
        )
        earlier = [
            rating
            | dict(
                id=first + n,
                key_question="safe",
                rating="Good",
                report_date=dt.date(2010 + n // 12, n % 12 + 1, 1),
                method="published",
                superseded_by=source,
            )
            for n in range(35)
        ]
        proposed = rating | dict(
            id=first + 35,
            key_question="caring",
            rating="Inadequate",
            report_date=dt.date(2026, 1, 1),
            method="proposed",
            superseded_by=None,
        )
        connection.execute(r.insert(), [*earlier, proposed])
    yield first + 35
    with web_engine.begin() as connection:
        connection.execute(r.delete().where(r.c.id >= first))
