"""Alembic environment: runs migrations on the connection carelens passes in (or on the config URL)."""

from __future__ import annotations

from alembic import context

from carelens.store.engine import create_engine
from carelens.store.schema import metadata

config = context.config


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).connect() as new_connection:
        run_migrations(new_connection)
        new_connection.commit()
