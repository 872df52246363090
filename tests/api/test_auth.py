"""Signing in and out, sessions, the audit trail of writes, and the settings being documented data."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from carelens.api.security import SESSION_COOKIE
from carelens.model.access import ROLE_RULES, Actor, Role, documented_rules
from carelens.services import NotFound
from carelens.services.auth import (
    actor_for_token,
    forget_token,
    hash_password,
    login,
    logout,
    token_hash,
    verify_password,
)
from carelens.services.ratings import get_rating
from carelens.services.settings import AccessSettings, documented_settings
from carelens.store import schema
from carelens.store.schema_access import access_token, app_user

from .conftest import RATING_IDS, auth


def _events(engine, action: str, user: str) -> list[dict]:
    event = schema.audit_event
    with engine.connect() as c:
        query = sa.select(event).where(event.c.action == action, event.c.user_name == user)
        return [dict(r) for r in c.execute(query).mappings()]


def test_password_hashes_are_salted_and_verify():
    first, second = hash_password("s3cret", n=2**10), hash_password("s3cret", n=2**10)
    assert first != second and "s3cret" not in first
    assert verify_password("s3cret", first) and not verify_password("S3cret", first)
    assert not verify_password("s3cret", "not-a-hash")


def test_sign_in_and_out_over_the_api_is_audited(client, api_engine):
    bad = client.post("/api/v1/auth/token", json={"user_name": "analyst", "password": "wrong"})
    assert bad.status_code == 401
    unknown = client.post("/api/v1/auth/token", json={"user_name": "nobody", "password": "wrong"})
    assert unknown.status_code == 401 and unknown.json() == bad.json()  # no hint which was wrong
    assert len(_events(api_engine, "login.failed", "analyst")) >= 1

    good = client.post("/api/v1/auth/token", json={"user_name": "analyst", "password": "analyst-pw"})
    assert good.status_code == 200
    token = good.json()["access_token"]
    with api_engine.connect() as c:
        stored = c.execute(sa.select(access_token.c.token_hash)).scalars().all()
    assert token_hash(token) in stored and token not in stored  # only the hash is kept
    assert client.get("/api/v1/auth/me", headers=auth(token)).json()["role"] == "analyst"
    login_events = _events(api_engine, "login", "analyst")
    assert login_events and login_events[-1]["detail"]["kind"] == "api"

    assert client.post("/api/v1/auth/logout", headers=auth(token)).json() == {"revoked": True}
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401
    logout_event = _events(api_engine, "logout", "analyst")[-1]
    assert logout_event["detail"]["before"] == {"revoked_at": None} and logout_event["detail"]["after"]


def test_a_bad_bearer_header_is_401_not_public(client):
    assert client.get("/api/v1/ratings", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get("/api/v1/ratings", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.post("/api/v1/auth/logout").status_code == 401


def test_web_session_cookie_signs_in_and_expires(client, api_engine):
    token, expires = login(api_engine, "provider", "provider-pw")  # a web session
    assert (
        dt.timedelta(minutes=1)
        < expires - dt.datetime.now(dt.UTC)
        <= dt.timedelta(minutes=AccessSettings().session_minutes)
    )
    client.cookies.set(SESSION_COOKIE, token)
    try:
        assert client.get("/api/v1/auth/me").json()["user_name"] == "provider"
        with api_engine.begin() as c:
            c.execute(
                access_token.update()
                .where(access_token.c.token_hash == token_hash(token))
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        # Changed behind the services' back: seen once the cached owner lapses (actor_cache_seconds).
        forget_token(token)
        assert actor_for_token(api_engine, token) is None
        # A stale cookie is not an error: the visitor is simply the public again.
        assert client.get("/api/v1/auth/me").json()["role"] == "public"
    finally:
        client.cookies.clear()
    assert logout(api_engine, "never-issued") is False


def test_disabled_users_cannot_sign_in(api_engine):
    with api_engine.begin() as c:
        c.execute(app_user.update().where(app_user.c.user_name == "policy_maker").values(disabled=True))
    try:
        with pytest.raises(Exception, match="wrong user name or password"):
            login(api_engine, "policy_maker", "policy_maker-pw")
    finally:
        with api_engine.begin() as c:
            c.execute(app_user.update().where(app_user.c.user_name == "policy_maker").values(disabled=False))


def test_creating_a_user_is_audited_with_before_and_after(client, tokens, api_engine):
    body = {
        "user_name": "audited-user",
        "role": "provider",
        "organisations": ["P2"],
        "password": "longenough",
    }
    created = client.post("/api/v1/users", headers=auth(tokens[Role.ADMIN]), json=body)
    assert created.status_code == 201 and "password_hash" not in created.json()
    event = next(e for e in _events(api_engine, "user.created", "admin") if e["entity_key"] == "audited-user")
    assert event["detail"]["before"] is None
    assert event["detail"]["after"]["role"] == "provider" and event["detail"]["after"]["organisations"] == [
        "P2"
    ]
    assert "password_hash" not in event["detail"]["after"]
    again = client.post("/api/v1/users", headers=auth(tokens[Role.ADMIN]), json=body)
    assert again.status_code == 400
    audit = client.get("/api/v1/audit?action=user.created", headers=auth(tokens[Role.ADMIN])).json()
    assert any(e["entity_key"] == "audited-user" for e in audit["items"])


def test_access_is_enforced_in_the_service_not_only_on_routes(api_engine):
    provider = Actor("someone", Role.PROVIDER, frozenset({"P2"}))
    with pytest.raises(NotFound):
        get_rating(api_engine, provider, RATING_IDS["L1_proposed"])
    with pytest.raises(NotFound):  # its own location's proposed rating: providers see published only
        get_rating(api_engine, provider, RATING_IDS["L2_proposed"])
    analyst = Actor("someone", Role.ANALYST)
    assert get_rating(api_engine, analyst, RATING_IDS["L2_proposed"])["published"] is False


def test_every_setting_and_role_rule_is_documented():
    assert all(len(doc) > 20 for doc in documented_settings().values())
    assert all(len(doc) > 10 for doc in documented_rules().values())
    assert set(ROLE_RULES) == set(Role)


def test_token_owners_are_cached_briefly_and_forgotten_on_sign_out(api_engine):
    token, _ = login(api_engine, "analyst", "analyst-pw", kind="api")
    assert actor_for_token(api_engine, token).role is Role.ANALYST
    with api_engine.begin() as c:  # revoked behind the services' back: the cache still answers
        c.execute(
            access_token.update()
            .where(access_token.c.token_hash == token_hash(token))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
    assert actor_for_token(api_engine, token).role is Role.ANALYST
    forget_token(token)
    assert actor_for_token(api_engine, token) is None
    fresh, _ = login(api_engine, "analyst", "analyst-pw", kind="api")
    assert actor_for_token(api_engine, fresh) is not None
    assert logout(api_engine, fresh) is True  # signing out through the service takes effect at once
    assert actor_for_token(api_engine, fresh) is None
