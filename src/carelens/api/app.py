"""The web application: the versioned HTTP API under ``/api/v1``, the web pages and their static files.

``create_app(engine)`` keeps the engine on ``app.state.engine``; every route reads it from there and
calls :mod:`carelens.services`, which enforce the role rules. Service errors become JSON errors with
their HTTP status (``NotFound`` 404, ``Forbidden`` 403, ``Unauthenticated`` 401, ``Invalid`` 400,
``TooManyAttempts`` 429 and ``Busy`` 503 with Retry-After), never cached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from carelens import __version__
from carelens.api.security import sign_in_guard
from carelens.services import ServiceError, Unauthenticated
from carelens.services.settings import get_settings

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).resolve().parents[1] / "web" / "static"


def create_app(engine: sa.Engine) -> FastAPI:
    """A FastAPI app serving the API, the web pages and ``/static`` over the store behind ``engine``."""
    from fastapi.staticfiles import StaticFiles

    from carelens.api.routers import area_routers
    from carelens.web.routes import router as web_router

    app = FastAPI(
        lifespan=_lifespan,
        title="carelens",
        version=__version__,
        description="Open oversight engine for health and care. Sign in with POST /api/v1/auth/token and "
        "send 'Authorization: Bearer <token>'; without a token you see published data only.",
        openapi_url="/openapi.json",
    )
    app.state.engine = engine
    sign_in_guard(app)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Cache-Control": "no-store"}
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    for router in area_routers():
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(web_router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """On start: run synchronous routes on ``request_threads`` threads (AnyIO's default is 40)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = get_settings().request_threads
    yield
