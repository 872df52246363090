"""Signing in and out, sessions, the audit trail of writes, and the settings being documented data."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets

import pytest
import sqlalchemy as sa

from carelens.http.security import SESSION_COOKIE
from carelens.model.access import ROLE_RULES, Actor, Role, documented_rules
from carelens.services import NotFound, Unauthenticated
from carelens.services.auth import (
    FAILED_SIGN_IN_ACTOR,
    NewUser,
    actor_for_token,
    create_users,
    forget_token,
    hash_password,
    login,
    logout,
    needs_rehash,
    password_hasher,
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


def test_password_hashes_are_argon2id_salted_and_verify():
    cheap = password_hasher(memory_kib=1024, time_cost=1)
    first, second = hash_password("s3cret", cheap), hash_password("s3cret", cheap)
    assert first.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert first != second and "s3cret" not in first
    assert verify_password("s3cret", first) and not verify_password("S3cret", first)
    assert not verify_password("s3cret", "not-a-hash")
    settings = AccessSettings()
    default = hash_password("s3cret")
    assert default.startswith(
        f"$argon2id$v=19$m={settings.password_memory_kib},t={settings.password_time_cost},"
        f"p={settings.password_parallelism}$"
    )
    assert (settings.password_memory_kib, settings.password_time_cost) == (19_456, 2)  # OWASP's first
    assert needs_rehash(first) and not needs_rehash(default)


def _scrypt_hash(password: str, n: int = 2**14) -> str:
    """A hash of the scheme carelens used before argon2 (``scrypt$n$r$p$salt$hash``), made here
    independently of the code under test."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32, maxmem=256 * n * 8)
    b64 = base64.b64encode
    return f"scrypt${n}$8$1${b64(salt).decode()}${b64(digest).decode()}"


def _stored_hash(engine, user_name: str) -> str:
    with engine.connect() as c:
        query = sa.select(app_user.c.password_hash).where(app_user.c.user_name == user_name)
        return c.execute(query).scalar_one()


def test_scrypt_hashes_still_verify_and_are_remade_with_argon2_at_sign_in(api_engine):
    legacy = _scrypt_hash("old-password")
    assert verify_password("old-password", legacy) and not verify_password("old-passwore", legacy)
    with api_engine.begin() as c:
        create_users(c, [NewUser("legacy-user", Role.PROVIDER, "placeholder")], by="test")
        c.execute(app_user.update().where(app_user.c.user_name == "legacy-user").values(password_hash=legacy))
    with pytest.raises(Unauthenticated):
        login(api_engine, "legacy-user", "wrong")
    assert _stored_hash(api_engine, "legacy-user") == legacy  # a failed sign-in changes nothing
    login(api_engine, "legacy-user", "old-password")
    upgraded = _stored_hash(api_engine, "legacy-user")
    assert upgraded.startswith("$argon2id$") and not needs_rehash(upgraded)
    assert verify_password("old-password", upgraded)
    (event,) = _events(api_engine, "user.password_rehashed", "legacy-user")
    assert event["detail"]["before"] == {"password_hash": "scrypt 16384,8,1"}
    assert event["detail"]["after"] == {"password_hash": "argon2id v=19 m=19456,t=2,p=1"}
    login(api_engine, "legacy-user", "old-password")  # already current: not re-made again
    assert _stored_hash(api_engine, "legacy-user") == upgraded
    assert len(_events(api_engine, "user.password_rehashed", "legacy-user")) == 1


def test_a_hash_made_with_other_argon2_parameters_is_remade_at_sign_in(api_engine):
    with api_engine.begin() as c:
        create_users(
            c,
            [NewUser("cheap-user", Role.ANALYST, "cheap-password")],
            by="test",
            hasher=password_hasher(memory_kib=2048, time_cost=3),
        )
    assert "m=2048,t=3,p=1" in _stored_hash(api_engine, "cheap-user")
    login(api_engine, "cheap-user", "cheap-password")
    assert "m=19456,t=2,p=1" in _stored_hash(api_engine, "cheap-user")


def test_sign_in_and_out_over_the_api_is_audited(client, api_engine):
    bad = client.post("/api/v1/auth/token", json={"user_name": "analyst", "password": "wrong"})
    assert bad.status_code == 401
    unknown = client.post("/api/v1/auth/token", json={"user_name": "nobody", "password": "wrong"})
    assert unknown.status_code == 401 and unknown.json() == bad.json()  # no hint which was wrong
    # Nobody was authenticated: the attempt is audited against the name sent, never as done by it.
    failed = _events(api_engine, "login.failed", FAILED_SIGN_IN_ACTOR)
    assert [e["entity_key"] for e in failed[-2:]] == ["analyst", "nobody"]
    assert failed[-1]["detail"] == {"kind": "api", "address": "testclient"}
    assert _events(api_engine, "login.failed", "analyst") == []

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
