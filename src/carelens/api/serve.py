"""Serving the app with uvicorn, and preparing the demo store that ``carelens demo`` serves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from carelens.services.auth import DemoAccount

DEFAULT_HOST = "127.0.0.1"
"""Loopback only by default: exposing the service on a network is an explicit choice (``--host``)."""
DEFAULT_PORT = 8000
DEMO_DB_FILE = "carelens-demo.db"
"""Name of the fresh SQLite store ``carelens demo`` writes into its output folder."""


def prepare_demo_store(
    out: Path, progress: Callable[[str], None] | None = None
) -> tuple[sa.Engine, list[DemoAccount]]:
    """A fresh SQLite store in ``out`` with the packaged demo data loaded and one demo user per role."""
    from carelens.demo.store import load_demo_store
    from carelens.services.auth import create_demo_users
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    out.mkdir(parents=True, exist_ok=True)
    path = out / DEMO_DB_FILE
    path.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    load_demo_store(engine, progress=progress)
    if progress:
        progress("demo users")
    accounts = create_demo_users(engine)
    return engine, accounts


def serve(engine: sa.Engine, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the API and web pages over ``engine``'s store until interrupted."""
    import uvicorn

    from carelens.api.app import create_app

    uvicorn.run(create_app(engine), host=host, port=port, log_level="info", access_log=False)
