"""Users, passwords and sign-in tokens: signing in and out, and who a token belongs to.

Passwords are hashed with argon2id (``argon2-cffi``; memory, iterations and lanes are settings). A hash
made with other parameters, or by the scrypt scheme carelens used before, still verifies, and is re-made
with the current parameters when its owner next signs in (audited as ``user.password_rehashed``). Tokens
are random (``secrets.token_urlsafe``) and only their SHA-256 is stored. Signing in, signing out and
creating a user are writes: each is in the audit log in the same transaction (failed sign-ins, with the
client address, and the lockouts they start, too). Sign-in is throttled per account and per client
address (:mod:`carelens.services.throttle`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from carelens.model.access import Actor, Role
from carelens.model.organisations import Sector
from carelens.services import Forbidden, Invalid, Unauthenticated
from carelens.services._db import Db, reading, writing
from carelens.services.identity import is_reserved
from carelens.services.settings import get_settings
from carelens.services.throttle import SignInGuard
from carelens.store import schema
from carelens.store.repository import audit
from carelens.store.schema_access import access_token, app_user

TOKEN_KINDS = ("session", "api")
"""'session': a web sign-in (cookie); 'api': a bearer token for programs. Lifetimes are settings."""

FAILED_SIGN_IN_ACTOR = "anonymous"
"""Who a failed sign-in is audited as: nobody was authenticated, so never the user name that was sent
(which is only the entity the attempt was against)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@cache
def password_hasher(
    memory_kib: int | None = None, time_cost: int | None = None, parallelism: int | None = None
):
    """The argon2id hasher with these parameters (each defaults to its setting)."""
    settings = get_settings()
    return PasswordHasher(
        time_cost=time_cost or settings.password_time_cost,
        memory_cost=memory_kib or settings.password_memory_kib,
        parallelism=parallelism or settings.password_parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """A salted argon2id hash in the PHC string format (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``),
    with the settings' parameters unless ``hasher`` (:func:`password_hasher`) says otherwise."""
    return (hasher or password_hasher()).hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a stored hash: argon2 (any parameters) or the older scrypt scheme."""
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return password_hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, hasher: PasswordHasher | None = None) -> bool:
    """Whether a stored hash was made otherwise than the current parameters would (scrypt, or argon2
    with other memory, iterations, lanes or lengths)."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return (hasher or password_hasher()).check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    """A hash of the scheme carelens used before argon2: ``scrypt$n$r$p$salt$hash`` (base64)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        n_, r_, p_ = int(n), int(r), int(p)
        if scheme != "scrypt" or not (2 <= n_ <= 2**20 and 1 <= r_ <= 32 and 1 <= p_ <= 16):
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=n_,
            r=r_,
            p=p_,
            dklen=len(expected),
            maxmem=256 * n_ * r_ + 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _hash_parameters(stored: str | None) -> str | None:
    """A stored hash's scheme and parameters, without salt or digest (for the audit log)."""
    if not stored:
        return None
    if stored.startswith("scrypt$"):
        return "scrypt " + ",".join(stored.split("$")[1:4])
    parts = stored.split("$")
    return " ".join(parts[1:4]) if len(parts) > 4 else "unknown"


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    """A hash to check against when the user does not exist, so timing does not reveal user names."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None or needs_rehash(_DUMMY_HASH):
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    return _DUMMY_HASH


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class NewUser:
    """A user to create."""

    user_name: str
    role: Role
    password: str | None = None
    organisations: frozenset[str] = frozenset()
    sector: str | None = None
    inspector_id: str | None = None
    display_name: str | None = None


def _user_row(user: NewUser, hasher: PasswordHasher | None = None) -> dict:
    return {
        "user_name": user.user_name,
        "display_name": user.display_name,
        "role": str(Role(user.role)),
        "organisations": sorted(user.organisations),
        "sector": user.sector,
        "inspector_id": user.inspector_id,
        "password_hash": hash_password(user.password, hasher) if user.password else None,
        "disabled": False,
        "created_at": _now(),
    }


def _public(row: dict) -> dict:
    """A user row without its password hash (what the audit log and the API show)."""
    return {k: v for k, v in row.items() if k not in ("password_hash", "created_at")}


def create_user(db: Db, actor: Actor, user: NewUser) -> dict:
    """Create a user (admins only); the audit log records who created whom with which role."""
    if not actor.rules.manage_users:
        raise Forbidden("only administrators manage users")
    if not user.user_name or len(user.user_name) > 100 or _CONTROL.search(user.user_name):
        raise Invalid("user name must be 1 to 100 characters, none of them control characters")
    if is_reserved(user.user_name):
        raise Invalid(f"user name {user.user_name!r} is reserved for the store's local administrator")
    with writing(db) as connection:
        if connection.execute(
            sa.select(app_user.c.user_name).where(app_user.c.user_name == user.user_name)
        ).first():
            raise Invalid(f"user {user.user_name!r} already exists")
        row = _user_row(user)
        connection.execute(app_user.insert().values(**row))
        audit(
            connection,
            actor.user_name,
            "user.created",
            "app_user",
            user.user_name,
            {"before": None, "after": _public(row)},
        )
    return _public(row)


def create_users(
    connection: sa.Connection, users: Iterable[NewUser], by: str, hasher: PasswordHasher | None = None
) -> list[str]:
    """Create or replace users in bulk (set-up and demo), audited as done by ``by``; passwords are hashed
    with ``hasher`` (default: the settings' parameters; tests pass a cheap one)."""
    names = []
    for user in users:
        before = (
            connection.execute(sa.select(app_user).where(app_user.c.user_name == user.user_name))
            .mappings()
            .first()
        )
        row = _user_row(user, hasher)
        if before is None:
            connection.execute(app_user.insert().values(**row))
        else:
            connection.execute(app_user.update().where(app_user.c.user_name == user.user_name).values(**row))
        audit(
            connection,
            by,
            "user.created" if before is None else "user.replaced",
            "app_user",
            user.user_name,
            {"before": _public(dict(before)) if before else None, "after": _public(row)},
        )
        names.append(user.user_name)
    return names


def login(
    db: Db,
    user_name: str,
    password: str,
    kind: str = "session",
    guard: SignInGuard | None = None,
    address: str | None = None,
) -> tuple[str, dt.datetime]:
    """Check a password and start a session (or issue an API token): returns (token, expires_at).

    Raises :class:`Unauthenticated` for an unknown user, a wrong password or a disabled account (one
    message for all three, so user names cannot be probed). Every attempt is audited; a failure is
    audited as :data:`FAILED_SIGN_IN_ACTOR` against the user name sent, with the client ``address``.
    With a ``guard`` (the server keeps one per process), an account or address that is locked out is
    refused with :class:`~carelens.services.throttle.TooManyAttempts` before any password is checked,
    failures count towards lockouts (each lockout started is audited as ``login.locked``) and success
    clears the account's failures. A hash made with other parameters than the settings' is re-made.
    """
    if kind not in TOKEN_KINDS:
        raise Invalid(f"token kind must be one of {', '.join(TOKEN_KINDS)}")
    if guard is not None:
        guard.check(user_name, address)
    settings = get_settings()
    with reading(db) as connection:
        row = (
            connection.execute(sa.select(app_user).where(app_user.c.user_name == user_name))
            .mappings()
            .first()
        )
    stored = row["password_hash"] if row else None
    ok = verify_password(password, stored or _dummy_hash())
    if not (row and stored and ok and not row["disabled"]):
        lockouts = guard.failed(user_name, address) if guard is not None else []
        with writing(db) as connection:
            audit(
                connection,
                FAILED_SIGN_IN_ACTOR,
                "login.failed",
                "app_user",
                user_name[:200],
                {"kind": kind, "address": address},
            )
            for lockout in lockouts:
                audit(
                    connection,
                    FAILED_SIGN_IN_ACTOR,
                    "login.locked",
                    lockout.kind,
                    lockout.key[:200],
                    {"failures": lockout.failures, "seconds": lockout.seconds, "address": address},
                )
        raise Unauthenticated("wrong user name or password")
    if guard is not None:
        guard.succeeded(user_name)
    token = secrets.token_urlsafe(32)
    now = _now()
    lifetime = (
        dt.timedelta(minutes=settings.session_minutes)
        if kind == "session"
        else dt.timedelta(days=settings.api_token_days)
    )
    expires = now + lifetime
    with writing(db) as connection:
        if needs_rehash(stored):
            rehashed = hash_password(password)
            changed = connection.execute(
                app_user.update()
                .where(app_user.c.user_name == user_name, app_user.c.password_hash == stored)
                .values(password_hash=rehashed)
            ).rowcount
            if changed:
                audit(
                    connection,
                    user_name,
                    "user.password_rehashed",
                    "app_user",
                    user_name,
                    {
                        "before": {"password_hash": _hash_parameters(stored)},
                        "after": {"password_hash": _hash_parameters(rehashed)},
                    },
                )
        connection.execute(
            access_token.insert().values(
                token_hash=token_hash(token),
                user_name=user_name,
                kind=kind,
                created_at=now,
                expires_at=expires,
            )
        )
        audit(
            connection,
            user_name,
            "login",
            "access_token",
            token_hash(token)[:12],
            {"kind": kind, "address": address, "before": None, "after": {"expires_at": expires}},
        )
    return token, expires


def logout(db: Db, token: str) -> bool:
    """End a session or revoke an API token; returns whether a live token was revoked (audited)."""
    digest = token_hash(token)
    forget_token(token)
    with writing(db) as connection:
        row = connection.execute(
            sa.select(access_token.c.user_name).where(
                access_token.c.token_hash == digest, access_token.c.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            return False
        now = _now()
        connection.execute(
            access_token.update().where(access_token.c.token_hash == digest).values(revoked_at=now)
        )
        audit(
            connection,
            row.user_name,
            "logout",
            "access_token",
            digest[:12],
            {"before": {"revoked_at": None}, "after": {"revoked_at": now}},
        )
    return True


_ACTORS: dict[str, tuple[float, Actor, dt.datetime]] = {}
"""token hash -> (monotonic time cached, actor, token expiry): see the ``actor_cache_seconds`` setting."""
_ACTORS_LOCK = threading.Lock()
_ACTORS_MAX = 10_000


def forget_token(token: str) -> None:
    """Drop a token from this process's cache of token owners (on sign-out)."""
    with _ACTORS_LOCK:
        _ACTORS.pop(token_hash(token), None)


def remembered_actor(token: str) -> Actor | None:
    """The actor this process remembers for a live token (the ``actor_cache_seconds`` setting), or None
    when it does not: no store access, so the API can ask without leaving its event loop."""
    ttl = get_settings().actor_cache_seconds
    if ttl <= 0:
        return None
    with _ACTORS_LOCK:
        hit = _ACTORS.get(token_hash(token))
    if hit is not None:
        cached_at, actor, expires = hit
        if time.monotonic() - cached_at < ttl and expires > _now():
            return actor
    return None


def actor_for_token(db: Db, token: str) -> Actor | None:
    """The actor a live (unexpired, unrevoked) token signs in, or None (remembered briefly per process:
    :func:`remembered_actor`)."""
    remembered = remembered_actor(token)
    if remembered is not None:
        return remembered
    ttl = get_settings().actor_cache_seconds
    digest = token_hash(token)
    found = _lookup_token(db, digest)
    if found is None:
        with _ACTORS_LOCK:
            _ACTORS.pop(digest, None)
        return None
    actor, expires = found
    if ttl > 0:
        with _ACTORS_LOCK:
            if len(_ACTORS) >= _ACTORS_MAX:
                _ACTORS.clear()
            _ACTORS[digest] = (time.monotonic(), actor, expires)
    return actor


def _lookup_token(db: Db, digest: str) -> tuple[Actor, dt.datetime] | None:
    query = (
        sa.select(app_user, access_token.c.expires_at)
        .join(access_token, access_token.c.user_name == app_user.c.user_name)
        .where(access_token.c.token_hash == digest, access_token.c.revoked_at.is_(None))
    )
    with reading(db) as connection:
        row = connection.execute(query).mappings().first()
    if row is None or row["disabled"] or _aware(row["expires_at"]) <= _now():
        return None
    return actor_from_row(row), _aware(row["expires_at"])


def actor_from_row(row) -> Actor:
    return Actor(
        user_name=row["user_name"],
        role=Role(row["role"]),
        organisations=frozenset(row["organisations"] or ()),
        sector=row["sector"],
        inspector_id=row["inspector_id"],
    )


def get_actor(db: Db, user_name: str) -> Actor | None:
    """The actor for a stored user (for tools and tests), or None."""
    with reading(db) as connection:
        row = (
            connection.execute(sa.select(app_user).where(app_user.c.user_name == user_name))
            .mappings()
            .first()
        )
    return actor_from_row(row) if row else None


# --- demo accounts -------------------------------------------------------------------------------

DEMO_PASSWORD_SUFFIX = "-demo"
"""A demo account's password is its user name followed by this (printed by ``carelens demo``)."""


@dataclass(frozen=True)
class DemoAccount:
    user_name: str
    password: str
    role: Role
    organisations: tuple[str, ...]
    sector: str | None
    inspector_id: str | None = None
    """The inspector's id in the inspection plans (inspector accounts only)."""


def _pick(connection: sa.Connection, query: sa.Select) -> str | None:
    return connection.execute(query.limit(1)).scalar()


def _demo_inspector(connection: sa.Connection) -> tuple[str, tuple[str, ...]] | None:
    """(inspector id, the organisations it is assigned to) in the latest saved schedule, for the inspector
    who leads its highest-risk scheduled inspection of an organisation with an open failure-regime case
    (so the demo inspector's plan shows the regime at work), else its highest-risk one (then the earliest,
    then by organisation code); None when no schedule is saved or nothing in it is staffed."""
    from carelens.store.schema_plan import plan_assignment, plan_inspection, plan_regime_case, plan_schedule

    i, a = plan_inspection, plan_assignment
    in_regime = i.c.org_code.in_(
        sa.select(plan_regime_case.c.org_code).where(plan_regime_case.c.closed.is_(False))
    )
    latest = connection.execute(sa.select(sa.func.max(plan_schedule.c.id))).scalar()
    if latest is None:
        return None
    inspector = _pick(
        connection,
        sa.select(a.c.inspector_id)
        .join(i, i.c.id == a.c.inspection_id)
        .where(i.c.schedule_id == latest, a.c.lead.is_(True))
        .order_by(
            sa.case((in_regime, 0), else_=1), i.c.risk.desc(), i.c.start_date, i.c.org_code, a.c.inspector_id
        ),
    )
    if inspector is None:
        return None
    assigned = connection.execute(
        sa.select(i.c.org_code)
        .distinct()
        .join(a, a.c.inspection_id == i.c.id)
        .where(i.c.schedule_id == latest, a.c.inspector_id == inspector)
        .order_by(i.c.org_code)
    ).scalars()
    return inspector, tuple(assigned)


CQC_SECTORS = (Sector.HOSPITALS.value, Sector.ADULT_SOCIAL_CARE.value, Sector.PRIMARY_CARE.value)
"""The sectors a chief inspector may oversee (CQC's three)."""


def _demo_chief_sector(connection: sa.Connection) -> str:
    """The sector with the most organisations in an open failure-regime case (so the demo chief
    inspector's failure-regime page has cases to act on), ties by name; hospitals when none is open."""
    from carelens.store.schema_plan import plan_regime_case as case

    org = schema.organisation
    return (
        _pick(
            connection,
            sa.select(org.c.sector)
            .join(case, case.c.org_code == org.c.code)
            .where(case.c.closed.is_(False), org.c.sector.in_(CQC_SECTORS))
            .group_by(org.c.sector)
            .order_by(sa.func.count(sa.distinct(org.c.code)).desc(), org.c.sector),
        )
        or Sector.HOSPITALS.value
    )


def demo_accounts(connection: sa.Connection) -> list[DemoAccount]:
    """One account per role, tied to organisations taken from the loaded data.

    The provider is the one whose locations have the most ratings (else the first NHS trust); the
    commissioner the one with the most practices. The inspector is, when an inspection schedule is saved,
    the inspector leading its highest-risk inspection (of an organisation in the failure regime, when there
    is one), tied to the organisations it is assigned to (so
    signing in shows a real plan: the demo saves one before making the accounts); with no schedule it is
    assigned the provider's organisations. The chief inspector oversees the sector most in the failure
    regime (:func:`_demo_chief_sector`).
    """
    org, rel, rating = schema.organisation, schema.org_relationship, schema.rating
    provider = _pick(
        connection,
        sa.select(rel.c.subject_code)
        .join(rating, rating.c.org_code == rel.c.object_code)
        .where(rel.c.kind == "provider_location", rel.c.valid_to.is_(None), rating.c.superseded_by.is_(None))
        .group_by(rel.c.subject_code)
        .order_by(sa.func.count().desc(), rel.c.subject_code),
    ) or _pick(connection, sa.select(org.c.code).where(org.c.kind == "nhs_trust").order_by(org.c.code))
    commissioner = _pick(
        connection,
        sa.select(rel.c.object_code)
        .where(rel.c.kind == "practice_commissioner", rel.c.valid_to.is_(None))
        .group_by(rel.c.object_code)
        .order_by(sa.func.count().desc(), rel.c.object_code),
    ) or _pick(connection, sa.select(org.c.code).where(org.c.kind == "commissioner").order_by(org.c.code))
    own = (provider,) if provider else ()
    area = (commissioner,) if commissioner else ()
    # With no schedule saved, the inspector's id is its user name and it is assigned the provider's organisations.
    inspector_id, assigned = _demo_inspector(connection) or (Role.INSPECTOR.value, own)
    ties: dict[Role, tuple[tuple[str, ...], str | None]] = {
        Role.PROVIDER: (own, None),
        Role.COMMISSIONER: (area, None),
        Role.INSPECTOR: (assigned, None),
        Role.CHIEF_INSPECTOR: ((), _demo_chief_sector(connection)),
    }
    accounts = []
    for role in Role:
        if role is Role.PUBLIC:
            continue
        organisations, sector = ties.get(role, ((), None))
        name = role.value.replace("_", "-")
        accounts.append(
            DemoAccount(
                name,
                name + DEMO_PASSWORD_SUFFIX,
                role,
                organisations,
                sector,
                inspector_id if role is Role.INSPECTOR else None,
            )
        )
    return accounts


def create_demo_users(db: Db, hasher: PasswordHasher | None = None) -> list[DemoAccount]:
    """Create (or reset) one demo account per signed-in role; returns the accounts with their passwords."""
    with writing(db) as connection:
        accounts = demo_accounts(connection)
        create_users(
            connection,
            [
                NewUser(
                    a.user_name,
                    a.role,
                    a.password,
                    frozenset(a.organisations),
                    a.sector,
                    inspector_id=a.inspector_id,
                    display_name=f"Demo {a.role.value.replace('_', ' ')}",
                )
                for a in accounts
            ],
            by="carelens-demo",
            hasher=hasher,
        )
    return accounts
