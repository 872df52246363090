"""Fixtures: an empty migrated store on SQLite and on PostgreSQL (each test runs on both).

PostgreSQL needs the Debian server binaries. Without them the PostgreSQL tests are skipped locally,
but FAIL when the ``CI`` environment variable is set, so CI cannot pass without testing PostgreSQL.
"""

from __future__ import annotations

import os

import pytest

from carelens.store.testing import Stores, postgres_binaries

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def stores(request, tmp_path_factory):
    """A factory of empty, migrated databases for one backend."""
    if request.param == "postgresql" and postgres_binaries() is None:
        reason = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must test PostgreSQL")
        pytest.skip(reason)
    factory = Stores(request.param, tmp_path_factory.mktemp(request.param))
    yield factory
    factory.close()


@pytest.fixture
def engine(stores):
    """An engine on a fresh empty store."""
    engine = stores.new()
    yield engine
    engine.dispose()
