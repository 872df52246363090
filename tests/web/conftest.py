"""A demo store (the packaged real data, the demo's jobs -- monitoring, ratings, an allocation, an
inspection schedule and the failure regime -- and one demo user per role) served to the page tests.

``web_engine`` loads the store once per session; ``client`` is FastAPI's TestClient over it;
``live_server`` runs the same app with uvicorn in a thread on a free loopback port for the browser.
"""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
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


def sign_in(client: TestClient, account) -> None:
    """Sign in through the login form (the session cookie stays on the client)."""
    response = client.post(
        "/login",
        data={
            "user_name": account.user_name,
            "password": account.password,
            "next": "/",
            "csrf_token": csrf_token(client),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(app):
    """The app served by uvicorn on 127.0.0.1 in a background thread; yields its base URL."""
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
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
