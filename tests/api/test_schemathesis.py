"""Property-based tests of the whole HTTP API from its OpenAPI schema: no input makes the server fail.

Schemathesis generates requests for every operation (valid and invalid parameters, bodies, paths) and
calls the app in-process (ASGI); the check is that no response is a server error (5xx). Examples are
bounded per operation so the run is fast. Runs as the public and as an administrator (who reaches
every route). SQLite store only: the backends share the service code, and the permission tests cover
both.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from carelens.app import create_app
from carelens.services.auth import login
from carelens.store.engine import create_engine
from carelens.store.migrate import ensure_schema

from .conftest import fill

MAX_EXAMPLES = 10
"""Generated requests per operation (bounded: the whole run takes seconds)."""


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory):
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'api.db'}")
    ensure_schema(engine)
    fill(engine)
    app = create_app(engine)
    app.state.admin_token = login(engine, "admin", "admin-pw", kind="api")[0]
    yield app
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(sqlite_app):
    return schemathesis.openapi.from_asgi("/openapi.json", sqlite_app)


schema = schemathesis.pytest.from_fixture("api_schema")


FUZZ = settings(
    max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@schema.parametrize()
@FUZZ
def test_no_public_request_makes_the_server_fail(case):
    case.call_and_validate(checks=[not_a_server_error])


@schema.parametrize()
@FUZZ
def test_no_admin_request_makes_the_server_fail(case, sqlite_app):
    headers = {"Authorization": f"Bearer {sqlite_app.state.admin_token}"}
    case.call_and_validate(headers=headers, checks=[not_a_server_error])
