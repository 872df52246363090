"""Apply the Alembic migrations packaged in ``carelens/store/migrations`` (no alembic.ini needed)."""

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


def head_revision() -> str:
    """The newest migration revision shipped with this version of carelens."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` in one transaction; return the revision it ends at."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine)


class SchemaOutOfDate(RuntimeError):
    """The database is behind (or ahead of) the schema this version of carelens expects."""


def ensure_schema(engine: sa.Engine) -> None:
    """Create the schema in an empty database; refuse a database at another revision.

    An existing database is never migrated implicitly: run ``carelens db upgrade`` for that.
    """
    revision = current_revision(engine)
    if revision is None:
        upgrade(engine)
    elif revision != head_revision():
        raise SchemaOutOfDate(
            f"database schema is at revision {revision}, carelens expects {head_revision()}: "
            "run `carelens db upgrade`"
        )
