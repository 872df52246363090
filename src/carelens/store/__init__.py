"""The database store: schema, engine, Alembic migrations, repositories and the audit log."""
