"""The store itself: opening it, and creating or migrating its schema (the command line's ``--db``).

Who runs these holds the store's address and credentials already, so no role rule applies; the
questions asked of the store, and every change to its data, go through the other services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa


def connect(db: str | None) -> sa.Engine:
    """The store at ``db`` (default: $CARELENS_DB); the work done on it checks its schema."""
    from carelens.store.engine import create_engine

    return create_engine(db)


def open_store(db: str | None) -> sa.Engine:
    """The store at ``db`` (default: $CARELENS_DB), its schema created if empty (refused if out of date)."""
    from carelens.store.migrate import ensure_schema

    engine = connect(db)
    ensure_schema(engine)
    return engine


def upgrade(
    db: str | None, revision: str = "heads", os_user: str | None = None
) -> tuple[str, frozenset[str]]:
    """Create the schema of the store at ``db``, or migrate it to ``revision`` (default: the newest);
    the store's address (without its password) and the revisions reached. A store created from nothing
    (to the newest revision) is created with its local administrator, recorded as made by ``os_user``
    (:mod:`carelens.services.identity`)."""
    from carelens.services.identity import create_with_store
    from carelens.store.migrate import current_revisions, head_revisions
    from carelens.store.migrate import upgrade as migrate

    engine = connect(db)
    new = not current_revisions(engine)
    reached = migrate(engine, revision)
    if new and os_user is not None and reached == head_revisions():
        create_with_store(engine, os_user)
    return engine.url.render_as_string(hide_password=True), reached
