"""Sign-in under attack: lockouts per account and per client address with exponential back-off, password
checks off the request threads, a bounded queue, and signing out whatever the account's role."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from carelens.app import create_app
from carelens.model.access import Role
from carelens.services import auth as auth_service
from carelens.services.auth import FAILED_SIGN_IN_ACTOR, NewUser, create_users, password_hasher
from carelens.services.settings import AccessSettings, get_settings
from carelens.services.throttle import SignInGuard, Throttle
from carelens.store import schema

from .conftest import TEST_HASH, auth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_backs_off_exponentially_up_to_the_cap_and_forgets():
    clock = Clock()
    throttle = Throttle("account", free=3, lockout=1.0, max_lockout=8.0, forget=60.0, clock=clock)
    assert [throttle.failed("a") for _ in range(3)] == [None, None, None]
    assert throttle.wait("a") == 0
    locks = []
    for _ in range(6):
        clock.now += throttle.wait("a")  # a patient guesser: one try each time the lockout ends
        locks.append(throttle.failed("a").seconds)
    assert locks == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert throttle.wait("a") == 8.0 and throttle.wait("b") == 0  # keys are separate
    clock.now += 8.0 + 40.0
    assert throttle.wait("a") == 0 and len(throttle) == 1  # lockout over, failures still counted
    assert throttle.failed("a").seconds == 8.0
    clock.now += 8.0 + 60.0
    assert throttle.wait("a") == 0 and len(throttle) == 0  # forgotten an hour after the last failure
    assert throttle.failed("a") is None
    throttle.succeeded("a")
    assert len(throttle) == 0


def test_throttle_table_is_bounded_and_keeps_lockouts_over_stale_entries():
    clock = Clock()
    throttle = Throttle("address", free=0, lockout=100.0, max_lockout=100.0, forget=1e6, clock=clock)
    throttle.failed("locked")
    clock.now += 200  # its lockout is over: the first to go when the table is full
    throttle.failed("held")
    for i in range(50):
        throttle.max_entries = 10
        throttle.failed(f"flood-{i}")
    assert len(throttle) <= 10
    assert throttle.wait("locked") == 0


def _guarded_client(api_engine, settings: AccessSettings, clock=None) -> TestClient:
    app = create_app(api_engine)
    app.state.sign_in_guard = SignInGuard(settings, clock=clock) if clock else SignInGuard(settings)
    return TestClient(app)


@pytest.fixture
def fast_refusals(monkeypatch):
    """No idle wait before a refusal, so tests need not sleep (the wait is tested on its own)."""
    monkeypatch.setenv("CARELENS_SIGN_IN_REFUSAL_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    yield get_settings()
    monkeypatch.delenv("CARELENS_SIGN_IN_REFUSAL_DELAY_SECONDS", raising=False)
    get_settings.cache_clear()


def _token(client: TestClient, user: str, password: str):
    return client.post("/api/v1/auth/token", json={"user_name": user, "password": password})


def _audit(engine, action: str) -> list[dict]:
    event = schema.audit_event
    with engine.connect() as c:
        query = sa.select(event).where(event.c.action == action).order_by(event.c.id)
        return [dict(r) for r in c.execute(query).mappings()]


def test_an_account_is_locked_out_after_its_free_failures_without_its_password_being_checked(
    api_engine, fast_refusals, monkeypatch
):
    clock = Clock()
    client = _guarded_client(api_engine, fast_refusals, clock)
    free = fast_refusals.sign_in_free_failures
    assert [_token(client, "analyst", "guess").status_code for _ in range(free + 1)] == [401] * (free + 1)
    locked = _audit(api_engine, "login.locked")[-1]
    assert locked["user_name"] == FAILED_SIGN_IN_ACTOR and locked["entity"] == "account"
    assert locked["entity_key"] == "analyst" and locked["detail"]["seconds"] == 1.0
    checked = []
    with monkeypatch.context() as patched:
        patched.setattr(auth_service, "verify_password", lambda *a: checked.append(a) or False)
        refused = _token(client, "analyst", "analyst-pw")  # even the right password: not checked
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.headers["cache-control"] == "no-store" and checked == []
    assert _token(client, "provider", "provider-pw").status_code == 200  # other accounts are not locked
    clock.now += 1.0
    assert _token(client, "analyst", "guess").status_code == 401  # tried again: the lockout doubles
    second = _token(client, "analyst", "analyst-pw")
    assert second.status_code == 429 and second.headers["retry-after"] == "2"
    clock.now += 2.0
    assert _token(client, "analyst", "analyst-pw").status_code == 200  # success clears the count
    assert _token(client, "analyst", "guess").status_code == 401
    assert _token(client, "analyst", "analyst-pw").status_code == 200


def test_an_address_is_locked_out_after_failures_across_accounts(api_engine, fast_refusals):
    settings = replace(fast_refusals, sign_in_address_free_failures=4, sign_in_free_failures=100)
    client = _guarded_client(api_engine, settings, Clock())
    statuses = [_token(client, f"sprayed-{i}", "Summer2024!").status_code for i in range(5)]
    assert statuses == [401] * 5
    assert _token(client, "provider", "provider-pw").status_code == 429  # the address, not the account
    locked = _audit(api_engine, "login.locked")[-1]
    assert (locked["entity"], locked["entity_key"]) == ("address", "testclient")


def test_a_refusal_is_answered_after_an_idle_wait(api_engine, monkeypatch):
    monkeypatch.setenv("CARELENS_SIGN_IN_REFUSAL_DELAY_SECONDS", "0.5")
    get_settings.cache_clear()
    try:
        settings = replace(get_settings(), sign_in_free_failures=0)
        client = _guarded_client(api_engine, settings)
        assert _token(client, "nobody-1", "x").status_code == 401
        started = time.monotonic()
        assert _token(client, "nobody-1", "x").status_code == 429
        assert time.monotonic() - started >= 0.45
    finally:
        monkeypatch.delenv("CARELENS_SIGN_IN_REFUSAL_DELAY_SECONDS")
        get_settings.cache_clear()


def test_password_checks_never_take_the_request_threads(api_engine, monkeypatch):
    """Sign-ins stuck in their password check (more of them than there are request threads) leave the
    request threads free; one more sign-in than the queue holds is answered 503 at once."""
    monkeypatch.setenv("CARELENS_SIGN_IN_QUEUE", "2")
    get_settings.cache_clear()
    release = threading.Event()
    entered = threading.Semaphore(0)
    real_verify = auth_service.verify_password

    def slow_verify(password, stored):
        entered.release()
        release.wait(30)
        return real_verify(password, stored)

    monkeypatch.setattr(auth_service, "verify_password", slow_verify)
    results: list[int] = []
    try:
        with TestClient(create_app(api_engine)) as client:
            held = get_settings().request_threads + 1  # 1 checking, 2 queued
            threads = [
                threading.Thread(target=lambda: results.append(_token(client, "analyst", "x").status_code))
                for _ in range(held)
            ]
            for thread in threads:
                thread.start()
            assert entered.acquire(timeout=10)  # one check running, the others queued for it
            time.sleep(0.2)
            busy = _token(client, "analyst", "x")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            answered = []
            reader = threading.Thread(target=lambda: answered.append(client.get("/api/v1/organisations")))
            reader.start()
            reader.join(timeout=10)
            assert answered and answered[0].status_code == 200, "a request waited for the sign-ins"
            release.set()
            for thread in threads:
                thread.join(timeout=30)
    finally:
        release.set()
        monkeypatch.delenv("CARELENS_SIGN_IN_QUEUE")
        get_settings.cache_clear()
    assert sorted(results) == [401] * held


def test_a_public_role_account_can_sign_out(client, api_engine):
    with api_engine.begin() as c:
        create_users(
            c,
            [NewUser("member-of-public", Role.PUBLIC, "public-password")],
            by="test",
            hasher=password_hasher(**TEST_HASH),
        )
    token = _token(client, "member-of-public", "public-password").json()["access_token"]
    assert client.get("/api/v1/auth/me", headers=auth(token)).json()["user_name"] == "member-of-public"
    assert client.post("/api/v1/auth/logout", headers=auth(token)).json() == {"revoked": True}
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401
    assert _audit(api_engine, "logout")[-1]["user_name"] == "member-of-public"


def test_user_names_with_control_characters_are_refused(client, api_engine):
    spoof = _token(client, "admin\r\n2024-01-01,admin,user.created", "x")
    assert spoof.status_code == 422
    assert not [e for e in _audit(api_engine, "login.failed") if "\n" in (e["entity_key"] or "")]
