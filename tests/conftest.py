"""Shared pytest fixtures: the packaged demo data, and empty migrated stores on SQLite and PostgreSQL.

PostgreSQL needs the Debian server binaries. Without them the PostgreSQL tests are skipped locally,
but FAIL when the ``CI`` environment variable is set, so CI cannot pass without testing PostgreSQL.
Tests that use the ``stores`` or ``engine`` fixture run once per backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import carelens
from carelens.store.testing import Stores, postgres_binaries

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real demo datasets shipped with the package: ``src/carelens/data``."""
    path = Path(carelens.__file__).resolve().parent / "data"
    assert path.is_dir(), f"packaged data folder not found at {path}"
    return path


@pytest.fixture(autouse=True)
def _own_command_line_sign_in(tmp_path_factory, monkeypatch):
    """Each test keeps its command-line sign-ins in a folder of its own: never the tester's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv("CARELENS_TOKEN", raising=False)


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
