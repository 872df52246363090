"""Where the database is and how to connect to it.

The database URL is, in order: the ``--db`` option, the ``CARELENS_DB`` environment variable, or a
SQLite file ``carelens.db`` in the user's data directory (platformdirs). PostgreSQL URLs may be given
as ``postgresql://…``; the psycopg 3 driver is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

DB_ENV_VAR = "CARELENS_DB"
"""Environment variable holding the database URL when ``--db`` is not given."""
DEFAULT_DB_FILE = "carelens.db"
"""File name of the default SQLite database inside the user data directory."""


def default_database_url() -> str:
    """The SQLite database in the user's data directory (created on first use)."""
    from platformdirs import user_data_dir

    return f"sqlite:///{Path(user_data_dir('carelens')) / DEFAULT_DB_FILE}"


def database_url(url: str | None = None) -> str:
    """Resolve the database URL: explicit ``url``, else ``$CARELENS_DB``, else the default SQLite file."""
    url = url or os.environ.get(DB_ENV_VAR) or default_database_url()
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")


def hide_password(text: str) -> str:
    """``text`` with the password of any URL in it (``scheme://user:password@host``) shown as ``***``:
    what carelens stores or shows about where a store is (a monitoring run's source) never holds one."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


def create_engine(url: str | None = None) -> sa.Engine:
    """An engine for ``url`` (resolved by :func:`database_url`); SQLite enforces foreign keys and binds
    NumPy numbers as the numbers they hold (:func:`bind_numpy_in_sqlite`)."""
    resolved = sa.make_url(database_url(url))
    if resolved.get_backend_name() == "sqlite":
        bind_numpy_in_sqlite()
        if resolved.database and resolved.database != ":memory:":
            Path(resolved.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(resolved)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(resolved, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    cursor.close()


SQLITE_CACHE_KIB = 16_384
"""SQLite page cache per connection (16 MiB; SQLite's default is 2 MiB): a national import updates
indexes of a million rows, which thrash a small cache when rows do not arrive in key order."""


def bind_numpy_in_sqlite() -> None:
    """Make the sqlite3 driver bind NumPy integers, floats and booleans as SQL numbers.

    Without this, sqlite3 binds a NumPy scalar (a year read by pandas is ``numpy.int64``) through the
    buffer protocol as a BLOB of its bytes: a BLOB never equals the stored INTEGER, so a lookup by it
    finds nothing (a corrected population file was re-inserted whole and broke the unique index). The
    adapters apply to every parameter sqlite3 binds, whichever code built the statement. PostgreSQL's
    driver (psycopg) binds NumPy numbers itself.
    """
    import sqlite3

    import numpy as np

    for kind in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64):
        sqlite3.register_adapter(kind, int)
    for kind in (np.float16, np.float32, np.float64):
        sqlite3.register_adapter(kind, float)
    sqlite3.register_adapter(np.bool_, bool)


Bind = sa.Engine | sa.Connection
"""What a domain function or a service accepts: an engine (it opens its own connection) or a caller's
open connection (the caller's transaction then holds everything it does)."""


@contextmanager
def reading(bind: Bind) -> Iterator[sa.Connection]:
    """A connection to read with: the caller's, or a new one from the engine (closed after)."""
    if isinstance(bind, sa.Connection):
        yield bind
    else:
        with bind.connect() as connection:
            yield connection


@contextmanager
def writing(bind: Bind) -> Iterator[sa.Connection]:
    """A connection in a transaction: the caller's (the caller commits), or a new one committed on
    success and rolled back on error."""
    if isinstance(bind, sa.Connection):
        yield bind
    else:
        with bind.begin() as connection:
            yield connection
