"""Serving the app with uvicorn."""

from __future__ import annotations

import sqlalchemy as sa

DEFAULT_HOST = "127.0.0.1"
"""Loopback only by default: exposing the service on a network is an explicit choice (``--host``)."""
DEFAULT_PORT = 8000


def serve(engine: sa.Engine, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, workers: int = 1) -> None:
    """Serve the API and web pages over ``engine``'s store until interrupted.

    With ``workers`` > 1, uvicorn runs that many processes; each builds the app from the store URL
    (passed in ``CARELENS_DB``) with :func:`app_from_environment`.
    """
    import os

    import uvicorn

    from carelens.api.app import create_app

    if workers <= 1:
        uvicorn.run(create_app(engine), host=host, port=port, log_level="info", access_log=False)
        return
    os.environ["CARELENS_DB"] = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    uvicorn.run(
        "carelens.api.serve:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


def app_from_environment():
    """The app over the store named by ``CARELENS_DB`` (what each uvicorn worker process runs)."""
    from carelens.api.app import create_app
    from carelens.store.engine import create_engine

    return create_app(create_engine(None))
