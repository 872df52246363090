"""`carelens serve` really starts on a free loopback port and answers; `carelens demo` prepares a store
with a working account for every role."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import sqlalchemy as sa

from carelens.model.access import Role
from carelens.store.engine import create_engine
from carelens.store.migrate import ensure_schema

from .conftest import TEST_HASH, fill


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_on_a_free_loopback_port_and_answers(tmp_path):
    url = f"sqlite:///{tmp_path / 'served.db'}"
    engine = create_engine(url)
    ensure_schema(engine)
    fill(engine)
    engine.dispose()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "carelens.cli", "serve", "--db", url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        response = None
        for _ in range(200):  # bounded wait for start-up (at most ~20 s), not a timing assertion
            if server.poll() is not None:
                break
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/organisations/P1", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response is not None, (
            server.stdout.read().decode() if server.poll() is not None else "no answer"
        )
        assert response.status_code == 200
        assert response.json()["organisation"]["name"] == "Alpha Hospitals NHS Trust"
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            json={"user_name": "analyst", "password": "analyst-pw"},
        ).json()["access_token"]
        me = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert me.json()["role"] == "analyst"
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_demo_store_has_a_working_account_for_every_role(tmp_path):
    from fastapi.testclient import TestClient

    from carelens.app import create_app
    from carelens.demo.jobs import prepare_demo_store
    from carelens.services.auth import create_demo_users, password_hasher

    engine = prepare_demo_store(tmp_path)
    accounts = create_demo_users(engine, password_hasher(**TEST_HASH))
    assert {a.role for a in accounts} == set(Role) - {Role.PUBLIC}
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM observation")).scalar() > 10_000
    client = TestClient(create_app(engine))
    provider = next(a for a in accounts if a.role is Role.PROVIDER)
    token = client.post(
        "/api/v1/auth/token", json={"user_name": provider.user_name, "password": provider.password}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    own = provider.organisations[0]
    assert client.get(f"/api/v1/organisations/{own}", headers=headers).json()["confidential"] is True
    missing = client.get("/api/v1/league-tables/ae_4hr_breach_type1", headers=headers)
    assert missing.status_code == 404 and "no monitoring run is stored" in missing.json()["detail"]
    from carelens.monitor.service import run_monitor

    run_monitor(engine)  # league tables give the verdicts a monitoring run stored
    league = client.get("/api/v1/league-tables/ae_4hr_breach_type1", headers=headers).json()
    other = next(r["org_code"] for r in league["items"] if r["org_code"] != own)
    assert client.get(f"/api/v1/organisations/{other}", headers=headers).json()["confidential"] is False
    engine.dispose()
