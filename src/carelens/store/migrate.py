"""Apply the Alembic migrations packaged in ``carelens/store/migrations`` (no alembic.ini needed).

Each area of carelens (core store, monitoring, ratings, funding, access...) owns a migration branch that
starts from the core ``0001`` revision and carries a branch label naming the area, so areas can grow
their tables independently. A database is up to date when it is at every branch head ("heads").
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations (and at ``url`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def head_revisions() -> frozenset[str]:
    """The newest revision of every migration branch shipped with this version of carelens."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: sa.Engine) -> frozenset[str]:
    """The revisions the database is at (one per branch), empty for an empty database."""
    with engine.connect() as connection:
        return frozenset(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: sa.Engine, revision: str = "heads") -> frozenset[str]:
    """Migrate the database to ``revision`` (default: every branch head) in one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revisions(engine)


class SchemaOutOfDate(RuntimeError):
    """The database is behind (or ahead of) the schema this version of carelens expects."""


def ensure_schema(engine: sa.Engine) -> None:
    """Create the schema in an empty database; refuse a database at another revision.

    An existing database is never migrated implicitly: run ``carelens db upgrade`` for that.
    """
    revisions = current_revisions(engine)
    if not revisions:
        upgrade(engine)
    elif revisions != head_revisions():
        raise SchemaOutOfDate(
            f"database schema is at revision(s) {', '.join(sorted(revisions))}, carelens expects "
            f"{', '.join(sorted(head_revisions()))}: run `carelens db upgrade`"
        )
