"""Who acts when nobody has signed in through the API or the web: the store's local administrator.

Every change is made by a user of the store. A program or a person at the command line signs in with
``carelens login`` (a token, as the API issues); a fresh machine and the packaged demo need someone to
act before anyone has an account, so a store is created with one account of its own: the *local
administrator* (:data:`LOCAL_ADMIN`, role administrator, no password: nobody can sign in as it through
the API or the web). The command line acts as it only when nobody is signed in, and names the
operating-system user running it in the audit log, e.g. ``local-admin (operating-system user root)``:
whoever runs the command holds the store's address and credentials already.

The local administrator is created with the store (when its schema is created from nothing, or the
first time the command line is used on a store that has no user at all), or by ``carelens admin init``
when no other administrator exists or an administrator signed in asks for it. A store that has users
but no local administrator (or a disabled one) refuses a command nobody has signed in to
(:class:`~carelens.services.Unauthenticated`, exit 2, saying how to sign in).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from carelens.model.access import Actor, Role
from carelens.services import Forbidden, Invalid, Unauthenticated
from carelens.services._db import Db, reading, writing
from carelens.store.repository import audit
from carelens.store.schema_access import app_user

LOCAL_ADMIN = "local-admin"
"""The local administrator's user name (reserved: no other account may take it or start with it)."""

SIGN_IN_HINT = (
    "sign in with `carelens login` (your user name and password, or a token from POST /api/v1/auth/token)"
)


def local_admin_label(os_user: str) -> str:
    """The name the local administrator's changes are recorded under: it and the operating-system user."""
    label = f"{LOCAL_ADMIN} (operating-system user {os_user})"
    return label if len(label) <= 100 else label[:99] + ")"


def account_of(name: str) -> str:
    """The account behind a recorded actor name: the local administrator for every operating-system user
    acting as it, else the name itself (two people are different only if their accounts are)."""
    return LOCAL_ADMIN if name == LOCAL_ADMIN or name.startswith(LOCAL_ADMIN + " (") else name


def is_reserved(user_name: str) -> bool:
    """Whether a user name is the local administrator's (no account may be created under it)."""
    return account_of(user_name) == LOCAL_ADMIN


def _row(connection: sa.Connection) -> sa.RowMapping | None:
    query = sa.select(app_user).where(app_user.c.user_name == LOCAL_ADMIN)
    return connection.execute(query).mappings().first()


def _insert(connection: sa.Connection, os_user: str, why: str) -> None:
    row = {
        "user_name": LOCAL_ADMIN,
        "display_name": "Local administrator (whoever runs the command line on the store)",
        "role": str(Role.ADMIN),
        "organisations": [],
        "sector": None,
        "inspector_id": None,
        "password_hash": None,
        "disabled": False,
        "created_at": dt.datetime.now(dt.UTC),
    }
    connection.execute(app_user.insert().values(**row))
    public = {k: v for k, v in row.items() if k not in ("password_hash", "created_at")}
    audit(
        connection,
        local_admin_label(os_user),
        "user.created",
        "app_user",
        LOCAL_ADMIN,
        {"before": None, "after": public, "why": why},
    )


def create_with_store(db: Db, os_user: str) -> bool:
    """Create the local administrator in a store that has no user at all (a store just created, or never
    used by anyone): whether it was created."""
    with writing(db) as connection:
        if connection.execute(sa.select(sa.func.count()).select_from(app_user)).scalar_one():
            return False
        _insert(connection, os_user, "created with the store")
    return True


def init_local_admin(db: Db, actor: Actor | None, os_user: str) -> None:
    """``carelens admin init``: create the local administrator. Allowed when the store has no enabled
    administrator (its holder is then the only authority there is), or when ``actor`` is a signed-in
    administrator; refused (Invalid) when it exists already."""
    with writing(db) as connection:
        if _row(connection) is not None:
            raise Invalid(f"the local administrator {LOCAL_ADMIN!r} exists already")
        admins = connection.execute(
            sa.select(sa.func.count())
            .select_from(app_user)
            .where(app_user.c.role == str(Role.ADMIN), app_user.c.disabled.is_(False))
        ).scalar_one()
        if admins and not (actor is not None and actor.rules.manage_users):
            raise Forbidden(
                "the store has administrators: one of them must sign in (`carelens login`) to create the "
                "local administrator"
            )
        by = actor.user_name if actor is not None else local_admin_label(os_user)
        _insert(connection, os_user, f"created by `carelens admin init` ({by})")


def local_admin(db: Db, os_user: str) -> Actor:
    """The local administrator acting for ``os_user``; :class:`Unauthenticated` (saying how to sign in)
    when the store has none, or it is disabled. A store with no schema yet is created, and a store with
    no user at all gets one first (it is created with the store)."""
    from carelens.store.migrate import ensure_schema

    if isinstance(db, sa.Engine):
        ensure_schema(db)
    create_with_store(db, os_user)
    with reading(db) as connection:
        row = _row(connection)
    if row is None or row["disabled"]:
        raise Unauthenticated(
            f"nobody is signed in and this store has no local administrator: {SIGN_IN_HINT}, or ask an "
            "administrator to run `carelens admin init`"
        )
    return Actor(user_name=local_admin_label(os_user), role=Role.ADMIN)


def signed_in(db: Db, token: str) -> Actor:
    """The user a stored command-line token signs in; :class:`Unauthenticated` when it is no longer live."""
    from carelens.services.auth import actor_for_token

    actor = actor_for_token(db, token)
    if actor is None:
        raise Unauthenticated(f"your sign-in has expired or was revoked: {SIGN_IN_HINT}")
    return actor
